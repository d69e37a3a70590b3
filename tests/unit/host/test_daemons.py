"""libvirtd's /dev/kvm: the mask nobody can open, how a view is named, and the setup self-check."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from rig.errors import InfraError
from rig.host import daemons
from rig.host.daemons import CapabilityCheck, KvmView, classify_view
from rig.host.selfcheck import check_and_repair


def check_mask(mask: Path) -> None:
    st = mask.lstat()
    assert stat.S_ISCHR(st.st_mode)
    assert st.st_rdev == os.makedev(0, 0)
    assert stat.S_IMODE(st.st_mode) == 0o600


def test_mask_is_created(tmp_path: Path) -> None:
    daemons.ensure_mask(tmp_path / "mask")
    check_mask(tmp_path / "mask")


@pytest.mark.parametrize("mode", [0o000, 0o644])
def test_a_stale_regular_file_is_replaced(tmp_path: Path, mode: int) -> None:
    mask = tmp_path / "mask"
    mask.write_text("")
    mask.chmod(mode)
    daemons.ensure_mask(mask)
    check_mask(mask)


def test_an_old_mask_of_the_real_device_is_replaced(tmp_path: Path) -> None:
    # The mask older rigs made: root-only, but of /dev/kvm's own device number,
    # which the capability probe (CAP_DAC_OVERRIDE) can open.
    mask = tmp_path / "mask"
    os.mknod(mask, 0o600 | stat.S_IFCHR, os.makedev(10, 232))
    daemons.ensure_mask(mask)
    check_mask(mask)


def test_nobody_can_open_the_mask_not_even_root(tmp_path: Path) -> None:
    mask = tmp_path / "mask"
    daemons.ensure_mask(mask)
    with pytest.raises(OSError) as e:
        os.close(os.open(mask, os.O_RDWR))
    # root gets past the mode; the device itself does not exist.
    assert e.value.errno in (errno.ENXIO, errno.EACCES, errno.ENODEV)


def _st(mode: int, rdev: int = 0, ino: int = 1, dev: int = 5) -> os.stat_result:
    # os.stat_result takes st_rdev only through its dict part.
    return os.stat_result((mode, ino, dev, 1, 0, 0, 0, 0, 0, 0), {"st_rdev": rdev})


HOST = _st(stat.S_IFCHR | 0o600, os.makedev(10, 232), ino=100, dev=6)

VIEWS = [
    ("absent", None, KvmView.ABSENT),
    ("the host's own node", HOST, KvmView.HOST),
    ("our mask", _st(stat.S_IFCHR | 0o600, os.makedev(0, 0), ino=7), KvmView.MASKED),
    (
        "an old root-only mask of the real device",
        _st(stat.S_IFCHR | 0o600, os.makedev(10, 232), ino=8),
        KvmView.OTHER,
    ),
    (
        "a 0:0 node others can open",
        _st(stat.S_IFCHR | 0o666, os.makedev(0, 0), ino=9),
        KvmView.OTHER,
    ),
    ("/dev/null bound over it", _st(stat.S_IFCHR | 0o666, os.makedev(1, 3)), KvmView.OTHER),
    ("a regular file", _st(stat.S_IFREG | 0o600), KvmView.OTHER),
]


@pytest.mark.parametrize(("what", "theirs", "view"), VIEWS, ids=[v[0] for v in VIEWS])
def test_views(what: str, theirs: os.stat_result | None, view: KvmView) -> None:
    assert classify_view(theirs, HOST) is view


def test_wanted_views_follow_the_verdict() -> None:
    assert daemons.wanted_views("tcg") == (KvmView.MASKED, KvmView.ABSENT)
    assert daemons.wanted_views("kvm") == (KvmView.HOST,)


def fast() -> CapabilityCheck:
    return CapabilityCheck((3.9, 0.001), 1.0, "test")


def slow() -> CapabilityCheck:
    return CapabilityCheck((7.8, 8.1), 1.0, "test")


def test_a_fast_host_is_not_repaired() -> None:
    repairs: list[int] = []
    lines = check_and_repair(fast, lambda: repairs.append(1) or [], "tcg")
    assert repairs == []
    assert "0.00s" in lines[0]


def test_a_slow_host_is_repaired_once_and_checked_again() -> None:
    results = iter([slow(), fast()])
    repairs: list[int] = []
    lines = check_and_repair(
        lambda: next(results), lambda: repairs.append(1) or ["restarted"], "tcg"
    )
    assert repairs == [1]
    assert "8.10s" in lines[0] and "restarted" in lines and "after the repair" in lines[-1]


def test_a_host_that_stays_slow_is_an_infra_error_naming_cause_and_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(daemons, "running", lambda _name: None)
    repairs: list[int] = []
    with pytest.raises(InfraError) as e:
        check_and_repair(slow, lambda: repairs.append(1) or [], "tcg")
    assert repairs == [1]
    msg = str(e.value)
    assert "8.10s" in msg and "re-probing QEMU" in msg and "Fix:" in msg and "\n" not in msg


MOUNTINFO = """22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime{fields} - ext4 /dev/vda rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw
"""


@pytest.mark.parametrize(
    ("fields", "receives"),
    [("", False), (" shared:1", True), (" master:1", True), (" shared:3 master:1", True)],
    ids=["private", "shared", "slave", "shared-and-slave"],
)
def test_a_namespace_receives_later_mounts_only_if_its_root_propagates(
    fields: str, receives: bool
) -> None:
    assert daemons.receives_mounts(MOUNTINFO.format(fields=fields)) is receives
