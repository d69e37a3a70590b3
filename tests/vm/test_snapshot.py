"""Snapshot reset on real VMs: a restored VM is a fresh one, catches reports like a booted one,
shares nothing with its siblings, and a broken snapshot falls back to a cold boot."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from rig.config import Home
from rig.context import RunContext
from rig.crash.parse import parse_first
from rig.fleet.snapshot import Snapshots
from rig.guest.protocol import CallStatus
from rig.guest.surface import default_config
from rig.image.build import Image
from rig.prog.program import FileRead, FileWrite, Program
from rig.session import Session
from rig.vmhost import VmHost
from tests.vm.cli import rig
from tests.vm.conftest import SessionsOf

pytestmark = pytest.mark.vm

LABEL = "/sys/devices/virtual/misc/boundary/label"
CRASH = Program((FileWrite("/sys/kernel/debug/boundary/crash_hook", b"1"),))


@pytest.fixture
def snap_host(ctx: RunContext) -> Iterator[VmHost]:
    """A host of its own, so the counts of restores and cold boots are this test's."""
    with ctx.with_snapshots(True).open() as host:
        yield host


@pytest.fixture
def sessions(snap_host: VmHost, request: pytest.FixtureRequest) -> Iterator[SessionsOf]:
    made = SessionsOf(snap_host, f"test-{request.node.name[:20]}")
    yield made
    made.close()


def label_of(s: Session) -> bytes:
    r = s.run(Program((FileRead(LABEL, 64),)))
    assert r is not None and r.calls[0].status == CallStatus.OK, r
    return r.calls[0].output


def crash(s: Session) -> str:
    s.run(CRASH)
    ending = s.wait_for_report(30)
    assert ending is not None and ending.is_report, ending
    report = parse_first(s.instance.console_text())
    assert report is not None
    return report.title


def test_a_restored_vm_forgets_what_the_crashed_one_did(
    snap_host: VmHost, sessions: SessionsOf, image_for: Callable[[str], Image]
) -> None:
    image = image_for("bugs=debugfs_crash_hook")
    first = sessions(image)  # cold, then saved and restored: the snapshot now exists
    pristine = label_of(first)
    assert first.run(Program((FileWrite(LABEL, b"dirty"),))) is not None
    assert label_of(first).startswith(b"dirty")
    cold_title = crash(first)
    second = sessions(image)
    assert second.instance.timing.restored
    assert label_of(second) == pristine, "the driver's state is the snapshot's"
    assert crash(second) == cold_title, "a restored VM reports the oops as a booted one does"
    assert snap_host.restores >= 2


def test_two_vms_restored_from_one_snapshot_share_nothing(
    snap_host: VmHost, sessions: SessionsOf, image_for: Callable[[str], Image]
) -> None:
    image = image_for("")
    sessions(image).close()  # make sure the snapshot exists
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda slot: sessions(image, slot=slot), (0, 1))
    assert a.instance.timing.restored and b.instance.timing.restored
    assert a.instance.name != b.instance.name
    assert a.instance.console_log != b.instance.console_log
    assert a.instance.agent_socket != b.instance.agent_socket
    for s, word in ((a, b"alpha"), (b, b"bravo")):
        assert s.run(Program((FileWrite(LABEL, word),))) is not None
    assert label_of(a).startswith(b"alpha") and label_of(b).startswith(b"bravo")
    list(b.run_many([Program((FileRead(LABEL, 8),))] * 5))
    # Each console shows only its own session's programs: a ran 2, b ran 7.
    for s, ran in ((a, 2), (b, 7)):
        watcher = s.instance.watcher
        assert watcher is not None and watcher.last_program == ran, (s.instance.name, ran)


def test_a_snapshot_that_will_not_restore_falls_back_to_a_cold_boot(
    snap_host: VmHost,
    sessions: SessionsOf,
    image_for: Callable[[str], Image],
    caplog: pytest.LogCaptureFixture,
) -> None:
    image = image_for("")
    sessions(image).close()
    snap_dir = snap_host.snapshots.dir(snap_host.snapshot_key(image))
    master = snap_dir / "state.save"
    with master.open("r+b") as f:  # keep libvirt's head, lose QEMU's stream
        f.truncate(200 * 1024)
    for work in (snap_dir / "work").glob("*.save"):
        work.unlink()
    cold_before = snap_host.cold_boots
    with caplog.at_level(logging.WARNING, logger="rig.vmhost"):
        s = sessions(image)
    assert not s.instance.timing.restored and snap_host.cold_boots == cold_before + 1
    assert s.run(Program((FileRead(LABEL, 64),))) is not None, "the run goes on"
    warnings = [r.getMessage() for r in caplog.records if "snapshot" in r.getMessage()]
    assert len(warnings) == 1 and "booting cold" in warnings[0], warnings
    assert not master.exists(), "the broken snapshot is gone for everyone"


def test_no_snapshot_boots_every_vm_cold(
    ctx: RunContext, image_for: Callable[[str], Image]
) -> None:
    image = image_for("")
    with ctx.with_snapshots(False).open() as host:
        for _ in range(2):
            with host.session(
                image, default_config(image.module, ctx.limits.call_s), campaign="t-cold"
            ) as s:
                assert not s.instance.timing.restored
        assert host.restores == 0 and host.cold_boots == 2


def test_image_prune_removes_snapshots_of_images_that_are_gone(
    home: Home, image_for: Callable[[str], Image]
) -> None:
    image = image_for("")
    snaps = Snapshots(home.snapshots)
    kept, stray = snaps.dir("1" * 20), snaps.dir("0" * 20)
    for d, of in ((kept, image.id), (stray, "an-image-long-gone")):
        d.mkdir(parents=True, exist_ok=True)
        (d / "state.save").write_bytes(b"x")
        (d / "image").write_text(of + "\n")
    try:
        res = rig(home, "image", "prune", "--keep", "1000")
        assert res.returncode == 0 and "snapshot(s)" in res.stdout, res.stdout + res.stderr
        assert kept.exists() and not stray.exists()
    finally:
        shutil.rmtree(kept, ignore_errors=True)
