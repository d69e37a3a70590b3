"""`rig repro CRASH`: reproduce a crash, minimise it, write repro.prog/.c/.md next to it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from rig.cli.main import home_of, home_option
from rig.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")
NOT_REPRODUCED = 1


def parse_duration(value: str) -> float:
    """'600', '90s', '10m', '1.5h' -> seconds."""
    m = _DURATION.match(value)
    if not m:
        raise ConfigError(f"budget {value!r} is not a duration such as 600, 90s, 10m or 1h")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


@click.command()
@home_option
@click.argument("crash")
@click.option(
    "--budget", default="10m", show_default=True, help="Time budget for this crash (s, m, h)."
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
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    crash: str,
    budget: str,
    runs: int,
    image: str | None,
    as_json: bool,
) -> None:
    """Reproduce CRASH (a bucket id or prefix, a crash directory, or a program file).

    Boots fresh VMs from the image the crash recorded, replays the programs
    that ran before it, minimises what crashes with the same title, and
    verifies a standalone C reproducer in fresh VMs. Exit status 1 when the
    crash did not come back.
    """
    from rig.repro.reproduce import reproduce

    h = home_of(ctx, home)
    seconds = parse_duration(budget)
    result = reproduce(h, crash, seconds, runs=runs, image=image)
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
