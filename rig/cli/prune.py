"""`rig prune CONFIG...`: apply each nightly configuration's retention to the home."""

from __future__ import annotations

from pathlib import Path

import click

from rig.cli.main import home_of, home_option
from rig.nightly import config as nconfig
from rig.nightly.retention import prune


@click.command()
@home_option
@click.argument("configs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def cli(ctx: click.Context, home: Path | None, configs: tuple[Path, ...]) -> None:
    """Remove what the configurations' retention does not keep: old runs' campaign files and
    outputs, and crash rows whose logs the ring has overwritten (first reports and
    reproducers stay). `rig nightly` does this after every run."""
    h = home_of(ctx, home)
    for path in configs:
        cfg = nconfig.load(path)
        got = prune(h, cfg)
        click.echo(
            f"{cfg.name}: files of {len(got.runs)} old run(s) removed, "
            f"{got.crash_rows} overwritten crash row(s) forgotten"
        )
