"""`rig review`: what a driver patch changed in the attack surface, what looks wrong, what crashes."""

from __future__ import annotations

import time
from pathlib import Path

import click

from rig.cli.main import DURATION, home_of, home_option, uri_option
from rig.context import RunContext
from rig.errors import ConfigError

FAILED = 1
FAIL_ON = ("crash", "high", "medium", "low")


def parse_fail_on(value: str) -> tuple[str, ...]:
    """`crash,high` -> ("crash", "high"); `never` -> (); anything else is an error."""
    words = tuple(w.strip() for w in value.split(",") if w.strip())
    if words == ("never",):
        return ()
    bad = [w for w in words if w not in FAIL_ON]
    if bad or not words:
        raise ConfigError(
            f"--fail-on {value!r}: give a comma list of {', '.join(FAIL_ON)}, or never"
        )
    return words


@click.command()
@home_option
@click.option(
    "--driver",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The driver's directory in a git work tree (with --base and --head).",
)
@click.option("--base", default=None, help="Git revision before the change.")
@click.option("--head", default=None, help="Git revision with the change.")
@click.option(
    "--base-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Instead of git: the driver directory before the change.",
)
@click.option(
    "--head-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Instead of git: the driver directory with the change.",
)
@click.option("--header", default=None, help="UAPI header, relative to the driver directory.")
@click.option("--device", "devices", multiple=True, help="Device node the header's ioctls go to.")
@click.option("--module", default=None, help="Module name, when the driver builds several.")
@click.option("--params", default="", help="Module parameters for both builds.")
@click.option(
    "--budget",
    type=DURATION,
    default="10m",
    show_default=True,
    help="The focused campaign and its reproductions.",
)
@click.option("--vms", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--engine", default="atheris", show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--no-probe", is_flag=True, help="Do not boot the builds to list their files.")
@click.option("--no-fuzz", is_flag=True, help="Diff and rules only: no campaign.")
@click.option("--keep-going", is_flag=True, help="Fuzz the whole budget, not only to a crash.")
@click.option(
    "--runs", default=1, show_default=True, type=click.IntRange(1, 20), help="C reproducer runs."
)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the reports go (default: HOME/reviews/<time>).",
)
@click.option(
    "--fail-on",
    default="crash,high",
    show_default=True,
    help="Exit 1 on: crash, high, medium, low (comma list), or never.",
)
@uri_option
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    driver: Path | None,
    base: str | None,
    head: str | None,
    base_dir: Path | None,
    head_dir: Path | None,
    header: str | None,
    devices: tuple[str, ...],
    module: str | None,
    params: str,
    budget: float,
    vms: int,
    engine: str,
    seed: int,
    no_probe: bool,
    no_fuzz: bool,
    keep_going: bool,
    runs: int,
    out: Path | None,
    fail_on: str,
    uri: str,
) -> None:
    """Review a driver change: its attack surface diff, rule findings, a focused campaign.

    Builds the base and head revisions, discovers both surfaces (header,
    module, a live probe), lists added, removed and changed entry points,
    checks the rules on the head (keeping what the base did not have), then
    fuzzes only the new and changed entry points and reproduces what
    crashes. Writes review.md, review.html, review.sarif, junit.xml and
    review.json; exits 1 on what --fail-on names.
    """
    from rig.campaign.options import parse_engine
    from rig.review.report import write_all
    from rig.review.run import ReviewOptions, fallback_uri, review, revisions

    failing = parse_fail_on(fail_on)
    if header is not None and Path(header).is_absolute():
        raise ConfigError(f"--header {header}: give it relative to the driver directory")
    opts = ReviewOptions(
        driver=driver,
        base=base,
        head=head,
        base_dir=base_dir,
        head_dir=head_dir,
        header=header,
        devices=devices,
        module=module,
        params=params,
        budget_s=budget,
        vms=vms,
        engine=parse_engine(engine),
        seed=seed,
        probe=not no_probe,
        fuzz=not no_fuzz,
        keep_going=keep_going,
        repro_runs=runs,
    )
    h = home_of(ctx, home).ensure()
    revisions(opts, h.root / "cache")  # bad revisions stop here, before any build
    rc = RunContext.create(h, uri=uri)
    out_dir = out or h.root / "reviews" / time.strftime("%Y%m%d-%H%M%S")
    result = review(rc, opts, out_dir, click.echo)
    paths = write_all(result, out_dir, fallback_uri(result, header), failing)
    for kind, p in paths.items():
        click.echo(f"{kind}: {p}")
    why = result.failed(failing)
    if why:
        click.echo(f"review fails: {'; '.join(why)}", err=True)
        raise click.exceptions.Exit(FAILED)
