"""`rig repro CRASH`: reproduce a crash, minimise it, write repro.prog/.c/.md next to it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rig.cli.main import DURATION, home_of, home_option, snapshot_option, uri_option
from rig.context import RunContext

NOT_REPRODUCED = 1


@click.command()
@home_option
@click.argument("crash")
@click.option(
    "--budget",
    type=DURATION,
    default="10m",
    show_default=True,
    help="Time budget for this crash, e.g. 90s, 10m, 1h30m.",
)
@click.option(
    "--runs",
    default=3,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Fresh-VM runs of the C reproducer that measure its reliability.",
)
@click.option(
    "--image",
    default=None,
    help="Image id or directory to boot instead of the crash's (needed for a loose program file).",
)
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Let the programs touch what this spec names (a loose program file for another driver).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@uri_option
@snapshot_option
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    crash: str,
    budget: float,
    runs: int,
    image: str | None,
    spec_path: Path | None,
    as_json: bool,
    uri: str,
    no_snapshot: bool,
) -> None:
    """Reproduce CRASH (a bucket id or prefix, a crash directory, or a program file).

    Boots fresh VMs from the image the crash recorded, replays the programs
    that ran before it, minimises what crashes with the same title, and
    verifies a standalone C reproducer in fresh VMs. Exit status 1 when the
    crash did not come back.
    """
    from rig.repro.reproduce import reproduce
    from rig.spec.load import load as load_spec

    spec = load_spec(spec_path) if spec_path is not None else None
    explicit = ctx.get_parameter_source("uri") is not click.core.ParameterSource.DEFAULT
    rc = RunContext.create(home_of(ctx, home), uri=uri, snapshots=not no_snapshot)
    result = reproduce(
        rc, crash, budget, runs=runs, image=image, campaign_ctx=not explicit, spec=spec
    )
    if as_json:
        click.echo(json.dumps(result.summary()))
    else:
        click.echo(f"{result.title or '(no crash)'}")
        click.echo(f"  {result.message}", err=result.status.state == "failed")
        if result.files:
            for name in ("prog", "c", "md"):
                if name in result.files:
                    click.echo(f"  {result.files[name]}")
        click.echo(
            f"  status {result.status}; {result.calls} call(s); {result.seconds:.0f}s,"
            f" {result.boots} boots"
        )
    if result.status.state not in ("reproduced", "flaky"):
        raise click.exceptions.Exit(NOT_REPRODUCED)
