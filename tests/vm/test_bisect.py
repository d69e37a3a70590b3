"""rig bisect on real VMs: in a throw-away history of the bundled driver one commit turns the
planted bug ioctl_unconfigured on for good (no `bugs=` needed), and the bisect names that commit.

The history is five commits: the driver as shipped (--good), notes, a driver
README change, the one-line change that sets the bug's bit, notes again
(--bad). Commits outside the driver directory leave its sources, and so its
image, as they were: the bisect tests both endpoints and two revisions and
builds at most two images the test home does not have yet. One run per
revision: the trigger crashes every time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rig.bugtable import load
from rig.config import Home
from rig.context import RunContext
from rig.crash.store import CrashStore
from rig.image.build import REPO, Image
from rig.image.module import source_files
from rig.prog import text
from rig.repro.bisect import RESULT_FILE
from rig.repro.seed import record_programs
from rig.vmhost import VmHost
from tests.vm.cli import rig

pytestmark = pytest.mark.vm

BUG = "ioctl_unconfigured"
TRIGGER = REPO / "tests" / "testdata" / "repro" / "triggers" / f"{BUG}.prog"
# The change under test: the bug's bit set whatever bugs= says.
PARSE = "\tif (!bugs)\n\t\treturn 0;\n"
ON = "\tset_bit(BOUNDARY_BUG_IOCTL_UNCONFIGURED, boundary_bugs_enabled);\n"


def git(top: Path, *args: str) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "GIT_AUTHOR_NAME": "rig test",
        "GIT_AUTHOR_EMAIL": "rig@example.org",
        "GIT_COMMITTER_NAME": "rig test",
        "GIT_COMMITTER_EMAIL": "rig@example.org",
    }
    return subprocess.run(
        ["git", "-C", str(top), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def commit(top: Path, message: str, change: Callable[[], None]) -> str:
    change()
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", message)
    return git(top, "rev-parse", "HEAD")


def history(top: Path, driver_dir: Path) -> list[str]:
    """Five commits; the fourth turns the bug on. The driver lives in top/driver."""
    drv = top / "driver"

    def copy() -> None:
        for p in source_files(driver_dir):
            dest = drv / p.relative_to(driver_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, dest)

    def bug_on() -> None:
        bugs_c = drv / "boundary_bugs.c"
        src = bugs_c.read_text()
        assert src.count(PARSE) == 1, "boundary_bugs_parse changed: update the test's edit"
        bugs_c.write_text(src.replace(PARSE, ON + PARSE))

    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    notes = top / "NOTES"
    readme = drv / "README.md"
    return [
        commit(top, "the driver as shipped", copy),
        commit(top, "notes", lambda: notes.write_text("first notes\n")),
        commit(
            top,
            "driver README: a line on bisecting",
            lambda: readme.write_text(readme.read_text() + "\nBisect with `rig bisect`.\n"),
        ),
        commit(top, "ioctl: XFER without SET_CONFIG, always", bug_on),
        commit(top, "more notes", lambda: notes.write_text("more notes\n")),
    ]


def test_bisect_names_the_commit_that_turned_a_bug_on(
    home: Home,
    ctx: RunContext,
    host: VmHost,
    driver_dir: Path,
    image_for: Callable[[str], Image],
    tmp_path: Path,
) -> None:
    t0 = time.monotonic()
    top = tmp_path / "repo"
    shas = history(top, driver_dir)
    bug = next(b for b in load(REPO / "driver") if b.name == BUG)

    # The crash, found on the bad revision without any module parameter.
    bad_image = ctx.build_image(top / "driver")
    trigger = text.load(TRIGGER).program
    rec = record_programs(host, bad_image, [trigger], "test-bisect")
    assert rec is not None, "the bad revision's driver did not crash"
    with CrashStore.open(home.root) as store:
        bucket = store.bucket(rec.bucket_id)
    assert bucket is not None and bucket.title == bug.title
    bdir = bucket.directory
    (bdir / RESULT_FILE).unlink(missing_ok=True)
    text.dump(bdir / "repro.prog", trigger)
    recorded = time.monotonic()

    out = rig(
        home,
        "bisect",
        rec.bucket_id,
        "--good",
        shas[0],
        "--bad",
        "main",
        "--driver",
        str(top / "driver"),
        "--runs",
        "1",
        "--json",
        timeout=1500,
    )
    bisected = time.monotonic()
    print(out.stdout, out.stderr)
    print(f"recorded in {recorded - t0:.0f}s, bisected in {bisected - recorded:.0f}s")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"first bad commit: {shas[3]} ioctl: XFER without SET_CONFIG, always" in out.stdout
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["status"] == "found" and result["first_bad"]["sha"] == shas[3]
    assert result["good"]["sha"] == shas[0] and result["bad"]["sha"] == shas[4]
    assert result["params"] == "" and result["runs"] == 1
    verdicts = {s["sha"]: (s["verdict"], s["crashed"], s["runs"]) for s in result["steps"]}
    assert verdicts == {
        shas[4]: ("bad", 1, 1),
        shas[0]: ("good", 0, 1),
        shas[2]: ("good", 0, 1),
        shas[3]: ("bad", 1, 1),
    }, result["steps"]
    images = {s["sha"]: s["image"] for s in result["steps"]}
    assert images[shas[4]] == images[shas[3]] == bad_image.id, "same sources, same image"
    assert images[shas[0]] == image_for("").id, "the shipped driver's image"
    assert len(set(images.values())) == 3
    saved = json.loads((bdir / RESULT_FILE).read_text())
    assert saved["first_bad"] == result["first_bad"]
    assert git(top, "status", "--porcelain") == "", "the work tree is untouched"
