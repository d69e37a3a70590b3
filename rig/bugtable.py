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


# ---------------------------------------------------------------- real bugs

NEEDS = ("ioctl", "genl", "rtnetlink", "compat", "file", "mmap")


@dataclass(frozen=True)
class RealBug:
    """An upstream fix reverted by hand (tests/realbugs/NAME/): what it takes to rebuild and find it.

    `bug` holds what a crash is matched with, as for planted bugs; the rest
    is how the module is built (`driver/`, from `sources` with `revert.patch`)
    and the public interface the fuzzer may be given besides the module
    itself and live discovery (`header`, `device`): never the trigger.
    """

    bug: PlantedBug
    directory: Path
    module: str
    sources: tuple[str, ...]
    params: str
    needs: str
    fix: dict[str, str]
    header: str = ""
    device: str = ""

    @property
    def name(self) -> str:
        return self.bug.name

    @property
    def title(self) -> str:
        return self.bug.title

    @property
    def pattern(self) -> str:
        return self.bug.pattern

    @property
    def fatal(self) -> bool:
        return self.bug.fatal

    @property
    def driver(self) -> Path:
        return self.directory / "driver"

    @property
    def patch(self) -> Path:
        """The revert of the upstream fix, against Debian's linux-source."""
        return self.directory / "revert.patch"

    @property
    def program(self) -> Path:
        """The trigger: proof that the reverted module crashes (never given to the fuzzer)."""
        return self.directory / "trigger.prog"


def load_real(root: Path) -> list[RealBug]:
    """Every tests/realbugs/NAME/bug.toml under `root`, sorted by name."""
    out = [_real(p) for p in sorted(root.glob("*/bug.toml"))]
    if not out:
        raise ConfigError(f"{root}: no real bugs (NAME/bug.toml)")
    return out


def _real(path: Path) -> RealBug:
    try:
        r = tomllib.loads(path.read_text())
        interface = r.get("interface", {})
        fix = {str(k): str(v) for k, v in r["fix"].items()}
        needs = str(r["needs"])
        if needs not in NEEDS:
            raise ConfigError(f"{path}: needs {needs!r} is not one of {', '.join(NEEDS)}")
        bug = PlantedBug(
            name=str(r["name"]),
            door=needs,
            function=str(r.get("function", "")),
            trigger=str(r["trigger"]),
            pattern=str(r["pattern"]),
            title=str(r["title"]),
            fatal=bool(r["fatal"]),
            also=str(r.get("also", "")),
        )
        if not isinstance(r["fatal"], bool) or not isinstance(r["sources"], list):
            raise ConfigError(f"{path}: fatal must be a boolean and sources a list")
        real = RealBug(
            bug,
            path.parent,
            str(r["module"]),
            tuple(str(s) for s in r["sources"]),
            str(r.get("params", "")),
            needs,
            fix,
            str(interface.get("header", "")),
            str(interface.get("device", "")),
        )
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: missing") from e
    except (tomllib.TOMLDecodeError, KeyError, TypeError, AttributeError) as e:
        raise ConfigError(f"{path}: malformed real bug ({e})") from e
    if real.name != path.parent.name:
        raise ConfigError(f"{path}: name {real.name!r} is not its directory's")
    if not (real.driver / "Kbuild").is_file():
        raise ConfigError(f"{path}: no driver/Kbuild beside it")
    return real
