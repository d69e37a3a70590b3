"""A driver's table of planted bugs (driver/bugs.toml), used by tests and benchmarks only."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from rig.errors import ConfigError


@dataclass(frozen=True)
class PlantedBug:
    name: str
    door: str
    function: str
    trigger: str
    pattern: str
    title: str
    fatal: bool
    also: str = ""  # regex: titles of the same bug reached through another path

    def matches_line(self, line: str) -> bool:
        return re.search(self.pattern, line) is not None


def load(driver: Path) -> list[PlantedBug]:
    path = driver / "bugs.toml"
    try:
        rows = tomllib.loads(path.read_text())["bug"]
        return [
            PlantedBug(
                name=str(r["name"]),
                door=str(r["door"]),
                function=str(r["function"]),
                trigger=str(r["trigger"]),
                pattern=str(r["pattern"]),
                title=str(r["title"]),
                fatal=bool(r["fatal"]),
                also=str(r.get("also", "")),
            )
            for r in rows
        ]
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: no bug table") from e
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: malformed bug table ({e})") from e


def fault_param(driver: Path) -> str:
    """The module parameter that switches a driver's planted bugs on (bugs.toml `param`)."""
    path = driver / "bugs.toml"
    try:
        param = tomllib.loads(path.read_text()).get("param")
    except FileNotFoundError as e:
        raise ConfigError(
            f"{driver} has no bugs.toml naming its fault switch; "
            "pass module parameters with --params instead of --driver-bugs"
        ) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: malformed bug table ({e})") from e
    if not isinstance(param, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", param):
        raise ConfigError(f"{path}: `param` must name the module parameter of the planted bugs")
    return param


def bug_params(driver: Path, bugs: str, params: str = "") -> str:
    """Module parameters: the driver's fault switch set to `bugs` (if any), then `params`."""
    words = [f"{fault_param(driver)}={bugs}"] if bugs else []
    return " ".join([*words, *params.split()])


def by_title(bugs: list[PlantedBug], title: str) -> PlantedBug | None:
    """The planted bug whose expected title is `title`, else one whose `also` matches it."""
    exact = next((b for b in bugs if b.title == title), None)
    return exact or next((b for b in bugs if b.also and re.search(b.also, title)), None)
