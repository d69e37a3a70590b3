"""rig doctor's gcc -m32 check: the 32-bit guest agent needs gcc-multilib."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rig import doctor
from rig.config import Home


def test_gcc_m32_builds_a_static_binary_here(tmp_path: Path) -> None:
    if not shutil.which("gcc"):
        pytest.skip("no gcc")
    check = doctor._gcc_m32(Home(tmp_path), tmp_path, "")
    assert check.ok, check.detail


def test_without_multilib_the_check_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "gcc"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\necho '/usr/include/features.h:1: fatal error: gnu/stubs-32.h:"
        " No such file or directory' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    monkeypatch.setattr(doctor.packages, "missing", lambda wanted: ["gcc-multilib"])
    check = doctor._gcc_m32(Home(tmp_path), tmp_path, "")
    assert not check.ok
    assert "gnu/stubs-32.h" in check.detail and "missing: gcc-multilib" in check.detail
    assert check.fix == "apt-get install gcc-multilib (or rig host setup)"
