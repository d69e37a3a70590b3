"""Data that sits beside the project in ../shared (CI has it; a bare clone may not)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]  # the directory holding the clone and shared/


def shared(relative: Path) -> Path:
    """The path under ../shared; skip with the reason if it is absent, but fail under CI."""
    path = ROOT / relative
    if path.exists():
        return path
    why = f"{path} is missing: these tests need the shared corpora beside the clone"
    if os.environ.get("CI"):
        pytest.fail(f"{why}, and CI must run them")
    pytest.skip(why)
