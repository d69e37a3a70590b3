"""The host's libvirt, broken the way a fresh machine broke it, is caught by doctor and repaired by setup."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.config import Home, HostLimits
from rig.host import daemons
from tests.vm.cli import rig

pytestmark = pytest.mark.vm

CAPS_CACHE = Path("/var/cache/libvirt/qemu/capabilities")
TOOK = re.compile(r"capability calls took ([0-9.]+)s, ([0-9.]+)s")


@pytest.fixture
def broken_libvirtd(tmp_path: Path, home: Home) -> Iterator[None]:
    """libvirtd behind the mask older rigs made, on a host whose libvirt has never probed QEMU.

    The mask is root-only but carries /dev/kvm's real device number: the
    capability probe (CAP_DAC_OVERRIDE) opens it and records KVM, libvirt's
    own access() check says no, and every capability call re-probes.
    """
    assert daemons.KVM.exists(), "this test needs a host /dev/kvm to mask (the CI machine has one)"
    limits = HostLimits()
    daemons.stop_libvirtd(limits)
    for cached in CAPS_CACHE.glob("*.xml"):
        cached.unlink()
    mask = tmp_path / "old-mask"
    os.mknod(mask, 0o600 | stat.S_IFCHR, daemons.KVM.stat().st_rdev)
    daemons.SOCKET.unlink(missing_ok=True)
    subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            f"mount --bind {mask} {daemons.KVM} && exec libvirtd -d",  # daemonized, as then
        ],
        check=True,
    )
    daemons._wait_socket(daemons.SOCKET, limits.daemon_start_s)
    try:
        yield
    finally:
        # Whatever the test did, later tests get a repaired host.
        subprocess.run(
            [sys.executable, "-m", "rig", "--home", str(home.root), "host", "setup"],
            check=False,
            capture_output=True,
        )


def _took(out: str) -> tuple[float, float]:
    m = TOOK.search(out)
    assert m, out
    return float(m.group(1)), float(m.group(2))


def test_doctor_fails_on_the_broken_host_and_passes_after_setup(
    home: Home, broken_libvirtd: None
) -> None:
    before = rig(home, "doctor")
    assert before.returncode == 1, before.stdout
    line = next(ln for ln in before.stdout.splitlines() if "libvirtd" in ln)
    assert line.startswith("FAIL"), before.stdout
    assert _took(line)[1] >= 1.0, line  # the measured seconds are printed

    setup = rig(home, "host", "setup")
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert "stopped libvirtd" in setup.stdout
    checked = next(ln for ln in setup.stdout.splitlines() if ln.startswith("libvirt self-check"))
    assert _took(checked)[1] < 1.0, checked

    after = rig(home, "doctor")
    line = next(ln for ln in after.stdout.splitlines() if "libvirtd" in ln)
    assert line.startswith("ok"), after.stdout
    assert _took(line)[1] < 1.0
    pid = daemons.running("libvirtd")
    assert pid is not None and daemons.view_of(pid) is daemons.KvmView.MASKED
