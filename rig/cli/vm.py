"""`rig vm smoke`: boot a fleet, check the driver, catch a deliberate crash."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from rig.cli.image import driver_option, module_option, params_option
from rig.cli.main import home_of, home_option, uri_option
from rig.context import RunContext
from rig.errors import RigError
from rig.host import accel as accelmod
from rig.smoke import run


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
    rc = RunContext.create(home_of(ctx, home).ensure(), uri=uri, accel=accel)
    out = Console(highlight=False)
    out.print(f"accel: {rc.accel}")
    with rc.open() as host:
        result = run(host, driver, vms, lambda s: out.print(escape(s)))
    # The report is guest output: escaped so it cannot inject terminal markup.
    out.print(Panel(escape(result.report_text), title=f"caught on {result.crashed_vm}"))
    out.print(f"report: {escape(result.report_first_line)}")
    out.print(f"{result.crashed_vm} destroyed: {result.crashed_vm_gone}")
    if result.leftover:
        raise RigError(f"domains left running: {', '.join(result.leftover)}")
    out.print(f"smoke passed: {len(result.booted)} VMs booted, crash caught, nothing left behind")


@cli.command()
@home_option
@driver_option
@module_option
@params_option
@uri_option
@click.pass_context
def start(
    ctx: click.Context, home: Path | None, driver: Path, module: str | None, params: str, uri: str
) -> None:
    """Boot one VM and keep it until Ctrl-C or a kernel report; `rig run --vm NAME` uses it."""
    from rig.crash.parse import parse_first
    from rig.deadline import Deadline
    from rig.guest.surface import default_config
    from rig.smoke import campaign_name

    rc = RunContext.create(home_of(ctx, home).ensure(), uri=uri)
    out = Console(highlight=False)
    image = rc.build_image(driver, module, params)
    config = default_config(image.module, rc.limits.call_s)
    with (
        rc.open() as host,
        host.session(image, config, campaign=campaign_name("vm"), start=False) as session,
    ):
        inst = session.instance
        out.print(f"{inst.name} ready; run programs with: rig run --vm {inst.name} PROGRAM")
        out.print(f"agent socket {inst.agent_socket}, console log {inst.console_log}")
        outcome = inst.watch(Deadline(365 * 24 * 3600.0))
        report = parse_first(inst.console_text())
        out.print(f"{inst.name}: {escape(outcome.ending.value)}")
        if report is not None:
            out.print(escape(report.text))
