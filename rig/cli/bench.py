"""`rig bench NAME`: benchmarks that print their figures; the last line is one JSON object."""

from __future__ import annotations

import importlib
import pkgutil

import click

import rig.bench


def names() -> list[str]:
    return sorted(
        m.name for m in pkgutil.iter_modules(rig.bench.__path__) if not m.name.startswith("_")
    )


class BenchGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return names()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in names():
            return None
        command: click.Command = importlib.import_module(f"rig.bench.{cmd_name}").cli
        return command


@click.group(cls=BenchGroup)
def cli() -> None:
    """Benchmarks that print their figures as JSON (units in the keys)."""
