"""`rig host setup`: install what the rig needs, start libvirt, decide KVM or TCG."""

from __future__ import annotations

import time
from pathlib import Path

import click

from rig.cli.main import home_of, home_option, uri_option
from rig.config import HostLimits, runtime_dir
from rig.host import accel as accelmod
from rig.host import daemons, packages
from rig.host.selfcheck import verify_libvirt


@click.group()
def cli() -> None:
    """Prepare this machine for the rig."""


@cli.command()
@home_option
@click.option(
    "--accel",
    type=click.Choice(accelmod.ACCELS),
    default=None,
    help="Force KVM or TCG instead of probing.",
)
@click.option(
    "--restart", is_flag=True, help="Restart libvirtd (e.g. to apply a new accel verdict)."
)
@click.option(
    "--with-test",
    is_flag=True,
    help="Also what the test suite needs (chromium, for the browser tests).",
)
@uri_option
@click.pass_context
def setup(
    ctx: click.Context,
    home: Path | None,
    accel: str | None,
    restart: bool,
    with_test: bool,
    uri: str,
) -> None:
    """Idempotent: installs missing packages, starts virtlogd and libvirtd, saves the accel verdict.

    Ends with a self-check: two capability calls through libvirt, the second
    under a second; if not, libvirtd is restarted once and checked again, and
    a host that stays slow is an error naming the cause and the fix.
    """
    started = time.monotonic()
    limits = HostLimits()
    h = home_of(ctx, home)
    wanted = packages.DEBIAN_PACKAGES + (packages.TEST_PACKAGES if with_test else ())
    missing = packages.missing(wanted)
    packages.install(missing)
    verdict = (
        accelmod.AccelVerdict(accelmod.parse_accel(accel), "set by --accel")
        if accel
        else accelmod.current(h.host_file)
    )
    accelmod.save(h.host_file, verdict)
    if restart:
        daemons.stop_libvirtd(limits)
    done = daemons.ensure(verdict.accel, runtime_dir(), limits)
    for line in [f"installed: {' '.join(missing)}" if missing else "packages: all present", *done]:
        click.echo(line)
    for line in verify_libvirt(uri, verdict.accel, runtime_dir(), limits):
        click.echo(line)
    click.echo(f"accel: {verdict.accel} ({verdict.reason})")
    click.echo(f"home: {h.root}")
    click.echo(f"host ready in {time.monotonic() - started:.1f}s")
