"""Reproduction in real VMs: a fatal oops, a WARNING and a hang, each recorded after noise programs,
come back, shrink to their trigger, and their C reproducer crashes a fresh VM with the same title.

Crashes are recorded as a campaign records them (noise programs, then the
trigger, through a session; the ending goes to the crash store). Budgets
and verification runs are kept small: every boot and every hang costs CI time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rig.bugtable import PlantedBug, load
from rig.config import Home
from rig.context import RunContext
from rig.crash.store import CrashStore, ReproStatus
from rig.image.build import REPO, Image
from rig.prog import text
from rig.prog.program import Program
from rig.repro.reproduce import reproduce
from rig.repro.seed import record_programs
from rig.vmhost import VmHost
from tests.vm.cli import rig

pytestmark = pytest.mark.vm

DATA = REPO / "tests" / "testdata" / "repro"
BUGS = {b.name: b for b in load(REPO / "driver")}
NOISE = [text.load(p).program for p in sorted((DATA / "noise").glob("*.prog"))]

# (bug, calls its trigger needs, budget in seconds): one of each kind of ending.
CASES = [
    ("ioctl_unconfigured", 2, 240),  # fatal oops
    ("debugfs_inject_warn", 1, 240),  # WARNING: the guest runs on
    ("ioctl_lock_leak", 4, 240),  # hang: the hung-task detector reports it
    ("compat_peek_unchecked", 3, 240),  # a 32-bit program: replayed, minimised, C built -m32
]


def trigger(bug: str) -> Program:
    return text.load(DATA / "triggers" / f"{bug}.prog").program


def record(host: VmHost, image: Image, bug: PlantedBug) -> str:
    programs = [*NOISE, *NOISE, trigger(bug.name)]
    rec = record_programs(host, image, programs, f"test-repro-{bug.name[:12]}")
    assert rec is not None, f"{bug.name}: the trigger did not crash"
    with CrashStore.open(host.ctx.home.root) as store:
        bucket = store.bucket(rec.bucket_id)
    assert bucket is not None and bucket.title == bug.title
    return rec.bucket_id


@pytest.mark.parametrize(("name", "needed", "budget"), CASES, ids=[c[0] for c in CASES])
def test_planted_bug_is_reproduced_minimised_and_its_c_reproducer_verified(
    name: str,
    needed: int,
    budget: int,
    home: Home,
    ctx: RunContext,
    host: VmHost,
    image_for: Callable[[str], Image],
) -> None:
    bug = BUGS[name]
    bid = record(host, image_for(f"bugs={name}"), bug)
    res = reproduce(ctx, bid, budget, runs=1, host=host)
    assert res.reproduced, res.message
    assert res.title == bug.title
    assert res.found_by == "last program", "the console marker names the trigger among the noise"
    assert res.calls <= needed + 2, text.dumps(res.programs[0])
    assert len(res.programs) == 1
    assert res.c_verified and res.status == ReproStatus("reproduced", 1, 1), res.message
    bdir = home.root / "crashes" / bid
    for f in ("repro.prog", "repro.c", "repro.md"):
        assert (bdir / f).is_file()
    assert text.load(bdir / "repro.prog").program == res.programs[0]
    assert res.programs[0].abi == trigger(name).abi, "minimising keeps the program's ABI"
    md = (bdir / "repro.md").read_text()
    assert bug.title in md and "**1 of 1**" in md
    out = rig(home, "crashes", "--json", timeout=60)
    row = next(b for b in json.loads(out.stdout) if b["id"] == bid)
    assert row["repro"] == "reproduced 1/1"


def test_a_program_that_does_not_crash_is_not_reproduced(
    home: Home, image_for: Callable[[str], Image], tmp_path: Path
) -> None:
    image = image_for("")
    harmless = tmp_path / "harmless.prog"
    text.dump(harmless, NOISE[0])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rig",
            "--home",
            str(home.root),
            "repro",
            str(harmless),
            "--image",
            image.id,
            "--budget",
            "2m",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "not reproduced" in proc.stderr
    assert not (tmp_path / "harmless-repro" / "repro.c").exists()
