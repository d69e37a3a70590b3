"""`rig doctor`: check every prerequisite and print the fix for each failure."""

from __future__ import annotations

from pathlib import Path

import click

from rig.cli.image import driver_option
from rig.cli.main import home_of, home_option, uri_option
from rig.doctor import run


@click.command()
@home_option
@driver_option
@uri_option
@click.pass_context
def cli(ctx: click.Context, home: Path | None, driver: Path, uri: str) -> None:
    """Check packages, libvirtd, accel, kernel, QEMU and the image; exit 1 if any fails."""
    checks = run(home_of(ctx, home), driver, uri)
    for c in checks:
        mark = "ok  " if c.ok else "FAIL"
        click.echo(f"{mark} {c.name:<9} {c.detail}")
        if not c.ok:
            click.echo(f"     fix: {c.fix}")
    if not all(c.ok for c in checks):
        raise click.exceptions.Exit(1)
