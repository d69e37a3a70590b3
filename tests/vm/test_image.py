"""Guest images: reproducible byte for byte wherever they are built, cached by their inputs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from rig.config import Home
from rig.context import RunContext
from rig.image.build import build
from rig.image.kernel import default_version

pytestmark = pytest.mark.vm


def test_same_inputs_give_the_same_bytes_from_another_home_and_path(
    ctx: RunContext, driver_dir: Path, tmp_path: Path
) -> None:
    home = ctx.home
    first = ctx.build_image(driver_dir, params="bugs=all")
    elsewhere = tmp_path / "a" / "much" / "longer" / "path" / "driver"
    shutil.copytree(driver_dir, elsewhere)
    other_home = Home(tmp_path / "other-home").ensure()
    # Share the unpacked kernel only: the driver, agent and initramfs are built anew.
    (other_home.kernels).rmdir()
    other_home.kernels.symlink_to(home.kernels)
    second = build(other_home, ctx.image_request(elsewhere, params="bugs=all"))
    assert second.manifest["sha256"]["module.ko"] == first.manifest["sha256"]["module.ko"]
    assert second.manifest["sha256"]["initramfs.cpio"] == first.manifest["sha256"]["initramfs.cpio"]
    assert str(elsewhere).encode() not in (second.dir / "initramfs.cpio").read_bytes()


def test_second_build_reuses_the_cached_image(ctx: RunContext, driver_dir: Path) -> None:
    first = ctx.build_image(driver_dir)
    stamp = (first.dir / "initramfs.cpio").stat().st_mtime_ns
    again = ctx.build_image(driver_dir)
    assert again.dir == first.dir
    assert (again.dir / "initramfs.cpio").stat().st_mtime_ns == stamp
    m = again.manifest
    assert m["kernel"]["version"] == default_version()
    for key in ("cmdline", "vcpus", "ram_mib", "machine", "accel", "qemu_version"):
        assert m[key], key


def test_driver_builds_without_warnings(driver_dir: Path, tmp_path: Path) -> None:
    work = tmp_path / "driver"
    shutil.copytree(
        driver_dir, work, ignore=shutil.ignore_patterns("*.o", "*.ko", "*.mod*", ".*.cmd")
    )
    kdir = Path("/lib/modules") / default_version() / "build"
    proc = subprocess.run(
        ["make", "-C", str(kdir), f"M={work}", "W=1", "modules"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning:" not in proc.stderr + proc.stdout, proc.stderr
