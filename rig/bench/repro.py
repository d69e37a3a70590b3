"""Reproduce every planted bug of the table: rate, k/n reliability per bug, time to a verified reproducer.

By default the crashes come from the home's crash store, as a fuzzing
campaign leaves them: one bucket per table title. `--from-triggers` first
makes them: per bug, a VM with only that bug on runs noise programs and
then the bug's trigger program (data kept under tests/testdata/repro/),
and its ending is recorded as a campaign records it.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import click

from rig.bugtable import PlantedBug, bug_params
from rig.bugtable import load as load_bugs
from rig.cli.image import driver_option
from rig.cli.main import DURATION, home_of, home_option, uri_option
from rig.context import RunContext
from rig.crash.store import CrashStore
from rig.errors import RigError
from rig.image.build import REPO
from rig.prog import text
from rig.prog.program import Program
from rig.repro.reproduce import ReproResult, reproduce
from rig.repro.seed import record_programs
from rig.smoke import campaign_name
from rig.vmhost import VmHost

log = logging.getLogger(__name__)

DEFAULT_TRIGGERS = REPO / "tests" / "testdata" / "repro"
LEFT_OUT = ("debugfs_crash_hook",)  # the smoke test's deliberate crash, not a table bug


def table_bugs(driver: Path, only: str | None) -> list[PlantedBug]:
    bugs = [b for b in load_bugs(driver) if b.name not in LEFT_OUT]
    if only:
        wanted = {n.strip() for n in only.split(",") if n.strip()}
        unknown = wanted - {b.name for b in bugs}
        if unknown:
            raise click.BadParameter(f"unknown bug(s): {', '.join(sorted(unknown))}")
        bugs = [b for b in bugs if b.name in wanted]
    return bugs


def _programs(directory: Path) -> list[Program]:
    return [text.load(p).program for p in sorted(directory.glob("*.prog"))]


def seed(host: VmHost, bug: PlantedBug, data: Path, driver: Path, noise: int) -> str:
    """Record a crash of `bug` after `noise` noise programs; its bucket id."""
    home = host.ctx.home
    image = host.ctx.build_image(driver, params=bug_params(driver, bug.name))
    background = _programs(data / "noise")
    trigger = text.load(data / "triggers" / f"{bug.name}.prog").program
    programs = [background[i % len(background)] for i in range(noise)] + [trigger]
    rec = record_programs(host, image, programs, campaign_name("bench-seed"))
    if rec is None:
        raise RigError(f"{bug.name}: the trigger did not crash the VM")
    with CrashStore.open(home.root) as store:
        bucket = store.bucket(rec.bucket_id)
    if bucket is None or bucket.title != bug.title:
        got = bucket.title if bucket else "nothing"
        raise RigError(f"{bug.name}: the trigger crashed with {got!r}, not {bug.title!r}")
    return rec.bucket_id


def _row(bug: PlantedBug, res: ReproResult | None, error: str = "") -> dict[str, Any]:
    if res is None:
        return {"bug": bug.name, "reproduced": False, "reliability": "0/0", "error": error}
    return {
        "bug": bug.name,
        "bucket": res.bucket_id,
        "reproduced": res.runs_ok > 0,
        "reliability": f"{res.runs_ok}/{res.runs}",
        "status": str(res.status),
        "calls": res.calls,
        "found_by": res.found_by,
        "minimized": res.minimized,
        "seconds": round(res.seconds, 1),
        "time_to_verified_s": None
        if res.time_to_verified_s is None
        else round(res.time_to_verified_s, 1),
        "boots": res.boots,
        "replays": res.replays,
        "message": res.message,
    }


@click.command()
@home_option
@driver_option
@click.option(
    "--from-triggers",
    "triggers",
    is_flag=False,
    flag_value=str(DEFAULT_TRIGGERS),
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="First record a crash per bug from trigger programs (default data: tests/testdata/repro).",
)
@click.option("--noise", default=10, show_default=True, help="Noise programs before a trigger.")
@click.option(
    "--budget", type=DURATION, default="10m", show_default=True, help="Time budget per bug."
)
@click.option("--runs", default=3, show_default=True, help="Verification runs per bug.")
@click.option("--bugs", "only", default=None, help="Comma-separated subset of the table.")
@uri_option
@click.option("--json", "as_json", is_flag=True, help="Only the JSON line.")
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    driver: Path,
    triggers: Path | None,
    noise: int,
    budget: float,
    runs: int,
    only: str | None,
    uri: str,
    as_json: bool,
) -> None:
    """Reproduce the table's planted bugs and print rate, reliability and time to a reproducer."""
    rc = RunContext.create(home_of(ctx, home).ensure(), uri=uri)
    h, budget_s = rc.home, budget
    bugs = table_bugs(driver, only)
    host = rc.open()
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    try:
        buckets: dict[str, str] = {}
        if triggers is None:
            with CrashStore.open(h.root) as store:
                by_title = {b.title: b.id for b in store.buckets()}
            buckets = {b.name: by_title[b.title] for b in bugs if b.title in by_title}
        for bug in bugs:
            try:
                if triggers is not None:
                    buckets[bug.name] = seed(host, bug, triggers, driver, noise)
                if bug.name not in buckets:
                    rows.append(_row(bug, None, "no bucket with this title in the crash store"))
                    continue
                res = reproduce(rc, buckets[bug.name], budget_s, runs=runs, host=host)
                rows.append(_row(bug, res))
            except RigError as e:
                log.warning("%s: %s", bug.name, e)
                rows.append(_row(bug, None, str(e)))
            if not as_json:
                r = rows[-1]
                click.echo(
                    f"{bug.name:24} {r['reliability']:>5} {r.get('calls', '-')!s:>3} calls"
                    f" {r.get('time_to_verified_s') or '-'!s:>6} s  {r.get('message') or r.get('error', '')}"
                )
    finally:
        host.close()
    times = [r["time_to_verified_s"] for r in rows if r.get("time_to_verified_s") is not None]
    reproduced = sum(1 for r in rows if r["reproduced"])
    figures = {
        "bugs": len(bugs),
        "reproduced": reproduced,
        "reproduction_rate": round(reproduced / len(bugs), 3) if bugs else 0.0,
        "reliability_per_bug": {r["bug"]: r["reliability"] for r in rows},
        "calls_per_bug": {r["bug"]: r.get("calls") for r in rows},
        "median_time_to_verified_reproducer_s": round(statistics.median(times), 1)
        if times
        else None,
        "max_time_to_verified_reproducer_s": round(max(times), 1) if times else None,
        "budget_per_bug_s": budget_s,
        "runs_per_bug": runs,
        "source": "triggers" if triggers is not None else "crash store",
        "accel": rc.accel,
        "total_s": round(time.monotonic() - started, 1),
        "per_bug": rows,
    }
    click.echo(json.dumps(figures, sort_keys=True))
