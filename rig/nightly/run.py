"""One nightly run: build the configured revision, fuzz, reproduce, judge, write the outputs.

Steps, each visible in the run's output directory (OUTPUT/NAME/RUN/):
1. the driver at `driver.revision`, exported under the home (rig.image.revision);
2. its image, and a campaign of `campaign.duration` on it, recorded as a run;
3. new buckets reproduced oldest first (`repro.max_new`, `repro.budget` each);
   the reproducers of still-open buckets re-run `repro.runs` times on this image;
4. verdicts against the configuration's earlier runs (rig.nightly.verdicts),
   stored with the run;
5. summary.json (SUMMARY_KEYS, format NIGHTLY_FORMAT), junit.xml and, when
   the report renderer is there, report.html.
A run that executed nothing is an error whatever it found: no verdict can
come from it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.campaign.runner import Progress, new_campaign, run
from rig.context import RunContext
from rig.crash.bucket import bucket_id
from rig.crash.store import CrashStore, Run, RunVerdict
from rig.errors import RigError
from rig.guest.surface import spec_config
from rig.image.build import Image
from rig.image.module import source_hash
from rig.image.revision import export
from rig.nightly import junit
from rig.nightly.config import NightlyConfig
from rig.nightly.retention import prune
from rig.nightly.verdicts import Plan, decide, last_verdicts, plan
from rig.prog import text
from rig.repro.bisect import bisect
from rig.repro.replay import VmReplayer
from rig.repro.reproduce import reproduce
from rig.smoke import campaign_name
from rig.spec.load import load as load_spec
from rig.util import atomic_write
from rig.vmhost import VmHost

log = logging.getLogger(__name__)

NIGHTLY_FORMAT = 1
# summary.json of a run, every key always present (tests/unit/nightly checks this list).
SUMMARY_KEYS = (
    "format",  # NIGHTLY_FORMAT
    "config",  # the configuration's name
    "config_hash",  # sha256 of the parsed configuration
    "run",  # the run's id in the store
    "driver_rev",  # the commit built ("worktree:HASH" for a directory as it is)
    "image",  # image id
    "kernel",  # guest kernel version
    "campaign",  # the campaign's directory
    "started",  # unix time
    "ended",  # unix time
    "status",  # the campaign's ending: finished, stopped, infra or error
    "execs",  # programs run
    "edges",  # coverage edges
    "doors",  # door -> {calls, edges}
    "verdicts",  # [{bucket, title, verdict, seen, repro: "k/n"}]
    "counts",  # verdict -> buckets
    "failed_on",  # verdicts of this run in output.fail_on
    "bisected",  # new bucket -> first bad commit (null: not found; see its bisect.json)
    "exit",  # the exit status rig nightly gave
)


@dataclass
class NightlyResult:
    run: Run
    verdicts: list[RunVerdict]
    titles: dict[str, str]
    progress: Progress
    out_dir: Path
    failed_on: list[str] = field(default_factory=list)
    bisected: dict[str, str | None] = field(default_factory=dict)
    exit: int = 0
    report: Path | None = None


SHA = re.compile(r"[0-9a-f]{40}")


def bisect_targets(
    verdicts: list[RunVerdict], has_repro: dict[str, bool], good: str | None, bad: str
) -> list[str]:
    """New buckets to bisect: each with a reproducer, when the last run's commit was good.

    Only commits can be bisected, and only when the previous run built another
    one: its buckets were judged, so a bucket new tonight was not in it.
    """
    if good is None or not SHA.fullmatch(good) or not SHA.fullmatch(bad) or good == bad:
        return []
    return [v.bucket_id for v in verdicts if v.verdict == "new" and has_repro.get(v.bucket_id)]


def driver_at(ctx: RunContext, cfg: NightlyConfig) -> tuple[Path, str]:
    """The driver directory to build and the revision it is."""
    if not cfg.driver.revision:
        return cfg.driver.dir, f"worktree:{source_hash(cfg.driver.dir)[:16]}"
    return export(cfg.driver.dir, cfg.driver.revision, ctx.home.root / "cache")


def run_nightly(
    ctx: RunContext,
    cfg: NightlyConfig,
    say: Callable[[str], None] = log.info,
    progress: Callable[[Progress], None] = lambda _p: None,
) -> NightlyResult:
    home = ctx.home
    driver, rev = driver_at(ctx, cfg)
    say(f"{cfg.name}: driver {cfg.driver.dir} at {rev[:16]}")
    image = ctx.build_image(
        driver,
        cfg.driver.module or None,
        cfg.driver.params,
        kernel_version=cfg.campaign.kernel or None,
    )
    c = cfg.campaign
    camp = new_campaign(
        ctx,
        home.campaign(campaign_name(f"nightly-{cfg.name}")),
        driver=None,
        module=None,
        bugs="",
        vms=c.vms,
        duration_s=c.duration_s,
        engine=c.engine,
        doors=c.doors,
        seed=c.seed,
        spec=c.spec,
        image_id=image.id,
        abis=c.abis,
        hosts=c.hosts,
    )
    kernel = str(image.manifest["kernel"]["version"])
    with CrashStore.open(home.root) as store:
        this = store.start_run(cfg.name, cfg.hash, rev, image.id, kernel, camp.dir.name)
    say(f"run {this.id}: campaign {camp.dir.path}, image {image.id}, {c.duration_s:.0f}s")
    p = run(camp, progress)
    with CrashStore.open(home.root) as store:
        seen = store.bucket_counts(camp.dir.name)
        earlier = [
            store.run_verdicts(r.id)
            for r in store.runs(cfg.name)
            if r.id != this.id and r.ended is not None
        ]
        titles = {b.id: b.title for b in store.buckets()}
        finished = [r for r in store.runs(cfg.name) if r.id != this.id and r.ended is not None]
    before = last_verdicts(earlier)
    first = {b.id: b.first_seen for b in p.buckets}
    has_repro = {b: (home.root / "crashes" / b / "repro.prog").is_file() for b in {*seen, *before}}
    pl = plan(seen, before, has_repro, first, cfg.repro.max_new)
    repro = judge(ctx, cfg, camp.opts.spec, image, pl, titles, say) if p.execs else {}
    verdicts = [
        RunVerdict(this.id, v.bucket_id, v.verdict, v.seen, v.repro_ok, v.repro_tries)
        for v in decide(pl, repro)
    ]
    status = p.ended if p.execs else "error"
    with CrashStore.open(home.root) as store:
        store.finish_run(this.id, status, p.execs, p.edges, verdicts)
        done = store.run(this.id)
    assert done is not None
    out = cfg.output_dir / cfg.name / str(this.id)
    result = NightlyResult(done, verdicts, titles, p, out)
    made = {b: (home.root / "crashes" / b / "repro.prog").is_file() for b in seen}
    previous = finished[-1].driver_rev if finished else None
    for b in bisect_targets(verdicts, made, previous, rev):
        result.bisected[b] = bisect_new(ctx, cfg, b, str(previous), rev, say)
    result.failed_on = sorted({v.verdict for v in verdicts if v.verdict in cfg.fail_on})
    result.exit = 0 if p.execs and not result.failed_on and p.ended == "finished" else 1
    write_outputs(ctx, cfg, result, c.doors)
    pruned = prune(home, cfg)
    if pruned.runs:
        say(f"retention: removed the files of runs {', '.join(map(str, pruned.runs))}")
    return result


def bisect_new(
    ctx: RunContext,
    cfg: NightlyConfig,
    bucket: str,
    good: str,
    bad: str,
    say: Callable[[str], None],
) -> str | None:
    """The first bad commit of a new bucket between last night's commit and tonight's."""
    say(f"bisecting new bucket {bucket[:12]} between {good[:12]} (last run) and {bad[:12]}")
    try:
        res = bisect(ctx, bucket, cfg.driver.dir, good, bad, runs=cfg.repro.runs)
    except RigError as e:
        say(f"  bisection of {bucket[:12]} stopped: {e}")
        return None
    first = res.search.first_bad
    say(f"  first bad commit: {first.sha[:12] if first else 'none'} ({res.search.status})")
    return first.sha if first else None


def judge(
    ctx: RunContext,
    cfg: NightlyConfig,
    spec_path: str,
    image: Image,
    pl: Plan,
    titles: dict[str, str],
    say: Callable[[str], None],
) -> dict[str, tuple[int, int]]:
    """Reproducer runs the verdicts need: new buckets reproduced, open ones re-run k times."""
    out: dict[str, tuple[int, int]] = {}
    if not pl.reproduce and not pl.verify:
        return out
    with ctx.open() as host:
        for b in pl.reproduce:
            say(f"reproducing new bucket {b[:12]} ({titles.get(b, '?')})")
            try:
                res = reproduce(ctx, b, cfg.repro.budget_s, runs=1, host=host)
            except RigError as e:
                say(f"  could not reproduce {b[:12]}: {e}")
                continue
            out[b] = (res.status.ok, res.status.tries)
            say(f"  {res.status.state} {res.status.ok}/{res.status.tries}")
        config = spec_config(load_spec(Path(spec_path)), ctx.limits.call_s)
        for b in pl.verify:
            out[b] = rerun(host, image, b, cfg.repro.runs, config)
            say(f"reproducer of {b[:12]} on this image: crashed {out[b][0]}/{out[b][1]}")
    return out


def rerun(host: VmHost, image: Image, bucket: str, runs: int, config: Any) -> tuple[int, int]:
    """How many of `runs` tries of the bucket's reproducer crash `image` into that bucket.

    A crash counts when the store would file it under the bucket (its id, from
    the title's signature), not only when the title is the same string: the
    same bug's SLUB title carries taint flags that change from run to run, and
    a reproducer that still crashes must never make a bucket "fixed".
    """
    path = host.ctx.home.root / "crashes" / bucket / "repro.prog"
    programs = [text.load(path).program]
    replayer = VmReplayer(host, image, campaign=f"nightly-rerun-{bucket[:8]}", config=config)
    crashed = 0
    try:
        for _ in range(runs):
            v = replayer.replay(programs)
            crashed += int(v.title is not None and bucket_id(v.title) == bucket)
    finally:
        replayer.close()
    return crashed, runs


def summary(cfg: NightlyConfig, r: NightlyResult) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for v in r.verdicts:
        counts[v.verdict] = counts.get(v.verdict, 0) + 1
    out = {
        "format": NIGHTLY_FORMAT,
        "config": cfg.name,
        "config_hash": cfg.hash,
        "run": r.run.id,
        "driver_rev": r.run.driver_rev,
        "image": r.run.image,
        "kernel": r.run.kernel,
        "campaign": r.run.campaign,
        "started": r.run.started,
        "ended": r.run.ended,
        "status": r.run.status,
        "execs": r.progress.execs,
        "edges": r.progress.edges,
        "doors": r.progress.doors,
        "verdicts": [
            {
                "bucket": v.bucket_id,
                "title": r.titles.get(v.bucket_id, ""),
                "verdict": v.verdict,
                "seen": v.seen,
                "repro": f"{v.repro_ok}/{v.repro_tries}",
            }
            for v in r.verdicts
        ],
        "counts": counts,
        "failed_on": r.failed_on,
        "bisected": r.bisected,
        "exit": r.exit,
    }
    assert tuple(out) == SUMMARY_KEYS
    return out


def write_outputs(
    ctx: RunContext, cfg: NightlyConfig, r: NightlyResult, doors: tuple[str, ...]
) -> None:
    r.out_dir.mkdir(parents=True, exist_ok=True)
    elapsed = (r.run.ended or time.time()) - r.run.started
    junit.write(
        r.out_dir / "junit.xml",
        cfg.name,
        r.run.id,
        r.verdicts,
        r.titles,
        r.progress.doors,
        doors,
        cfg.fail_on,
        elapsed,
    )
    atomic_write(
        r.out_dir / "summary.json", (json.dumps(summary(cfg, r), indent=2) + "\n").encode()
    )
    try:
        from rig.report.render import render_report  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return
    try:
        r.report = render_report(ctx.home, str(r.run.id), r.out_dir)
    except RigError as e:
        log.warning("run %d: no HTML report: %s", r.run.id, e)
