"""One campaign worker: a process that fuzzes through one VM slot until told to stop.

Run as `python -m rig.campaign.worker CAMPAIGN_DIR SLOT HOME`. A worker has
its own engine (corpus under workers/SLOT/engine), boots its VM from the
campaign's current image, alternates next_program / run / feedback, records
every ending (report, vanished VM, silence) in the crash store with the
programs before it, boots a fresh VM and goes on. It stops on SIGTERM or
SIGINT, when the stop file appears, or when its parent dies (PDEATHSIG), and
always destroys its VM on the way out.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rig.campaign.directory import (
    CampaignDir,
    append_jsonl,
    door_edges_file,
    read_edges,
    read_json,
    write_edges,
    write_json,
)
from rig.campaign.record import record_ending
from rig.config import Home, WorkerTiming
from rig.context import RunContext
from rig.crash.store import CrashStore
from rig.errors import ConfigError, GuestProtocolError, InfraError, RigError, disk_full
from rig.fleet.hosts import slot_uris
from rig.gen import rtnl
from rig.gen.build import DOORS, door_of
from rig.gen.engines import Engine, make_engine
from rig.gen.feedback import Feedback
from rig.gen.returned import OutputStructs
from rig.guest.protocol import ProgramResult, ProgStatus, netlink_errors
from rig.guest.surface import spec_config
from rig.image.build import Image, verify
from rig.prog import text
from rig.prog.program import NlSend, Program
from rig.spec.load import load as load_spec
from rig.spec.load import spec_hash
from rig.spec.types import ROUTE_FAMILY, Spec
from rig.vmhost import VmHost

log = logging.getLogger("rig.worker")

PR_SET_PDEATHSIG = 1
RECENT_BOOTS = 20  # boot timings kept in stats.json for the campaign's verdict


@dataclass
class WorkerStats:
    slot: int
    host: str = ""  # the libvirt URI this slot's VMs run on
    pid: int = field(default_factory=os.getpid)
    status: str = "starting"
    vm: str = ""
    execs: int = 0
    crashes: int = 0
    boots: int = 0
    timeouts: int = 0
    edges: int = 0
    engine: dict[str, int] = field(default_factory=dict)
    error: str = ""
    error_kind: str = ""  # "infra", "config" or "bug" when status is "failed"
    infra_errors: int = 0  # boots and connections that failed, and VMs lost, all told
    last_infra: str = ""
    boot_s: list[float] = field(default_factory=list)  # the newest boots, cold or restored
    slowest_boot: dict[str, Any] = field(default_factory=dict)  # its seconds and stages
    corpus_skipped: list[str] = field(default_factory=list)  # "path: reason"
    links: dict[str, int] = field(default_factory=dict)  # rtnetlink link requests acked, by op
    door_calls: dict[str, int] = field(default_factory=dict)  # calls run, by door
    updated: float = 0.0


def with_words(spec: Spec, words: list[str]) -> Spec:
    """The spec with the module's own string literals added to its words for free text."""
    merged = tuple(dict.fromkeys([*spec.words, *(w for w in words if isinstance(w, str))]))
    return dataclasses.replace(spec, words=merged)


def acked_links(program: Program, result: ProgramResult) -> Counter[str]:
    """rtnetlink link requests the kernel acked, by operation (create, change, delete ...)."""
    out: Counter[str] = Counter()
    for call, got in zip(program.calls, result.calls, strict=False):
        if isinstance(call, NlSend) and call.family == ROUTE_FAMILY:
            op = rtnl.operation(call.msg)
            if op is not None and 0 in netlink_errors(got.output):
                out[op] += 1
    return out


def edge_ids(fb: Feedback) -> set[int]:
    return {(a << 32) | b for a, b in fb.edges()}


def door_edges(program: Program, fb: Feedback) -> Iterator[tuple[str, set[int]]]:
    """Each call's door and the edges the call reached (edges within a call start from 0)."""
    for call, pcs in zip(program.calls, fb.call_pcs, strict=False):
        prev, got = 0, set()
        for pc in pcs:
            got.add((prev << 32) | pc)
            prev = pc
        yield door_of(call), got


class Worker:
    def __init__(
        self, camp: CampaignDir, slot: int, ctx: RunContext, timing: WorkerTiming | None = None
    ) -> None:
        self.camp = camp
        self.slot = slot
        self.ctx = ctx
        self.timing = timing or WorkerTiming()
        self.dir = camp.worker(slot)
        self.opts = camp.options()
        uris = slot_uris(self.opts.hosts, ctx.uri, self.opts.vms)
        if slot < len(uris):  # this slot's host: every libvirt call goes to its connection
            self.ctx = dataclasses.replace(ctx, uri=uris[slot])
        self.stop = threading.Event()
        self.stats = WorkerStats(slot, host=self.ctx.uri)
        self.edges: set[int] = read_edges(self.dir / "edges.bin")
        self.doors: dict[str, set[int]] = {
            d: read_edges(self.dir / door_edges_file(d)) for d in (*DOORS, "file")
        }
        self._continue_counts()
        self._flushed = 0.0
        self._edges_flushed = 0.0

    def _continue_counts(self) -> None:
        """A resumed slot goes on counting from where its last process stopped."""
        before = read_json(self.dir / "stats.json") or {}
        for name in ("execs", "crashes", "boots", "timeouts", "infra_errors"):
            value = before.get(name, 0)
            if isinstance(value, int) and value >= 0:
                setattr(self.stats, name, value)
        links = before.get("links")
        if isinstance(links, dict):
            self.stats.links = {
                str(k): v for k, v in links.items() if isinstance(v, int) and v >= 0
            }

    @property
    def home(self) -> Home:
        return self.ctx.home

    def stopping(self) -> bool:
        return self.stop.is_set() or self.camp.stopping()

    def flush(self, force: bool = False, engine: Engine | None = None) -> None:
        now = time.monotonic()
        if force or now - self._flushed >= self.timing.stats_every_s:
            self._flushed = now
            if engine is not None:
                self.stats.engine = engine.stats()
            self.stats.edges = len(self.edges)
            self.stats.updated = time.time()
            write_json(self.dir / "stats.json", asdict(self.stats))
        if force or now - self._edges_flushed >= self.timing.edges_every_s:
            self._edges_flushed = now
            write_edges(self.dir / "edges.bin", self.edges)
            for door, edges in self.doors.items():
                if edges:
                    write_edges(self.dir / door_edges_file(door), edges)

    def run(self, backend: Any = None) -> None:
        """Fuzz until told to stop; raises only for what retrying cannot fix.

        A boot that fails, a connection to libvirtd that is lost, an agent
        that never answers: each is an infrastructure failure, counted,
        logged and retried after a growing pause. Only `max_infra_in_a_row`
        of them with no program run in between end the worker.
        """
        spec = load_spec(Path(self.opts.spec))
        image = verify(self.home.images / self.camp.current_image())
        header = text.Header(str(image.manifest["module"]["source_sha256"]), spec_hash(spec))
        spec = with_words(spec, image.manifest["module"].get("words", []))
        engine = make_engine(
            self.opts.engine,
            spec,
            self.dir / "engine",
            seed=self.opts.seed + self.slot,
            doors=self.opts.doors,
            seeds=[Path(__file__).resolve().parents[2] / "corpora" / "seeds"],
            header=header,
            abis=self.opts.abis or (64,),
        )
        corpus = getattr(engine, "corpus", None)
        self.stats.corpus_skipped = list(getattr(corpus, "skipped", []))
        store = CrashStore.open(self.home.root)
        host: VmHost | None = None
        in_a_row, first_failure = 0, 0.0
        try:
            while not self.stopping():
                current = self.camp.current_image()
                if current != image.id:  # a benchmark switched it; verified once, not per VM
                    image = verify(self.home.images / current)
                try:
                    if host is None:
                        host = self.ctx.open(backend)
                    worked = self.fuzz_one_vm(host, store, engine, image, spec, header)
                except (InfraError, GuestProtocolError) as e:
                    in_a_row += 1
                    first_failure = first_failure if in_a_row > 1 else time.monotonic()
                    self.infra_failure(e, in_a_row, engine)
                    patience_left = first_failure + self.timing.infra_patience_s - time.monotonic()
                    if in_a_row >= self.timing.max_infra_in_a_row and patience_left <= 0:
                        raise InfraError(
                            f"{in_a_row} infrastructure failures in a row over "
                            f"{self.timing.infra_patience_s:.0f}s with no program run in "
                            f"between; the last: {e}"
                        ) from e
                    self.stop.wait(self.timing.backoff_s(in_a_row))
                    continue
                if worked:
                    in_a_row = 0
        finally:
            self.stats.status = "stopped"
            self.flush(force=True, engine=engine)
            engine.close()
            store.close()
            if host is not None:
                host.close()

    def infra_failure(self, e: Exception, in_a_row: int, engine: Engine) -> None:
        """Count, log and record one infrastructure failure (never a crash of the driver)."""
        self.stats.infra_errors += 1
        self.stats.last_infra = str(e)
        self.stats.status = "infra-retry"
        self.flush(force=True, engine=engine)
        tail = getattr(e, "console_tail", "")
        log.warning("infrastructure failure %d in a row: %s\n%s", in_a_row, e, tail)
        append_jsonl(
            self.camp.infra_log,
            {"slot": self.slot, "kind": type(e).__name__, "in_a_row": in_a_row, "detail": str(e)},
        )

    def _note_boot(self, seconds: float, stages: dict[str, Any]) -> None:
        self.stats.boots += 1
        self.stats.boot_s = [*self.stats.boot_s, round(seconds, 3)][-RECENT_BOOTS:]
        if seconds > float(self.stats.slowest_boot.get("seconds", 0.0)):
            self.stats.slowest_boot = {"seconds": round(seconds, 3), "stages": stages}

    def fuzz_one_vm(
        self,
        host: VmHost,
        store: CrashStore,
        engine: Engine,
        image: Image,
        spec: Spec,
        header: text.Header,
    ) -> bool:
        """One VM from boot to its ending; True if any program ran on it."""
        self.stats.status = "booting"
        self.flush(force=True, engine=engine)
        config = spec_config(spec, self.ctx.limits.call_s)
        if self.opts.coverage_file:
            config = dataclasses.replace(config, coverage_path=self.opts.coverage_file)
        output_structs = OutputStructs(spec)
        worked = False
        with host.session(
            image,
            config,
            campaign=self.camp.name,
            slot=self.slot,
            header=header,
            boots_dir=self.camp.boots,
        ) as session:
            inst = session.instance
            timing = inst.timing
            self._note_boot(timing.total_s, {k: v for k, v in timing.stages().items()})
            self.stats.vm = inst.name
            self.stats.status = "fuzzing"
            while session.alive and not self.stopping():
                program = engine.next_program()
                result = session.run(program)
                worked = True
                if result is None:
                    engine.feedback(program, Feedback.crash())
                    break
                fb = Feedback.from_program_result(result)
                outputs = [(c.ret, c.output) for c in result.calls]
                fb = dataclasses.replace(fb, returned=output_structs.values(program, outputs))
                engine.feedback(program, fb)
                self.edges |= edge_ids(fb)
                for door, edges in door_edges(program, fb):
                    self.doors.setdefault(door, set()).update(edges)
                    self.stats.door_calls[door] = self.stats.door_calls.get(door, 0) + 1
                self.stats.execs += 1
                self.stats.timeouts += int(result.status == ProgStatus.TIMED_OUT)
                for op, n in acked_links(program, result).items():
                    self.stats.links[op] = self.stats.links.get(op, 0) + n
                self.flush(engine=engine)
            ending = session.ending
            if ending is not None and ending.infra:
                raise InfraError(f"{inst.name}: {ending.ending.value}: {ending.detail}")
            if ending is not None:
                recorded = record_ending(store, inst, ending, self.camp.name, config)
                if recorded is not None:
                    self.stats.crashes += 1
                    log.info(
                        "%s: %s -> bucket %s (%d)",
                        inst.name,
                        ending.ending.value,
                        recorded.bucket_id,
                        recorded.count,
                    )
        self.flush(force=True, engine=engine)
        return worked


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        log.warning("cannot ask to be stopped when the parent dies")


def main(argv: list[str]) -> int:
    camp, slot = CampaignDir(Path(argv[1])), int(argv[2])
    worker_dir = camp.worker(slot)
    worker_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=worker_dir / "worker.log",
        level=logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
    )
    _die_with_parent()
    worker = Worker(camp, slot, camp.context(Home(Path(argv[3]))))

    def on_signal(signum: int, _frame: Any) -> None:
        worker.stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    if os.getppid() == 1:  # the parent died before we could ask
        return 1
    try:
        try:
            worker.run()
        except OSError as e:
            full = disk_full(e)
            if full is None:
                raise
            raise full from e
    except RigError as e:
        worker.stats.error = str(e)
        worker.stats.error_kind = (
            "infra"
            if isinstance(e, InfraError)
            else "config"
            if isinstance(e, ConfigError)
            else "bug"
        )
        worker.stats.status = "failed"
        log.error("worker failed: %s", e)
        with contextlib.suppress(OSError):  # the disk may be what failed
            worker.flush(force=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
