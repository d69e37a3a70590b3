"""The `rig` command as a user runs it, against a test's home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rig.config import Home


def rig(
    home: Home, *args: str, timeout: float = 600, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`rig --home HOME ARGS...` in a child process: no terminal, wide enough output."""
    return subprocess.run(
        [sys.executable, "-m", "rig", "--home", str(home.root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, COLUMNS="200"),
        cwd=cwd,
    )
