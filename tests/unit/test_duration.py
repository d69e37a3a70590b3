"""One grammar for every duration option: what it reads, what it refuses, and that each option uses it."""

from __future__ import annotations

import importlib

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.cli.bench import names as bench_names
from rig.cli.main import COMMANDS, Duration
from rig.duration import format_duration, parse_duration
from rig.errors import ConfigError

GOOD = [
    ("45", 45),
    ("90s", 90),
    ("30m", 1800),
    ("2h", 7200),
    ("1h30m", 5400),
    ("1h30m15s", 5415),
    ("1h 30m", 5400),
    ("1.5h", 5400),
    ("2m30.5s", 150.5),
    ("10M", 600),
]


@pytest.mark.parametrize(("text", "seconds"), GOOD)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "30x", "-5", "0", "0s", "1m2h", "m", "1h1h", "h30"])
def test_malformed_durations_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="duration"):
        parse_duration(bad)


def test_zero_only_where_asked() -> None:
    assert parse_duration("0", allow_zero=True) == 0.0


@given(st.integers(min_value=1, max_value=10 * 24 * 3600))
def test_format_reads_back(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def _commands() -> list[tuple[str, click.Command]]:
    """Every command and subcommand, by the name a user types."""
    out: list[tuple[str, click.Command]] = []
    for name in COMMANDS:
        if name == "bench":
            out += [
                (f"bench {b}", importlib.import_module(f"rig.bench.{b}").cli) for b in bench_names()
            ]
            continue
        stack: list[tuple[str, click.Command]] = [
            (name, importlib.import_module(f"rig.cli.{name}").cli)
        ]
        while stack:
            where, c = stack.pop()
            out.append((where, c))
            if isinstance(c, click.Group):
                stack += [(f"{where} {n}", sub) for n, sub in c.commands.items()]
    return out


def test_every_option_that_takes_a_time_uses_the_one_grammar() -> None:
    timed = ("duration", "budget", "interval", "timeout")
    found = []
    for where, cmd in _commands():
        for p in cmd.params:
            if isinstance(p, click.Option) and any(w in (p.name or "") for w in timed):
                found.append(f"{where} --{p.name}")
                assert isinstance(p.type, Duration), f"{where} --{p.name} parses its own"
    assert {"fuzz --duration", "repro --budget", "fuzz --repro_budget"} <= set(found), found


def test_repro_budget_takes_what_fuzz_duration_takes() -> None:
    from rig.cli.repro import cli as repro

    budget = next(p for p in repro.params if p.name == "budget")
    assert budget.type.convert("1h30m", budget, None) == 5400
