"""`rig serve`: the home's campaigns and runs as live pages, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from rig.cli.main import home_of, home_option
from rig.errors import ConfigError
from rig.report.serve import ReportServer, is_loopback

log = logging.getLogger(__name__)


@click.command()
@home_option
@click.option("--port", default=8088, show_default=True, help="TCP port; 0 picks a free one.")
@click.option(
    "--bind",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback lets others read the pages.",
)
@click.pass_context
def cli(ctx: click.Context, home: Path | None, port: int, bind: str) -> None:
    """Serve the report of every campaign and nightly run, read afresh on each request and
    reloading every few seconds: watch a campaign as it runs. Read-only (GET and HEAD);
    Ctrl-C stops it."""
    h = home_of(ctx, home)
    if not h.root.is_dir():
        raise ConfigError(f"no rig home at {h.root}")
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port")
    if not is_loopback(bind):
        click.echo(
            f"warning: the pages are unauthenticated: anyone who can reach {bind}:{port} can "
            "read every campaign's console logs, programs and reproducers",
            err=True,
        )
    try:
        server = ReportServer((bind, port), h)
    except OSError as e:
        raise ConfigError(f"cannot listen on {bind}:{port}: {e.strerror or e}") from e
    # The first line names the URL (tests and scripts read it; port 0 picks one).
    click.echo(f"serving {h.root} at {server.url()}", color=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
