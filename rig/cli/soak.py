"""`rig soak`: a campaign that watches its own resource use and fails if anything grows unbounded."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rig.campaign.options import parse_engine
from rig.campaign.runner import new_campaign, run, verdict
from rig.campaign.soak import Sampler, judge
from rig.cli.image import campaign_driver_option, module_option
from rig.cli.main import DURATION, home_of, home_option, snapshot_option, uri_option
from rig.context import RunContext
from rig.errors import RigError
from rig.gen.build import DOORS
from rig.smoke import campaign_name


@click.command()
@home_option
@click.option("--hours", type=float, required=True, help="How long, in hours (0.05 = 3 minutes).")
@click.option(
    "--interval", type=DURATION, default="60s", show_default=True, help="Time between samples."
)
@campaign_driver_option
@module_option
@click.option("--driver-bugs", "bugs", default="", help="Planted bugs to enable (crash-heavy).")
@click.option("--vms", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option("--engine", default="atheris", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--campaign", "name", default=None, help="Campaign name (default: soak-DATE).")
@uri_option
@snapshot_option
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    hours: float,
    interval: float,
    driver: Path | None,
    module: str | None,
    bugs: str,
    vms: int,
    engine: str,
    seed: int,
    name: str | None,
    uri: str,
    no_snapshot: bool,
) -> None:
    """Fuzz for HOURS while sampling RSS, fds, domains, disk and store size into soak.jsonl.

    At the end a line is fitted to the second half of each series; a slope
    above its bound (printed beside it) or more domains than VMs fails.
    """
    if hours <= 0:
        raise click.BadParameter("must be positive", param_hint="--hours")
    rc = RunContext.create(home_of(ctx, home).ensure(), uri=uri, snapshots=not no_snapshot)
    camp = new_campaign(
        rc,
        rc.home.campaign(name or campaign_name("soak")),
        driver=driver,
        module=module,
        bugs=bugs,
        vms=vms,
        duration_s=hours * 3600,
        engine=parse_engine(engine),
        doors=DOORS,
        seed=seed,
        spec=None,
    )
    out = Console(highlight=False)
    out.print(f"soak {escape(str(camp.dir.path))}: {hours:g} h, a sample every {interval:g}s")
    host = rc.open()

    def domains() -> int:
        return sum(
            1
            for d in host.backend.domains()
            if d.active and d.owner is not None and d.owner.campaign == camp.dir.name
        )

    sampler = Sampler(camp, interval, domains).start()
    try:
        final = run(camp, lambda p: None)
    finally:
        samples = sampler.stop()
        host.close()
    verdicts = judge(samples, vms)
    table = Table(title="soak: growth over the settled second half")
    for col in ("metric", "first", "last", "slope", "bound", ""):
        table.add_column(col)
    for v in verdicts:
        mark = "ok" if v.ok else "[bold red]GROWS[/bold red]"
        table.add_row(
            v.metric,
            f"{v.first:g}",
            f"{v.last:g}",
            f"{v.slope:g} {v.unit}",
            f"{v.bound:g}",
            mark if v.judged else f"[dim]{escape(v.why)}[/dim]",
        )
    out.print(table)
    (camp.dir.path / "soak.json").write_text(
        json.dumps(
            {
                "hours": hours,
                "samples": len(samples),
                "execs": final.execs,
                "verdicts": [asdict(v) for v in verdicts],
            },
            indent=2,
        )
        + "\n"
    )
    verdict(final)
    if len(samples) < 4:
        raise RigError(f"only {len(samples)} samples: lengthen --hours or shorten --interval")
    bad = [v for v in verdicts if not v.ok]
    if bad:
        raise RigError(
            "grows without bound: "
            + "; ".join(f"{v.metric} {v.slope:g} > {v.bound:g} {v.unit}" for v in bad)
        )
    out.print(f"soak passed: {len(samples)} samples, {final.execs} executions")
