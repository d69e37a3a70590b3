"""Three nightly runs of one configuration on the bundled driver, as a team would see them.

Night 1 has planted bug A on; night 2 A and B; night 3 only B, as if A had
been fixed. The verdicts must be new(A); still(A) + new(B); fixed(A), checked
by A's reproducer failing on night 3's image, + still(B): in summary.json,
in junit.xml and in the store.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from junitparser import JUnitXml

from rig.config import Home
from rig.crash.store import CrashStore
from tests.vm.cli import rig

pytestmark = pytest.mark.vm

REPO = Path(__file__).resolve().parents[2]
A, B = "debugfs_inject_warn", "compat_peek_unchecked"
TITLES = {
    A: "WARNING in boundary_inject_warn",
    B: "BUG: bad usercopy in boundary_peek_compat_unchecked",
}

CONFIG = """\
version = 1
name = "{name}"

[driver]
dir = "{driver}"
revision = ""
params = "bugs={bugs}"

[campaign]
duration = "90s"
vms = 2

[repro]
budget = "3m"
max_new = 2
runs = 2

[output]
dir = "{out}"
fail_on = ["new", "regressed"]
"""


def _night(home: Home, tmp: Path, name: str, bugs: str) -> tuple[int, dict[str, str], Path]:
    cfg = tmp / "nightly.toml"
    cfg.write_text(CONFIG.format(name=name, driver=REPO / "driver", bugs=bugs, out=tmp / "out"))
    done = rig(home, "nightly", str(cfg), timeout=900)
    runs = sorted((tmp / "out" / name).iterdir(), key=lambda p: int(p.name))
    out = runs[-1]
    summary = json.loads((out / "summary.json").read_text())
    by_title = {v["title"]: v["verdict"] for v in summary["verdicts"]}
    assert summary["execs"] > 0, done.stdout + done.stderr
    return done.returncode, by_title, out


def _junit(out: Path) -> dict[str, tuple[str, bool]]:
    (suite,) = list(JUnitXml.fromfile(str(out / "junit.xml")))
    return {c.name: (c.classname, bool(c.result)) for c in suite}


def test_three_nights_give_new_still_fixed(home: Home, tmp_path: Path) -> None:
    name = f"test-nightly-{time.strftime('%H%M%S')}"
    rc1, v1, out1 = _night(home, tmp_path, name, A)
    assert v1.get(TITLES[A]) == "new", v1
    assert rc1 == 1, "a new bucket fails the night"
    assert _junit(out1)[TITLES[A]] == ("bucket.new", True)

    rc2, v2, out2 = _night(home, tmp_path, name, f"{A},{B}")
    assert (v2.get(TITLES[A]), v2.get(TITLES[B])) == ("still", "new"), v2
    assert rc2 == 1
    j2 = _junit(out2)
    assert j2[TITLES[A]] == ("bucket.still", False) and j2[TITLES[B]] == ("bucket.new", True)

    rc3, v3, out3 = _night(home, tmp_path, name, B)
    assert (v3.get(TITLES[A]), v3.get(TITLES[B])) == ("fixed", "still"), v3
    assert rc3 == 0, "fixed and still fail nothing by default"
    j3 = _junit(out3)
    assert j3[TITLES[A]] == ("bucket.fixed", False) and j3[TITLES[B]][0] == "bucket.still"
    assert not j3["door ioctl"][1], "the ioctl door ran calls"
    summary3 = json.loads((out3 / "summary.json").read_text())
    fixed = next(v for v in summary3["verdicts"] if v["title"] == TITLES[A])
    assert fixed["seen"] == 0 and fixed["repro"] == "0/2", "fixed: its reproducer failed 2 of 2"
    with CrashStore.open(home.root) as store:
        runs = store.runs(name)
        assert [r.status for r in runs] == ["finished"] * 3
        assert len({r.config_hash for r in runs}) == 3, "the parameters changed each night"
    html = (out3 / "report.html").read_text()
    assert "fixed" in html and "still" in html, "the verdicts are in the HTML report too"
    assert "boundary_peek_compat_unchecked" in html
