"""Snapshot reset against cold boots, in one run: to agent ready, crash to fuzzing, and campaigns.

Three figures per mode (cold boot, snapshot restore), measured side by side:
- to ready: from asking for a VM to its agent configured;
- crash to fuzzing: from the moment a kernel report has ended a VM to the
  first program result on the next one, tearing the crashed VM down
  included (what a crash costs a campaign);
- a crash-heavy campaign (the bundled driver with one shallow bug on) for
  the same duration, once per mode: executions per second.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import click

from rig.bugtable import bug_params
from rig.campaign.runner import new_campaign, run
from rig.cli.image import driver_option
from rig.cli.main import DURATION, home_of, home_option, uri_option
from rig.context import RunContext
from rig.gen.build import DOORS
from rig.guest.surface import default_config
from rig.image.build import Image
from rig.prog.program import Close, FileWrite, Open, Program
from rig.smoke import campaign_name

CRASH_BUG = "debugfs_crash_hook"  # a crash on demand, for the per-VM figures
SHALLOW_BUG = "ioctl_unconfigured"  # found within seconds: a campaign that crashes all along
TARGET_CRASH_TO_FUZZING_S = 1.0
TARGET_SPEEDUP = 3.0


def _median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 3) if xs else None


def per_vm(ctx: RunContext, image: Image, rounds: int) -> dict[str, float | None]:
    """Median seconds to ready and from crash to the next VM's first result, in `ctx`'s mode."""
    crash = Program((FileWrite(f"/sys/kernel/debug/{image.module}/crash_hook", b"1"),))
    noise = Program((Open(f"/dev/{image.module}"), Close(0)))
    config = default_config(image.module, ctx.limits.call_s)
    ready, crash_to_fuzzing = [], []
    with ctx.open() as host:
        crashed_at: float | None = None
        for i in range(rounds + 1):
            t0 = time.monotonic()
            with host.session(image, config, campaign=campaign_name("bench-reset")) as s:
                if i:  # the first VM of a mode pays for making the snapshot
                    ready.append(time.monotonic() - t0)
                if s.run(noise) is None:
                    raise click.ClickException(f"{s.instance.name} ended before running a program")
                if crashed_at is not None:
                    crash_to_fuzzing.append(time.monotonic() - crashed_at)
                s.run(crash)
                ending = s.wait_for_report(ctx.limits.report_wait_s)
                if ending is None or not ending.is_report:
                    raise click.ClickException(f"{s.instance.name}: the crash hook did not crash")
                crashed_at = time.monotonic()  # the report is in: from here it is all overhead
    return {"to_ready_s": _median(ready), "crash_to_fuzzing_s": _median(crash_to_fuzzing)}


def campaign_rate(ctx: RunContext, driver: Path, seconds: float, vms: int, seed: int) -> float:
    camp = new_campaign(
        ctx,
        ctx.home.campaign(campaign_name(f"bench-reset-{'snap' if ctx.snapshots else 'cold'}")),
        driver=driver,
        module=None,
        bugs=SHALLOW_BUG,
        vms=vms,
        duration_s=seconds,
        engine="generate",
        doors=DOORS,
        seed=seed,
        spec=None,
    )
    p = run(camp, lambda _p: None)
    if p.ended != "finished":
        raise click.ClickException(f"the {camp.dir.name} campaign ended {p.ended}: {p.error}")
    return round(p.execs / p.elapsed_s, 1) if p.elapsed_s else 0.0


@click.command()
@home_option
@driver_option
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option(
    "--campaign",
    "campaign_s",
    type=DURATION,
    default="3m",
    show_default=True,
    help="Each crash-heavy campaign (0 skips them).",
)
@click.option("--vms", default=2, show_default=True, type=click.IntRange(1, 16))
@click.option("--seed", default=0, show_default=True)
@uri_option
@click.option("--json", "as_json", is_flag=True, help="Only the JSON line.")
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    driver: Path,
    rounds: int,
    campaign_s: float,
    vms: int,
    seed: int,
    uri: str,
    as_json: bool,
) -> None:
    """Cold boots against snapshot restores: per VM, then as crash-heavy campaigns."""
    rc = RunContext.create(home_of(ctx, home).ensure(), uri=uri)
    image = rc.build_image(driver, params=bug_params(driver, CRASH_BUG))
    say = (lambda _s: None) if as_json else click.echo
    cold = per_vm(rc.with_snapshots(False), image, rounds)
    say(f"cold: {cold}")
    snap = per_vm(rc.with_snapshots(True), image, rounds)
    say(f"snapshot: {snap}")
    figures: dict[str, object] = {
        "accel": rc.accel,
        "rounds": rounds,
        "cold_to_ready_s": cold["to_ready_s"],
        "restore_to_ready_s": snap["to_ready_s"],
        "crash_to_fuzzing_cold_s": cold["crash_to_fuzzing_s"],
        "crash_to_fuzzing_s": snap["crash_to_fuzzing_s"],
        "target_crash_to_fuzzing_s": TARGET_CRASH_TO_FUZZING_S,
    }
    c, s = cold["crash_to_fuzzing_s"], snap["crash_to_fuzzing_s"]
    figures["ratio_crash_to_fuzzing_cold_to_snapshot"] = round(c / s, 2) if c and s else None
    if campaign_s > 0:
        drv = driver.resolve()
        cold_rate = campaign_rate(rc.with_snapshots(False), drv, campaign_s, vms, seed)
        say(f"crash-heavy campaign, cold: {cold_rate} execs/s")
        snap_rate = campaign_rate(rc.with_snapshots(True), drv, campaign_s, vms, seed)
        say(f"crash-heavy campaign, snapshot: {snap_rate} execs/s")
        figures.update(
            campaign_s=campaign_s,
            campaign_vms=vms,
            execs_per_s_cold=cold_rate,
            execs_per_s_snapshot=snap_rate,
            ratio_execs_snapshot_to_cold=round(snap_rate / cold_rate, 2) if cold_rate else None,
            target_ratio_execs=TARGET_SPEEDUP,
        )
    click.echo(json.dumps(figures, sort_keys=True))
