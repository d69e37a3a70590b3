"""Entry point of the `rig` console script: a group whose subcommands load lazily.

Each subcommand lives in `rig.cli.<name>` and exposes a click command named
`cli`. Loading lazily keeps `rig host setup` usable before libvirt-python is
installed, and keeps start-up fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from rig.config import DEFAULT_URI, Home, default_home
from rig.duration import parse_duration
from rig.errors import ConfigError, RigError, disk_full

COMMANDS: dict[str, str] = {
    "host": "Prepare this machine: packages, libvirt daemons, KVM or TCG.",
    "doctor": "Check every prerequisite and print the fix for each failure.",
    "image": "Build guest images (kernel, initramfs, driver).",
    "vm": "Boot, inspect and smoke-test VMs.",
    "run": "Run one program file in a VM and print its results.",
    "fuzz": "Run a fuzzing campaign on a fleet of VMs.",
    "soak": "A campaign that fails if the rig's memory, fds, domains or disk grow unbounded.",
    "crashes": "List and show crash buckets.",
    "repro": "Reproduce, minimise and export a crash.",
    "bisect": "Name the first commit of a driver's history that brings a bucket's crash.",
    "prune": "Apply nightly configurations' retention: old runs' files, overwritten crashes.",
    "nightly": "A nightly run: fuzz a driver revision, judge its buckets against earlier runs.",
    "report": "Write one self-contained HTML report of a nightly run or a campaign.",
    "serve": "Serve live report pages of the home's campaigns and runs (127.0.0.1 by default).",
    "review": "Review a driver change: attack surface diff, rule findings, a focused campaign.",
    "spec": "Import and check interface specs.",
    "bench": "Benchmarks that print their figures as JSON.",
}


def available() -> list[str]:
    return [n for n in COMMANDS if importlib.util.find_spec(f"rig.cli.{n}") is not None]


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return available()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in available():
            return None
        module = importlib.import_module(f"rig.cli.{cmd_name}")
        command: click.Command = module.cli
        command.help = command.help or COMMANDS[cmd_name]
        return command


home_option = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for all rig state (default: $RIG_HOME or ~/.local/share/rig).",
)


if TYPE_CHECKING:  # click 8.5 made ParamType generic; older ones are not subscriptable
    _ParamBase = click.ParamType[float, Any]
else:
    _ParamBase = click.ParamType


class Duration(_ParamBase):
    """An option's duration in seconds, read by the one grammar (`rig.duration`)."""

    name = "duration"

    def __init__(self, allow_zero: bool = False) -> None:
        self.allow_zero = allow_zero

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "DURATION"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        what = (param.name or "duration").replace("_", " ") if param is not None else "duration"
        try:
            return parse_duration(str(value), what=what, allow_zero=self.allow_zero)
        except ConfigError as e:
            self.fail(str(e), param, ctx)


DURATION = Duration()
DURATION_OR_ZERO = Duration(allow_zero=True)

uri_option = click.option(
    "--uri",
    envvar="RIG_LIBVIRT_URI",
    default=DEFAULT_URI,
    show_default=True,
    help="libvirt connection URI (or $RIG_LIBVIRT_URI).",
)


snapshot_option = click.option(
    "--no-snapshot",
    "no_snapshot",
    is_flag=True,
    help="Boot every VM cold instead of restoring the image's saved 'agent ready' state.",
)


@click.group(cls=LazyGroup)
@home_option
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, verbose: int) -> None:
    """A fuzzing and robustness test rig for Linux kernel drivers."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(name)s: %(message)s")
    ctx.obj = Home(home or default_home())


def home_of(ctx: click.Context, override: Path | None = None) -> Home:
    """The Home in force: a subcommand's own --home wins over the group's."""
    if override is not None:
        return Home(override)
    obj: Any = ctx.find_root().obj
    return obj if isinstance(obj, Home) else Home()


def _exit_on_signal(signum: int, _frame: object) -> None:
    # SystemExit unwinds through every context manager, so VMs are destroyed.
    sys.exit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    try:
        rc = cli(standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except RigError as e:
        click.echo(f"rig: error: {e}", err=True)
        sys.exit(e.exit_code)
    except OSError as e:
        full = disk_full(e)
        if full is None:
            raise
        click.echo(f"rig: error: {full}", err=True)
        sys.exit(full.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else 0)
