"""The campaign's parent process: prepare, start one worker per VM, show progress, stop cleanly."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rig
from rig.bugtable import bug_params
from rig.campaign.directory import (
    FORMAT,
    CampaignDir,
    append_jsonl,
    door_edges_file,
    read_edges,
    read_json,
    write_json,
)
from rig.campaign.options import CampaignOptions, abi_policy, check_resume
from rig.config import CampaignTiming, Home
from rig.context import RunContext
from rig.crash.store import CampaignBucket, CrashStore
from rig.errors import ConfigError, InfraError, RigError, disk_full
from rig.fleet.backend import Backend
from rig.fleet.hosts import Host, slot_uris
from rig.image.build import REPO, Image, verify
from rig.image.module import find_built, source_hash
from rig.spec.import_module import compat_ioctls
from rig.spec.load import load as load_spec
from rig.spec.load import spec_hash

log = logging.getLogger(__name__)

RATE_WINDOW = 10  # ticks the executions/s figure is averaged over


@dataclass
class Progress:
    """What the terminal shows and summary.json keeps."""

    elapsed_s: float = 0.0
    remaining_s: float = 0.0
    execs: int = 0
    execs_per_s: float = 0.0
    edges: int = 0
    corpus: int = 0
    crashes: int = 0
    boots: int = 0
    infra_errors: int = 0
    workers: list[dict[str, Any]] = field(default_factory=list)
    buckets: list[CampaignBucket] = field(default_factory=list)
    ended: str = ""  # finished, stopped, infra or error; empty while running
    error: str = ""  # why, when it ended infra or error
    warnings: list[str] = field(default_factory=list)  # said once each, kept in summary.json
    first_found_s: dict[str, float] = field(default_factory=dict)  # bucket id -> campaign time
    links: dict[str, int] = field(default_factory=dict)  # rtnetlink link requests acked, by op
    doors: dict[str, dict[str, int]] = field(default_factory=dict)  # door -> calls, edges

    @property
    def boot_s(self) -> list[float]:
        return [float(b) for w in self.workers for b in w.get("boot_s", [])]

    def slowest_boot(self) -> dict[str, Any]:
        boots = [w["slowest_boot"] for w in self.workers if w.get("slowest_boot")]
        return max(boots, key=lambda b: float(b["seconds"]), default={})


Hook = Callable[["Campaign", list[CampaignBucket]], None]


@dataclass
class Campaign:
    ctx: RunContext
    dir: CampaignDir
    opts: CampaignOptions
    image: Image
    timing: CampaignTiming = field(default_factory=CampaignTiming)
    started: float = field(default_factory=time.monotonic)
    elapsed_before: float = 0.0
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    stop_requested: bool = False
    wall_started: float = field(default_factory=time.time)

    @property
    def home(self) -> Home:
        return self.ctx.home

    def set_image(self, image: Image) -> None:
        """Workers boot `image` from their next VM on (a benchmark 'fixing' a found bug)."""
        self.image = image
        self.dir.set_image(image.id)

    def build_image(self, params: str) -> Image:
        return self.ctx.build_image(Path(self.opts.driver), self.opts.module, params)


def prepare(
    ctx: RunContext,
    camp_dir: Path,
    opts: CampaignOptions | None,
    asked: dict[str, Any],
    override: RunContext | None = None,
    image: Image | None = None,
) -> Campaign:
    """Create a new campaign directory, or check and reopen one to resume.

    A new campaign saves `ctx`; a resumed one runs under the context it
    saved, or under `override` when the caller was told where to run
    explicitly (another URI, snapshots off).
    """
    home = ctx.home
    cd = CampaignDir(camp_dir)
    if opts is None:  # resume
        saved = cd.options()
        check_resume(saved, asked, camp_dir)
        state = cd.state()
        if state.get("format") != FORMAT:
            raise ConfigError(f"{camp_dir}: campaign format {state.get('format')} is not {FORMAT}")
        now = source_hash(Path(saved.driver))
        if now != state["driver_hash"]:
            raise ConfigError(
                f"refusing to resume {camp_dir}: driver {saved.driver} changed since the campaign "
                f"started (sources {state['driver_hash'][:16]} then, {now[:16]} now)"
            )
        spec_now = spec_hash(load_spec(Path(saved.spec)))
        if spec_now != state["spec_hash"]:
            raise ConfigError(
                f"refusing to resume {camp_dir}: spec {saved.spec} changed since it started"
            )
        ctx = override or (cd.context(home) if "context" in state else ctx)
        opts = saved
        if asked.get("duration_s"):
            opts = CampaignOptions.from_json({**saved.to_json(), "duration_s": asked["duration_s"]})
            elapsed = 0.0
        else:
            elapsed = float(state.get("elapsed_s", 0.0))
        if asked.get("vms"):
            if opts.hosts:
                raise ConfigError(
                    f"{camp_dir} spreads its VMs over hosts ({', '.join(h.uri for h in opts.hosts)}): "
                    "a resume keeps them; drop --vms"
                )
            opts = CampaignOptions.from_json({**opts.to_json(), "vms": asked["vms"]})
        cd.stop_file.unlink(missing_ok=True)
    else:
        if cd.exists():
            raise ConfigError(f"{camp_dir} already holds a campaign: use --resume {camp_dir}")
        spec = load_spec(Path(opts.spec))
        elapsed = 0.0
        state = {
            "format": FORMAT,
            "rig_version": rig.__version__,
            "name": cd.name,
            "options": opts.to_json(),
            "driver_hash": source_hash(Path(opts.driver)),
            "spec_hash": spec_hash(spec),
            "created": time.time(),
            "elapsed_s": 0.0,
            "status": "new",
        }
        cd.write_state(state)
    if image is None:
        image = ctx.build_image(Path(opts.driver), opts.module, opts.params)
    if (cd.path / "current_image").exists():
        image = verify(home.images / cd.current_image())  # a benchmark may have switched it
    else:
        cd.set_image(image.id)
    opts = fit_abis(opts, image, lambda: compat_handlers(home, image))
    camp = Campaign(ctx, cd, opts, image, elapsed_before=elapsed)
    cd.update_state(
        status="running", options=opts.to_json(), elapsed_s=elapsed, context=ctx.to_json()
    )
    return camp


def new_campaign(
    ctx: RunContext,
    camp_dir: Path,
    *,
    driver: Path | None,
    module: str | None,
    bugs: str,
    vms: int,
    duration_s: float,
    engine: str,
    doors: tuple[str, ...],
    seed: int,
    spec: Path | None,
    params: str = "",
    image_id: str | None = None,
    abis: tuple[int, ...] | None = None,
    hosts: tuple[Host, ...] = (),
) -> Campaign:
    """A new campaign on `driver` (default: the bundled one) with its spec (default: corpora/specs/MODULE.yaml).

    `image_id` names an image built before (`rig image build`): its driver,
    module and parameters are the campaign's, and must not be contradicted.
    """
    if image_id is not None:
        image = existing_image(ctx.home, image_id, driver, module, bugs, params)
        drv = Path(image.manifest["module"]["driver_dir"])
        module = image.module
        full = " ".join(image.manifest["module"]["params"])
    else:
        drv = (driver or REPO / "driver").resolve()
        full = bug_params(drv, bugs, params)
        image = ctx.build_image(drv, module, full)
    spec_path = spec or REPO / "corpora" / "specs" / f"{image.module}.yaml"
    if not spec_path.exists():
        raise ConfigError(f"no spec {spec_path}: write one with `rig spec import`, or pass --spec")
    opts = CampaignOptions(
        driver=str(drv),
        module=module,
        bugs=bugs,
        vms=sum(h.vms for h in hosts) if hosts else vms,
        duration_s=duration_s,
        engine=engine,
        doors=doors,
        seed=seed,
        spec=str(spec_path.resolve()),
        params=full,
        abis=abis,
        hosts=hosts,
    )
    return prepare(ctx, camp_dir, opts, {}, image=image)


def fit_abis(
    opts: CampaignOptions, image: Image, compat: Callable[[], list[str] | None]
) -> CampaignOptions:
    """The options with the ABIs their image can run: chosen by `abi_policy` when not given.

    An image without the 32-bit agent (built before it existed) runs 64-bit
    programs only: the policy says so, and an explicit --abi 32 is refused
    before any VM boots.
    """
    if opts.abis is None:
        abis, reason = abi_policy(image.module, compat())
        if 32 in abis and not image.agent32:
            abis = (64,)
            reason = f"64-bit programs only: image {image.id} has no 32-bit guest agent"
        return dataclasses.replace(opts, abis=abis, abi_reason=reason)
    if 32 in opts.abis and not image.agent32:
        raise ConfigError(
            f"image {image.id} has no 32-bit guest agent (/bin/rig-agent32), so it cannot run"
            " 32-bit programs: rebuild it with `rig image build` (gcc-multilib, see `rig doctor`)"
            " or fuzz with --abi 64"
        )
    return opts


def compat_handlers(home: Home, image: Image) -> list[str] | None:
    """The image module's compat_ioctl handlers (None: unknown), as `rig image build` read them.

    Images built before the manifest said are read from the module it built.
    """
    m = image.manifest["module"]
    if "compat_ioctl" in m:
        return None if m["compat_ioctl"] is None else list(m["compat_ioctl"])
    try:
        return compat_ioctls(find_built(home.root / "cache" / "build", image.module))
    except ConfigError as e:
        log.info("compat_ioctl handlers of %s unknown: %s", image.module, e)
        return None


def existing_image(
    home: Home, image_id: str, driver: Path | None, module: str | None, bugs: str, params: str
) -> Image:
    """A built image by id; ConfigError if it is missing or other options contradict it."""
    if not image_id or "/" in image_id or image_id.startswith("."):
        raise ConfigError(f"--image {image_id!r} is not an image id (`rig image build` prints it)")
    if bugs or params:
        raise ConfigError(
            f"--image {image_id} fixes the module's parameters; drop --driver-bugs/--params, "
            "or build another image with them"
        )
    image = verify(home.images / image_id)
    m = image.manifest["module"]
    if driver is not None and driver.resolve() != Path(m["driver_dir"]):
        raise ConfigError(f"image {image_id} was built from {m['driver_dir']}, not {driver}")
    if module is not None and module != image.module:
        raise ConfigError(f"image {image_id} holds module {image.module}, not {module}")
    return image


def start_worker(camp: Campaign, slot: int) -> subprocess.Popen[bytes]:
    worker_dir = camp.dir.worker(slot)
    worker_dir.mkdir(parents=True, exist_ok=True)
    stderr = (worker_dir / "stderr.log").open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rig.campaign.worker",
            str(camp.dir.path),
            str(slot),
            str(camp.home.root),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def collect(camp: Campaign, store: CrashStore) -> Progress:
    p = Progress()
    p.elapsed_s = camp.elapsed_before + (time.monotonic() - camp.started)
    p.remaining_s = max(0.0, camp.opts.duration_s - p.elapsed_s)
    edges: set[int] = set()
    by_door: dict[str, set[int]] = {}
    for slot in range(camp.opts.vms):
        stats = read_json(camp.dir.worker(slot) / "stats.json") or {
            "slot": slot,
            "status": "starting",
        }
        p.workers.append(stats)
        p.execs += int(stats.get("execs", 0))
        p.crashes += int(stats.get("crashes", 0))
        p.boots += int(stats.get("boots", 0))
        p.infra_errors += int(stats.get("infra_errors", 0))
        p.corpus += int(stats.get("engine", {}).get("corpus", 0))
        for op, n in (stats.get("links") or {}).items():
            p.links[op] = p.links.get(op, 0) + int(n)
        edges |= read_edges(camp.dir.worker(slot) / "edges.bin")
        for door, n in (stats.get("door_calls") or {}).items():
            p.doors.setdefault(door, {"calls": 0, "edges": 0})["calls"] += int(n)
            by_door.setdefault(door, set()).update(
                read_edges(camp.dir.worker(slot) / door_edges_file(door))
            )
    p.edges = len(edges)
    for door, got in by_door.items():
        p.doors[door]["edges"] = len(got)
    p.buckets = store.campaign_buckets(camp.dir.name)
    return p


def run(
    camp: Campaign,
    show: Callable[[Progress], None],
    on_buckets: Hook | None = None,
    backend: Backend | None = None,
) -> Progress:
    """Run the workers until the duration is used up, a signal, or all workers fail.

    Always writes summary.json, whose `ended` says how the campaign ended:
    `finished`, `stopped` (a signal or a caller), `infra` (the host failed
    it: see `error`) or `error`. `verdict()` turns that into the exit.
    `backend` replaces libvirt for the orphan sweep (tests' fakes).
    """
    uris = slot_uris(camp.opts.hosts, camp.ctx.uri, camp.opts.vms)
    for uri in dict.fromkeys(uris):  # reaps dead rigs' domains; fails at once without libvirtd
        with dataclasses.replace(camp.ctx, uri=uri).open(backend):
            pass
    stop = {"asked": False}

    def on_signal(signum: int, _frame: Any) -> None:
        stop["asked"] = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    store = CrashStore.open(camp.home.root)
    t = camp.timing
    series_at = 0.0
    rate_window: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW)
    seen: set[str] = set()
    progress = Progress()
    ended, error = "stopped", ""
    warnings: list[str] = []
    earlier = previous_first_found(camp.dir.path / "summary.json")
    try:
        camp.procs = {slot: start_worker(camp, slot) for slot in range(camp.opts.vms)}
        while not stop["asked"] and not camp.stop_requested:
            time.sleep(t.tick_s)
            progress = collect(camp, store)
            progress.warnings = warnings
            if not any(w.startswith(BLIND) for w in warnings):
                blind = blind_coverage(progress, t, camp.image.manifest)
                if blind:
                    log.warning("%s", blind)
                    warnings.append(blind)
            for lost in lost_hosts(progress, warnings) if camp.opts.hosts else ():
                log.warning("%s", lost)
                warnings.append(lost)
            now = time.monotonic()
            rate_window.append((now, progress.execs))
            t0, e0 = rate_window[0]
            progress.execs_per_s = (progress.execs - e0) / max(now - t0, 1e-6) if now > t0 else 0.0
            show(progress)
            fresh = [b for b in progress.buckets if b.id not in seen]
            if fresh and on_buckets is not None:
                on_buckets(camp, fresh)
            seen.update(b.id for b in fresh)
            short = disk_short(camp)  # before this tick's own writes
            if short:
                ended, error = "infra", short
                break
            try:
                if now - series_at >= t.series_every_s:
                    series_at = now
                    append_jsonl(camp.dir.path / "timeseries.jsonl", _series(progress))
                    camp.dir.update_state(elapsed_s=progress.elapsed_s)
                    in_use = {str(w.get("vm", "")) for w in progress.workers}
                    prune_boots(camp.dir.boots, t.keep_boots, in_use)
            except OSError as e:
                if disk_full(e) is None:
                    raise
                ended, error = "infra", disk_short(camp) or f"no space left under {camp.dir.path}"
                break
            if progress.remaining_s <= 0:
                ended = "finished"
                break
            if camp.procs and all(p.poll() is not None for p in camp.procs.values()):
                ended, error = workers_ended(progress)
                break
    except RigError as e:
        ended, error = ("infra" if isinstance(e, InfraError) else "error"), str(e)
        raise
    finally:
        stop_workers(camp)
        progress = collect(camp, store)
        progress.warnings = warnings
        progress.first_found_s = first_found(
            progress.buckets, earlier, camp.wall_started, camp.elapsed_before
        )
        store.close()
        prune_boots(camp.dir.boots, t.keep_boots, set())
        if ended == "finished":
            ended, error = judge_work(progress, camp.timing)
        progress.ended, progress.error = ended, error
        try:
            camp.dir.update_state(elapsed_s=progress.elapsed_s, status=ended, error=error)
            write_summary(camp, progress)
        except OSError as e:
            if disk_full(e) is None:
                raise
            log.warning("could not write the campaign's state and summary: %s", e)
        for s, h in old.items():
            signal.signal(s, h)
    return progress


BLIND = "0 coverage edges"


def lost_hosts(p: Progress, said: list[str]) -> list[str]:
    """Sentences for VM slots whose host fails them while others run on: once when the
    retries start, once when the worker gives the host up."""
    running = [w for w in p.workers if w.get("status") != "failed"]
    out: list[str] = []
    for w in p.workers:
        slot, host = w.get("slot"), w.get("host") or "(default)"
        if w.get("status") == "infra-retry" and len(running) > 1:
            head = f"vm {slot} cannot reach its host"
            text = f"{head} {host}: {w.get('last_infra')}; retrying, the other VMs go on"
        elif w.get("status") == "failed" and w.get("error_kind") == "infra" and running:
            head = f"vm {slot} lost its host"
            text = (
                f"{head} {host}: {w.get('error')}; the campaign goes on with {len(running)} VM(s)"
            )
        else:
            continue
        if not any(s.startswith(head) for s in [*said, *out]):
            out.append(text)
    return out


def blind_coverage(p: Progress, timing: CampaignTiming, manifest: dict[str, Any]) -> str:
    """A sentence if programs have run for `blind_after_s` and no PC was ever recorded."""
    if p.edges or not p.execs or p.elapsed_s < timing.blind_after_s:
        return ""
    module = manifest.get("module", {})
    name = module.get("name", "the module")
    if not module.get("coverage"):
        why = (
            f"image was built without coverage (--no-coverage); rebuild it without that "
            f"flag so {name} calls rigcov's hooks"
        )
    else:
        why = (
            f"rigcov recorded no PC of {name}: its Kbuild may override KCFLAGS (check that "
            f"`modinfo -F depends` of its .ko names rigcov), or no program reached its code "
            f"(check the spec's paths and families)"
        )
    return f"{BLIND} after {p.execs} executions in {p.elapsed_s:.0f}s: the search is blind because the {why}"


def first_found(
    buckets: list[CampaignBucket], known: dict[str, float], wall_start: float, elapsed_at: float
) -> dict[str, float]:
    """Seconds of campaign time at which each bucket was first hit.

    `known` carries the figures of earlier runs of a resumed campaign; a bucket
    new in this run is placed by its first crash's wall time, counted from
    `wall_start`, when this run began with `elapsed_at` seconds already behind it.
    """
    out = dict(known)
    for b in buckets:
        if b.id not in out:
            out[b.id] = round(max(0.0, elapsed_at + b.first_seen - wall_start), 1)
    return out


def prune_boots(boots: Path, keep: int, in_use: set[str]) -> list[Path]:
    """Delete all but the newest `keep` boot directories (never one in use); what went."""
    try:
        dirs = [d for d in boots.iterdir() if d.is_dir() and d.name not in in_use]
    except OSError:
        return []
    dirs.sort(key=lambda d: d.stat().st_mtime, reverse=True)
    gone = dirs[keep:]
    for d in gone:
        shutil.rmtree(d, ignore_errors=True)
    return gone


def disk_short(camp: Campaign) -> str:
    """A sentence if the home's filesystem is nearly full, else ''."""
    try:
        free = shutil.disk_usage(camp.home.root).free
    except OSError:
        return ""
    if free >= camp.timing.min_free_bytes:
        return ""
    return (
        f"only {free // (1024 * 1024)} MiB left on the filesystem of {camp.home.root} "
        f"(the campaign stops below {camp.timing.min_free_bytes // (1024 * 1024)} MiB); "
        f"free space, then `rig fuzz --resume {camp.dir.path}`"
    )


def workers_ended(p: Progress) -> tuple[str, str]:
    """Every worker has exited before the end: why, in one sentence."""
    failed = [w for w in p.workers if w.get("status") == "failed"]
    if not failed:
        return "error", "every worker exited without saying why; see workers/*/stderr.log"
    kinds = {w.get("error_kind") for w in failed}
    first = failed[0]
    where = "every worker stopped" if len(failed) == len(p.workers) else "workers stopped"
    kind = "infra" if "infra" in kinds else "error"
    return kind, f"{where}: vm {first.get('slot')}: {first.get('error')}"


def judge_work(p: Progress, timing: CampaignTiming) -> tuple[str, str]:
    """A campaign that used its whole duration: did it do any work, on a healthy host?"""
    if p.execs == 0:
        if p.boots == 0:
            last = next((w.get("last_infra") for w in p.workers if w.get("last_infra")), "")
            why = f"; the last failure: {last}" if last else ""
            return "infra", f"no VM ever became ready in {p.elapsed_s:.0f}s{why}; run `rig doctor`"
        return "infra", f"{p.boots} VM boot(s) but 0 programs ran in {p.elapsed_s:.0f}s"
    slow = slow_boots(p, timing)
    if slow:
        return "infra", slow
    return "finished", ""


def slow_boots(p: Progress, timing: CampaignTiming) -> str:
    """A sentence if boots took more than `slow_boot_factor` x the host's healthy boot."""
    boots = sorted(p.boot_s)
    if not boots:
        return ""
    median = boots[len(boots) // 2]
    if median <= timing.slow_boot_factor * timing.healthy_boot_s:
        return ""
    worst = p.slowest_boot()
    stages = worst.get("stages", {})
    measured = {k: v for k, v in stages.items() if v is not None}
    stage = max(measured.items(), key=lambda kv: float(kv[1]), default=("?", 0.0))
    return (
        f"VM boots took a median of {median:.1f}s, more than {timing.slow_boot_factor:g}x a "
        f"healthy {timing.healthy_boot_s:g}s boot; slowest stage: {stage[0]} "
        f"({float(stage[1]):.1f}s of a {float(worst.get('seconds', 0)):.1f}s boot). "
        "Check `rig doctor`"
    )


def verdict(p: Progress, min_buckets: int = 0) -> None:
    """Raise the one-line error a campaign that did no work, or too little, must end with."""
    if p.ended == "infra":
        raise InfraError(f"campaign failed: {p.error}")
    if p.ended == "error":
        raise RigError(f"campaign failed: {p.error}")
    if p.ended == "finished" and len(p.buckets) < min_buckets:
        raise RigError(
            f"campaign found {len(p.buckets)} bucket(s) in {p.elapsed_s:.0f}s and "
            f"{p.execs} executions, fewer than the {min_buckets} expected"
        )


def stop_workers(camp: Campaign) -> None:
    camp.dir.stop_file.touch()
    for proc in camp.procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + camp.timing.stop_grace_s
    for proc in camp.procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("worker %d did not stop in time; killing it", proc.pid)
            proc.kill()
            proc.wait()


def previous_first_found(summary: Path) -> dict[str, float]:
    """first_found_s of the buckets an earlier run of this campaign wrote (none if unreadable)."""
    data = read_json(summary)
    if not isinstance(data, dict):
        return {}
    buckets = data.get("buckets")
    found: dict[str, float] = {}
    for b in buckets if isinstance(buckets, list) else []:
        if isinstance(b, dict) and isinstance(b.get("first_found_s"), int | float):
            found[str(b.get("id"))] = float(b["first_found_s"])
    return found


def _series(p: Progress) -> dict[str, Any]:
    return {
        "elapsed_s": round(p.elapsed_s, 1),
        "execs": p.execs,
        "execs_per_s": round(p.execs_per_s, 1),
        "edges": p.edges,
        "corpus": p.corpus,
        "buckets": len(p.buckets),
        "crashes": p.crashes,
        "boots": p.boots,
        "infra_errors": p.infra_errors,
    }


def write_summary(camp: Campaign, p: Progress) -> None:
    execs_per_s = p.execs / p.elapsed_s if p.elapsed_s else 0.0
    write_json(
        camp.dir.path / "summary.json",
        {
            "campaign": camp.dir.name,
            "options": camp.opts.to_json(),
            "image": camp.image.id,
            "elapsed_s": round(p.elapsed_s, 1),
            "execs": p.execs,
            "execs_per_s": round(execs_per_s, 1),
            "edges": p.edges,
            "corpus": p.corpus,
            "crashes": p.crashes,
            "vm_boots": p.boots,
            "infra_errors": p.infra_errors,
            "links": dict(sorted(p.links.items())),
            "doors": dict(sorted(p.doors.items())),
            "ended": p.ended,
            "error": p.error,
            "warnings": p.warnings,
            "buckets": [
                {
                    "id": b.id,
                    "title": b.title,
                    "count": b.count,
                    "first_found_s": p.first_found_s.get(b.id),
                    "first_seen": b.first_seen,
                }
                for b in p.buckets
            ],
            "workers": p.workers,
            "pid": os.getpid(),
        },
    )
