"""Property tests of the bundled driver, written as a driver author writes them.

Run with the planted bug ioctl_unconfigured on (the `rig` marker below): an
XFER on an fd that never had SET_CONFIG dereferences the fd's NULL config,
so `test_xfer_never_crashes` fails with that bug's title and a two-call
program, the smallest hypothesis finds. tests/vm/test_examples.py checks
that it does; the other tests pass.

    pytest tests/examples/test_boundary_xfer.py --rig-home ~/.local/share/rig
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig import strategies
from rig.prog.program import Buffer, Ioctl, Open, Program
from rig.testing import RigVm, netlink_errno

SPEC = Path(__file__).resolve().parents[2] / "corpora" / "specs" / "boundary.yaml"
DEV = "/dev/boundary"
SET_CONFIG, GET_INFO = 0x4028B702, 0x8038B701

# The rig marker says what rig_vm boots: here the bundled driver with one planted bug on.
pytestmark = [pytest.mark.vm, pytest.mark.rig(params="bugs=ioctl_unconfigured")]


def test_doors_answer(rig_vm: RigVm) -> None:
    """Plain checks with the helpers: each is one small program on the shared VM."""
    info = rig_vm.ioctl(DEV, "BOUNDARY_IOC_GET_INFO", bytes(56))
    assert info.ok and struct.unpack_from("<I", info.output)[0] > 0  # version
    assert rig_vm.sysfs_read("/sys/devices/virtual/misc/boundary/mode").strip().isdigit()
    status = rig_vm.genl("boundary", "get-status")
    assert netlink_errno(status.output) == 0


@settings(max_examples=5, deadline=None)
@given(size=st.integers(1, 4096))
def test_config_round_trips(rig_vm: RigVm, size: int) -> None:
    """What SET_CONFIG sets, GET_INFO reports, on the same fd."""
    config = struct.pack("<II32s", 0, size, b"example")
    res = rig_vm.run(
        [Open(DEV), Ioctl(0, SET_CONFIG, Buffer.of(config)), Ioctl(0, GET_INFO, Buffer.of(size=56))]
    )
    assert res.calls[1].ok
    assert struct.unpack_from("<I", res.calls[2].output, 8)[0] == size


@settings(max_examples=10, deadline=None)
@given(strategies.ioctl(SPEC, "BOUNDARY_IOC_XFER"))
def test_xfer_never_crashes(rig_vm: RigVm, prog: Program) -> None:
    """Whatever argument XFER gets, on a fresh fd, the kernel stays up."""
    rig_vm.run(prog)
