"""The driver-author examples (tests/examples/) run as a driver author runs them, in a pytest of their own.

The example fails on purpose: with the planted bug ioctl_unconfigured on,
its property `test_xfer_never_crashes` must fail with that bug's title
from driver/bugs.toml and a shrunk program of the two calls the trigger
needs, while its passing tests pass. One VM boot (or snapshot restore),
then a restore after each crashing example; hypothesis' seed is fixed so
CI sees the same examples every time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rig.bugtable import load
from rig.config import Home
from rig.image.build import REPO

pytestmark = pytest.mark.vm

EXAMPLE = REPO / "tests" / "examples" / "test_boundary_xfer.py"
BUG = next(b for b in load(REPO / "driver") if b.name == "ioctl_unconfigured")
TIMEOUT_S = 900


def test_example_finds_the_planted_bug_and_shrinks_it(home: Home, tmp_path: Path) -> None:
    t0 = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(EXAMPLE), "-p", "no:cacheprovider",
            "--rig-home", str(home.root), "--hypothesis-seed=1", "-v",
        ],
        cwd=tmp_path,  # hypothesis' example database goes here, not into the checkout
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    took = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    print(out[-6000:])
    print(f"example run took {took:.0f}s")
    assert proc.returncode == 1, f"pytest exited {proc.returncode}, not 1 (tests failed)"
    assert "test_xfer_never_crashes FAILED" in out
    assert re.search(r"\b1 failed, 2 passed\b", out), "the helpers' and the round trip's tests pass"
    assert "KernelCrash" in out
    assert f"kernel report: {BUG.title}" in out, f"no {BUG.title!r} in the output"
    # The shrunk example: KernelCrash names its calls; the trigger needs open + XFER.
    counts = [int(n) for n in re.findall(r"program \((\d+) calls?;", out)]
    assert counts, "no program in the KernelCrash message"
    assert counts[-1] <= 2, f"the example shrank only to {counts[-1]} calls"
    # hypothesis' own report of the minimal example (its wording changed across versions)
    assert re.search(r"Falsifying example|Failing test case", out)
    assert "rig_vm=<rig_vm driver bugs=ioctl_unconfigured>" in out, "a short repr, not every field"
