"""tests/realbugs/NAME/driver/ is exactly `rig image intree` of the bug's sources plus revert.patch.

The sources come from Debian's linux-source of the guest kernel, through the
home's cache (RIG_TEST_HOME, else RIG_HOME, else the default home): when the
tarball is not cached, `rig image intree` downloads it, as CI does; a
machine that cannot get it fails these tests rather than skipping them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from rig.config import default_home
from rig.crash.parse import parse_first
from rig.image import intree
from rig.image import kernel as kmod
from rig.prog import text
from tests.realbugs import RealBug, all_bugs

BUGS = all_bugs()
PATCHED_FILE = re.compile(r"^\+\+\+ b/(\S+)", re.M)


def _cache() -> Path:
    root = os.environ.get("RIG_TEST_HOME")
    return (Path(root) if root else default_home()) / "cache" / "linux-source"


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _fetch(bug: RealBug, out: Path) -> Path:
    return intree.fetch(kmod.default_version(), _cache(), list(bug.sources), bug.module, out)


def test_at_least_three_bugs_and_one_through_rtnetlink_or_compat() -> None:
    assert len(BUGS) >= 3
    assert any(b.needs in ("rtnetlink", "compat") for b in BUGS)


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.name)
def test_the_revert_patch_touches_one_source_file_of_the_module(bug: RealBug) -> None:
    patched = PATCHED_FILE.findall(bug.patch.read_text())
    assert len(patched) == 1, f"{bug.patch} patches {patched}, not one file"
    assert patched[0] in bug.sources or PurePosixPath(patched[0]).suffix == ".h"
    assert re.fullmatch(r"[0-9a-f]{40}", bug.fix["commit"]), bug.fix["commit"]


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.name)
def test_the_trigger_is_a_valid_program(bug: RealBug) -> None:
    text.load(bug.program).program.validate()


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.name)
def test_driver_is_the_intree_fetch_with_the_fix_reverted(bug: RealBug, tmp_path: Path) -> None:
    assert shutil.which("patch"), "patch(1) is needed to apply revert.patch"
    stock = _fetch(bug, tmp_path / "stock")
    mine = tmp_path / "reverted"
    shutil.copytree(stock, mine)
    done = subprocess.run(
        ["patch", "-p1", "--fuzz=0", "--no-backup-if-mismatch", "-d", str(mine),
         "-i", str(bug.patch)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "offset" not in done.stdout, f"{bug.patch} no longer applies where it did: {done.stdout}"
    assert _files(mine) == _files(bug.driver), (
        f"{bug.driver} is not `rig image intree` + revert.patch; regenerate it"
    )
    assert _files(stock) != _files(mine)


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b.name)
def test_the_recorded_crash_parses_to_the_expected_title(bug: RealBug) -> None:
    """console.txt is the serial console of the proof run (tests/vm/test_realbugs.py)."""
    report = parse_first((bug.directory / "console.txt").read_text())
    assert report is not None
    assert report.title == bug.title
    assert re.search(bug.pattern, report.text.splitlines()[0]), report.text.splitlines()[0]
    assert report.fatal == bug.fatal
