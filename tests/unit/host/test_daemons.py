"""The /dev/kvm mask libvirtd runs under is always a root-only node of the right device."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from rig.host import daemons


@pytest.fixture
def fake_kvm(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(daemons, "KVM", Path("/dev/null"))  # any character device will do
    return Path("/dev/null")


def check(mask: Path, dev: Path) -> None:
    st = mask.lstat()
    assert stat.S_ISCHR(st.st_mode)
    assert st.st_rdev == dev.stat().st_rdev
    assert stat.S_IMODE(st.st_mode) == 0o600


def test_mask_is_created(tmp_path: Path, fake_kvm: Path) -> None:
    daemons.ensure_mask(tmp_path / "mask")
    check(tmp_path / "mask", fake_kvm)


@pytest.mark.parametrize("mode", [0o000, 0o644])
def test_a_stale_regular_file_or_open_node_is_replaced(
    tmp_path: Path, fake_kvm: Path, mode: int
) -> None:
    mask = tmp_path / "mask"
    mask.write_text("")
    mask.chmod(mode)
    daemons.ensure_mask(mask)
    check(mask, fake_kvm)
