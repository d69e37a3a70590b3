"""`rig report RUN|CAMPAIGN -o DIR`: one self-contained HTML report, DIR/report.html."""

from __future__ import annotations

from pathlib import Path

import click

from rig.cli.main import home_of, home_option
from rig.report.render import render_report


@click.command()
@home_option
@click.argument("subject", metavar="RUN|CAMPAIGN")
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write report.html into (made if missing).",
)
@click.pass_context
def cli(ctx: click.Context, home: Path | None, subject: str, out_dir: Path) -> None:
    """A page of a nightly run (its id) or a campaign (its directory, or its name under the
    home): progress plots, buckets with reports, programs and reproducers, per-function
    coverage of the module, and for a run the previous run of its config. The file needs no
    network to be read; prints its path."""
    click.echo(render_report(home_of(ctx, home), subject, out_dir))
