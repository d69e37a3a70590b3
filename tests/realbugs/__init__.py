"""The real-bug dev set: each NAME/ holds bug.toml, revert.patch, driver/ and trigger.prog.

The table is read by rig itself (rig.bugtable.load_real, which `rig bench
realbugs` uses); the tests read it the same way.
"""

from __future__ import annotations

from pathlib import Path

from rig.bugtable import RealBug, load_real

HERE = Path(__file__).resolve().parent

__all__ = ["HERE", "RealBug", "all_bugs"]


def all_bugs() -> list[RealBug]:
    return load_real(HERE)
