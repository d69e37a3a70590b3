"""The KVM-or-TCG verdict is right on hosts whose /dev/kvm cannot run ordinary guests."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.errors import ConfigError
from rig.host import accel


def sysmods(tmp_path: Path, *names: str) -> Path:
    for n in names:
        (tmp_path / "sys" / n).mkdir(parents=True)
    return tmp_path / "sys"


def test_paravirtual_kvm_means_tcg(tmp_path: Path) -> None:
    kvm = tmp_path / "kvm"
    kvm.touch()
    v = accel.probe(sysmods(tmp_path, "kvm", "kvm_pvm"), kvm)
    assert v.accel == "tcg"
    assert "kvm_pvm" in v.reason


def test_no_dev_kvm_means_tcg(tmp_path: Path) -> None:
    assert accel.probe(sysmods(tmp_path, "kvm_intel"), tmp_path / "none").accel == "tcg"


def test_hardware_kvm_module_means_kvm(tmp_path: Path) -> None:
    kvm = tmp_path / "kvm"
    kvm.touch()
    assert accel.probe(sysmods(tmp_path, "kvm", "kvm_amd"), kvm).accel == "kvm"


def test_override_wins_and_bad_values_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RIG_ACCEL", raising=False)
    path = tmp_path / "host.json"
    accel.save(path, accel.AccelVerdict("tcg", "probed"))
    assert accel.current(path, "kvm").accel == "kvm"
    monkeypatch.setenv("RIG_ACCEL", "kvm")
    assert accel.current(path).accel == "kvm"
    with pytest.raises(ConfigError, match="unknown accel"):
        accel.current(path, "xen")


def test_corrupt_verdict_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RIG_ACCEL", raising=False)
    path = tmp_path / "host.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"host\.json"):
        accel.current(path)
