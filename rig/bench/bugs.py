"""Which planted bugs each engine finds, and when: one campaign per engine, found bugs switched off.

For every engine a campaign runs with the driver's planted bugs on; when a
bucket's title matches a bug of the driver's table (driver/bugs.toml), that
bug is switched off for the rest of the run (the next VMs boot an image
without it), as a team fixes what last night's run found. A last campaign on
the clean driver counts false crashes: any bucket at all.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import click

from rig.bugtable import PlantedBug, bug_params, by_title, load
from rig.campaign.options import CampaignOptions
from rig.campaign.runner import Campaign, Progress, prepare, run
from rig.cli.image import REPO_DRIVER
from rig.cli.main import DURATION, DURATION_OR_ZERO, home_of, home_option, uri_option
from rig.context import RunContext
from rig.crash.store import CampaignBucket
from rig.errors import RigError
from rig.gen.build import DOORS
from rig.smoke import campaign_name

SPEC = REPO_DRIVER.parent / "corpora" / "specs" / "boundary.yaml"
DEMO_ONLY = ("debugfs_crash_hook",)  # the skeleton's deliberate crash, not a bug to find


def table_bugs() -> list[PlantedBug]:
    return [b for b in load(REPO_DRIVER) if b.name not in DEMO_ONLY]


class Tracker:
    """Matches new buckets to planted bugs and switches found bugs off."""

    def __init__(self, bugs: list[PlantedBug], say: Any) -> None:
        self.bugs = bugs
        self.found: dict[str, float] = {}
        self.unexpected: list[str] = []
        self.say = say

    def remaining(self) -> list[PlantedBug]:
        return [b for b in self.bugs if b.name not in self.found]

    def __call__(self, camp: Campaign, fresh: list[CampaignBucket]) -> None:
        changed = False
        for bucket in fresh:
            bug = by_title(self.bugs, bucket.title)
            if bug is None:
                self.unexpected.append(bucket.title)
                self.say(f"  bucket of no planted bug: {bucket.title}")
            elif bug.name not in self.found:
                self.found[bug.name] = round(bucket.first_seen - camp.wall_started, 1)
                self.say(f"  found {bug.name} after {self.found[bug.name]:.0f}s")
                changed = True
        if changed:
            rest = self.remaining()
            if not rest:
                camp.stop_requested = True
                return
            camp.set_image(
                camp.build_image(bug_params(REPO_DRIVER, ",".join(b.name for b in rest)))
            )


def campaign(
    ctx: RunContext,
    engine: str,
    bugs: list[PlantedBug],
    seconds: float,
    vms: int,
    seed: int,
    say: Any,
) -> dict[str, Any]:
    opts = CampaignOptions(
        driver=str(REPO_DRIVER),
        module=None,
        bugs=",".join(b.name for b in bugs),
        vms=vms,
        duration_s=seconds,
        engine=engine,
        doors=DOORS,
        seed=seed,
        spec=str(SPEC),
        params=bug_params(REPO_DRIVER, ",".join(b.name for b in bugs)),
    )
    tracker = Tracker(bugs, say)
    error = ""
    last = {"p": Progress()}
    where = ""
    try:  # one engine failing must not lose the others' figures
        where_dir = ctx.home.campaign(campaign_name(f"bench-bugs-{engine}"))
        camp = prepare(ctx, where_dir, opts, {})
        where = str(camp.dir.path)
        say(f"{engine}: {seconds:.0f}s on {vms} VMs, {len(bugs)} bugs on, campaign {where}")
        p: Progress = run(camp, lambda q: last.update(p=q), tracker)
        if p.ended in ("infra", "error"):
            error = f"{p.ended}: {p.error}"
            say(f"  {engine} failed: {error}")
    except RigError as e:
        error = str(e)
        say(f"  {engine} failed: {error}")
        p = last["p"]
    times = sorted(tracker.found.values())
    return {
        "campaign": where,
        "found": len(tracker.found),
        "of": len(bugs),
        "first_found_s": {b.name: tracker.found.get(b.name) for b in bugs},
        "median_time_to_find_s": statistics.median(times) if times else None,
        # With bugs on, these are mostly damage a planted bug did elsewhere (memory
        # corruption); on the clean driver any bucket at all is a false crash.
        "other_buckets": tracker.unexpected,
        "execs": p.execs,
        "execs_per_s": round(p.execs / p.elapsed_s, 1) if p.elapsed_s else 0.0,
        "edges": p.edges,
        "elapsed_s": round(p.elapsed_s, 1),
        "error": error,
    }


@click.command()
@home_option
@click.option("--duration", type=DURATION, default="30m", show_default=True, help="Per engine.")
@click.option(
    "--clean-duration",
    type=DURATION_OR_ZERO,
    default="10m",
    show_default=True,
    help="The clean-driver run (0 skips it).",
)
@click.option("--engines", default="atheris,hypothesis,random", show_default=True)
@click.option("--vms", default=2, show_default=True)
@click.option("--seed", default=0, show_default=True)
@uri_option
@click.option("--json", "as_json", is_flag=True, help="Only the JSON line.")
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    duration: float,
    clean_duration: float,
    engines: str,
    vms: int,
    seed: int,
    uri: str,
    as_json: bool,
) -> None:
    """Per engine, which planted bugs are found and when; then false crashes on the clean driver."""
    rc = RunContext.create(home_of(ctx, home).ensure(), uri=uri)
    say = (lambda s: None) if as_json else click.echo
    bugs = table_bugs()
    results: dict[str, Any] = {"duration_s": duration, "vms": vms, "seed": seed, "engines": {}}
    for engine in [e.strip() for e in engines.split(",") if e.strip()]:
        results["engines"][engine] = campaign(rc, engine, bugs, duration, vms, seed, say)
    if clean_duration > 0:
        clean = campaign(rc, "atheris", [], clean_duration, vms, seed, say)
        results["clean"] = {
            "elapsed_s": clean["elapsed_s"],
            "execs": clean["execs"],
            "false_crash_buckets": clean["other_buckets"],
        }
    if not as_json:
        for name, r in results["engines"].items():
            click.echo(
                f"{name}: {r['found']}/{r['of']} found, median {r['median_time_to_find_s']}s, "
                f"{r['execs_per_s']} execs/s"
            )
            for bug, t in r["first_found_s"].items():
                click.echo(f"  {bug:24} {'-' if t is None else f'{t:.0f}s'}")
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    click.echo(json.dumps(results, sort_keys=True))
