"""`rig bisect BUCKET --good REV --bad REV`: the driver commit that brought a bucket's crash in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rig.cli.main import home_of, home_option, snapshot_option, uri_option
from rig.context import RunContext

if TYPE_CHECKING:
    from rig.repro.bisect import BisectResult, Step

NOT_FOUND = 1


def _label(step: Step) -> str:
    return f"--{step.role}" if step.role != "search" else ""


def _line(label: str, step: Step) -> str:
    t, rev = step.trial, step.revision
    line = f"{label:<7} {rev.short}  {t.crashed}/{t.runs} crashed  {t.verdict:<4}  {rev.subject}"
    if t.reason:
        line += f"  ({t.reason[:300]})"
    return line


@click.command()
@home_option
@click.argument("bucket")
@click.option("--good", "good", required=True, help="A revision whose driver does not crash.")
@click.option("--bad", "bad", required=True, help="A later revision whose driver crashes.")
@click.option(
    "--driver",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The driver's source directory, in a git work tree (default: the bundled driver/).",
)
@click.option(
    "--runs",
    default=3,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Fresh-VM runs of the reproducer per revision; any crash makes it bad.",
)
@click.option("--json", "as_json", is_flag=True, help="End with the result as one JSON object.")
@uri_option
@snapshot_option
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    bucket: str,
    good: str,
    bad: str,
    driver: Path | None,
    runs: int,
    as_json: bool,
    uri: str,
    no_snapshot: bool,
) -> None:
    """Name the first commit of the driver's history that crashes with BUCKET's title.

    Each revision's driver directory is exported with `git archive` (your
    work tree is not touched), built with the module parameters of the
    bucket's crash and booted; the bucket's repro.prog (from `rig repro`)
    runs --runs times, each on a fresh VM. Bad: at least one run crashed with
    the bucket's title; good: none did; skip: it did not build or boot.
    Binary search over the first-parent line from --good to --bad, after
    checking both. The result goes to the bucket's bisect.json. Exit status
    1 unless a first bad commit is named.
    """
    from rig.image.build import REPO
    from rig.repro.bisect import bisect

    def started(r: BisectResult) -> None:
        click.echo(
            f"bisecting bucket {r.bucket} ({r.title}): {r.commits} commit(s) on the"
            f" first-parent line after {r.good.short} up to {r.bad.short},"
            f" {r.runs} run(s) each, params {r.params or '(none)'!s}"
        )

    def stepped(step: Step) -> None:
        line = _line(_label(step) or "step", step)
        if step.left is not None:
            line += f"  [{step.left} left]"
        click.echo(line)

    rc = RunContext.create(home_of(ctx, home), uri=uri, snapshots=not no_snapshot)
    result = bisect(
        rc,
        bucket,
        driver if driver is not None else REPO / "driver",
        good,
        bad,
        runs=runs,
        on_start=started,
        on_step=stepped,
    )
    s = result.search
    if s.first_bad is not None:
        click.echo(f"first bad commit: {s.first_bad.sha} {s.first_bad.subject}")
    else:
        click.echo(s.message, err=True)
    if s.status != "endpoint":
        click.echo("evidence (oldest first):")
        for st in result.evidence():
            click.echo("  " + _line(_label(st), st))
    if as_json:
        click.echo(json.dumps(result.to_json()))
    if not result.found:
        raise click.exceptions.Exit(NOT_FOUND)
