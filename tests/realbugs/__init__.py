"""Real historical bugs of stock Debian 6.1 modules, one directory each, for the rig's dev set.

Each NAME/ holds `bug.toml` (what the bug is, the fix it reverts, the
expected report), `revert.patch` (the fix taken out of one file, as Debian's
linux-source ships it), `driver/` (`rig image intree` of the module's
sources with the patch applied) `trigger.prog` (a program that crashes
the reverted module, for the proof test only: never a seed, spec or
dictionary) and `console.txt` (the serial console of a proof run, which the
report parser must title as bug.toml says). tests/unit/image/test_realbugs.py checks driver/ against the
fetch and the patch; tests/vm/test_realbugs.py proves every trigger on a VM.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DOORS = ("ioctl", "genl", "rtnetlink", "compat", "file")


@dataclass(frozen=True)
class Fix:
    commit: str
    subject: str
    changelog: str


@dataclass(frozen=True)
class RealBug:
    dir: Path
    name: str
    module: str
    sources: tuple[str, ...]
    params: str
    fix: Fix
    title: str
    pattern: str
    needs: str
    trigger: str
    fatal: bool
    interface: dict[str, Any] = field(default_factory=dict)

    @property
    def driver(self) -> Path:
        return self.dir / "driver"

    @property
    def patch(self) -> Path:
        return self.dir / "revert.patch"

    @property
    def program(self) -> Path:
        return self.dir / "trigger.prog"


def load(bug_dir: Path) -> RealBug:
    """One bug directory's bug.toml, every field checked for presence and type."""
    raw = tomllib.loads((bug_dir / "bug.toml").read_text())
    fix = raw["fix"]
    bug = RealBug(
        dir=bug_dir,
        name=str(raw["name"]),
        module=str(raw["module"]),
        sources=tuple(str(s) for s in raw["sources"]),
        params=str(raw["params"]),
        fix=Fix(str(fix["commit"]), str(fix["subject"]), str(fix["changelog"])),
        title=str(raw["title"]),
        pattern=str(raw["pattern"]),
        needs=str(raw["needs"]),
        trigger=str(raw["trigger"]),
        fatal=bool(raw["fatal"]),
        interface=dict(raw.get("interface", {})),
    )
    if bug.name != bug_dir.name:
        raise ValueError(f"{bug_dir}: name {bug.name!r} is not the directory's name")
    if bug.needs not in DOORS:
        raise ValueError(f"{bug_dir}: needs {bug.needs!r} is none of {DOORS}")
    if not isinstance(raw["fatal"], bool) or not isinstance(raw["sources"], list):
        raise ValueError(f"{bug_dir}: fatal must be a boolean and sources a list")
    return bug


def all_bugs() -> list[RealBug]:
    return [load(p.parent) for p in sorted(HERE.glob("*/bug.toml"))]
