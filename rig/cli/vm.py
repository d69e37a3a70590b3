"""`rig vm smoke`: boot a fleet, check the driver, catch a deliberate crash."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from rig.cli.image import driver_option
from rig.cli.main import home_of, home_option
from rig.config import Limits
from rig.errors import RigError
from rig.fleet.libvirt_backend import DEFAULT_URI, LibvirtBackend
from rig.host import accel as accelmod
from rig.smoke import run

uri_option = click.option(
    "--uri",
    envvar="RIG_LIBVIRT_URI",
    default=DEFAULT_URI,
    show_default=True,
    help="libvirt connection URI.",
)


@click.group()
def cli() -> None:
    """Boot, inspect and smoke-test VMs."""


@cli.command()
@home_option
@driver_option
@uri_option
@click.option("--vms", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--accel", type=click.Choice(accelmod.ACCELS), default=None)
@click.pass_context
def smoke(
    ctx: click.Context, home: Path | None, driver: Path, uri: str, vms: int, accel: str | None
) -> None:
    """Boot VMS guests with the driver loaded, crash one on purpose, show the caught report."""
    h = home_of(ctx, home).ensure()
    out = Console(highlight=False)
    verdict = accelmod.current(h.host_file, accel)
    out.print(f"accel: {verdict.accel} ({escape(verdict.reason)})")
    backend = LibvirtBackend(uri)
    try:
        result = run(
            h, backend, driver, vms, verdict.accel, Limits(), lambda s: out.print(escape(s))
        )
    finally:
        backend.close()
    # The report is guest output: escaped so it cannot inject terminal markup.
    out.print(Panel(escape(result.report_text), title=f"caught on {result.crashed_vm}"))
    out.print(f"report: {escape(result.report_first_line)}")
    out.print(f"{result.crashed_vm} destroyed: {result.crashed_vm_gone}")
    if result.leftover:
        raise RigError(f"domains left running: {', '.join(result.leftover)}")
    out.print(f"smoke passed: {len(result.booted)} VMs booted, crash caught, nothing left behind")
