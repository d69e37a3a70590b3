"""Programs through the real agent against the real driver: results, refusals, timeouts, markers."""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rig.config import Home
from rig.console.watcher import Ending
from rig.crash.parse import parse_first
from rig.guest.proglog import read_log
from rig.guest.protocol import CallStatus, ioctl_buffers, netlink_errors
from rig.image.build import Image
from rig.prog import text
from rig.prog.program import (
    Buffer,
    Close,
    FileRead,
    FileWrite,
    Ioctl,
    Mmap,
    Munmap,
    NlSend,
    NlSocket,
    Open,
    Poll,
    Program,
    Read,
    Reloc,
    Write,
)
from rig.session import Session
from rig.spec.netlink import messages as netlink_messages
from tests.vm.cli import rig
from tests.vm.conftest import SessionsOf

pytestmark = pytest.mark.vm

GET_INFO, SET_CONFIG, XFER = 0x8038B701, 0x4028B702, 0xC018B703
PEEK32 = 0xC00CB708  # _IOWR(0xB7, 8, struct boundary_peek32): only its compat_ioctl knows it
CMD_GET_STATUS, CMD_SET = 1, 2
A_MODE, A_LABEL = 1, 2


def genl(cmd: int, attrs: bytes = b"", flags: int = 0x5) -> bytes:
    """One generic netlink request; the agent fills in the family id."""
    body = struct.pack("<BBH", cmd, 1, 0) + attrs
    return struct.pack("<IHHII", 16 + len(body), 0, flags, 1, 0) + body


def nla(kind: int, payload: bytes) -> bytes:
    pad = (4 - len(payload) % 4) % 4
    return struct.pack("<HH", 4 + len(payload), kind) + payload + b"\0" * pad


@pytest.fixture
def session(session_of: SessionsOf, image_for: Callable[[str], Image]) -> Iterator[Session]:
    with session_of(image_for("")) as s:
        yield s


def test_every_call_kind_returns_the_drivers_answers(session: Session) -> None:
    program = Program(
        (
            Open("/dev/boundary"),
            Ioctl(0, GET_INFO, Buffer.of(size=56)),
            Write(0, b"hello"),
            Read(0, 64),
            NlSocket(),
            NlSend(4, "boundary", genl(CMD_GET_STATUS)),
            FileWrite("/sys/class/misc/boundary/label", b"probe"),
            FileRead("/proc/boundary/status", 4096),
            Close(0),
        )
    )
    result = session.run(program)
    assert result is not None
    calls = result.calls
    assert all(c.status == CallStatus.OK for c in calls), calls
    assert calls[0].ret >= 0
    version, _flags, buffer_size = struct.unpack_from("<III", calls[1].output)
    assert version == 1 and buffer_size == 0  # fd not configured yet
    assert calls[2].ret == 5
    replies = list(netlink_messages(calls[5].output))
    assert len(replies) >= 2 and netlink_errors(calls[5].output) == [0]  # a reply, then the ack
    assert calls[6].ret == 5
    assert b"label: probe" in calls[7].output
    assert any(c.pcs for c in calls[:2]), "driver coverage comes back with the results"


def test_mmap_touch_and_poll_reach_the_driver(session: Session) -> None:
    """The driver's own mmap and fault handler and poll answer, not the VFS's defaults."""
    program = Program(
        (
            Open("/dev/boundary"),
            Poll(0),
            Write(0, b"x"),
            Poll(0),
            Mmap(0, 4096, prot=0x1, touch=0x1),  # read-only: faulted in by the touch
            Mmap(0, 4096),  # writable: refused by the driver
            Mmap(0, 2 * 4096, prot=0x1),  # more than the one page
            Munmap(4),
            Mmap(0, 4096, prot=0x1, flags=0x2, touch=0x3),  # the write faults: SIGBUS/SEGV
            Poll(0),
        )
    )
    result = session.run(program)
    assert result is not None
    c = result.calls
    assert all(x.status == CallStatus.OK for x in c), c
    assert c[3].ret & 0x1, "POLLIN once the buffer holds a byte"
    assert c[3].ret & 0x4, "POLLOUT while it has room"
    assert c[4].ret == 0 and c[4].pcs, "the mapping and its fault ran driver code"
    assert len(set(c[4].pcs)) > len(set(c[5].pcs)), "touching ran the fault handler too"
    assert (c[5].ret, c[5].errno) == (-1, errno.EPERM)
    assert (c[6].ret, c[6].errno) == (-1, errno.EINVAL)
    assert c[7].ret == 0
    assert c[8].ret == 0 and c[9].ret & 0x1, "a fault in the touch ends only the touch"


def test_an_abi32_program_reaches_the_drivers_compat_ioctl(session: Session) -> None:
    """The 32-bit PEEK exists only in boundary's compat_ioctl: it answers a 32-bit process only."""
    assert session.agent is not None and session.agent.abi32, "the image has /bin/rig-agent32"
    xfer = Buffer.of(  # struct boundary_xfer's addr is a __u64: an 8-byte pointer in both ABIs
        struct.pack("<QIIII", 0, 5, 0, 0, 0), ptrs=(Reloc(0, Buffer.of(b"hello"), 8),)
    )
    peek = Buffer.of(  # struct boundary_peek32's buf is a compat_uptr_t: 4 bytes
        struct.pack("<III", 0, 5, 0), ptrs=(Reloc(0, Buffer.of(size=8), 4),)
    )
    program = Program(
        (
            Open("/dev/boundary"),
            Ioctl(0, SET_CONFIG, Buffer.of(struct.pack("<II32s", 0, 64, b"t"))),
            Ioctl(0, XFER, xfer),
            Ioctl(0, PEEK32, peek),
            Close(0),
        ),
        abi=32,
    )
    result = session.run(program)
    assert result is not None
    c = result.calls
    assert all(x.status == CallStatus.OK for x in c), c
    assert (c[1].ret, c[2].ret, c[3].ret) == (0, 0, 5), c
    head, peeked = ioctl_buffers(peek, c[3].output)
    assert peeked[:5] == b"hello", "the driver copied to the 4-byte pointer's buffer"
    assert struct.unpack_from("<I", head)[0] > 0, "the pointer the agent placed"
    assert c[3].pcs, "coverage comes back from the 32-bit agent too"

    as64 = session.run(replace(program, abi=64))
    assert as64 is not None
    assert (as64.calls[3].ret, as64.calls[3].errno) == (-1, errno.ENOTTY), "native: no such code"


def test_malformed_netlink_gets_the_kernels_error(session: Session) -> None:
    bad_mode = nla(A_MODE, b"\x01\x00")  # u32 attribute given two bytes
    result = session.run(Program((NlSocket(), NlSend(0, "boundary", genl(CMD_SET, bad_mode)))))
    assert result is not None
    assert netlink_errors(result.calls[1].output) == [-errno.EINVAL]


def test_megabyte_sysfs_write_is_one_write_with_a_short_count(session: Session) -> None:
    result = session.run(Program((FileWrite("/sys/class/misc/boundary/label", b"A" * (1 << 20)),)))
    assert result is not None
    call = result.calls[0]
    # The kernel hands sysfs at most a page; the label rejects it, or a short count comes back.
    assert call.status == CallStatus.OK
    assert call.ret < 0 or call.ret <= 4096


def test_path_outside_the_allowlist_is_refused(session: Session) -> None:
    result = session.run(
        Program((FileRead("/etc/shadow", 64), FileWrite("/proc/sysrq-trigger", b"c")))
    )
    assert result is not None
    assert [c.status for c in result.calls] == [CallStatus.REFUSED, CallStatus.REFUSED]


def lock_leak_program() -> Program:
    config = struct.pack("<II32s", 0, 64, b"t")
    bad_op = Buffer.of(struct.pack("<QIIII", 0, 0, 7, 0, 0))
    again = Buffer.of(struct.pack("<QIIII", 0, 0, 0, 0, 0))
    return Program(
        (
            Open("/dev/boundary"),
            Ioctl(0, SET_CONFIG, Buffer.of(config)),
            Ioctl(0, XFER, bad_op),
            Ioctl(0, XFER, again),
        )
    )


def test_blocking_call_times_out_and_the_hung_task_report_wins(
    session_of: SessionsOf, image_for: Callable[[str], Image]
) -> None:
    with session_of(image_for("bugs=ioctl_lock_leak")) as s:
        inst = s.instance
        result = s.run(lock_leak_program())
        assert result is not None
        assert result.calls[3].status == CallStatus.TIMED_OUT
        ending = s.wait_for_report(s.limits.hung_task_worst_s + 15)
        assert ending is not None and ending.ending is Ending.REPORT
        report = parse_first(inst.console_text())
        assert report is not None and report.title.startswith("INFO: task hung in ")


def test_last_console_marker_before_a_crash_matches_the_program_log(
    session_of: SessionsOf, image_for: Callable[[str], Image]
) -> None:
    noise = Program((Open("/dev/boundary"), Ioctl(0, GET_INFO, Buffer.of(size=56)), Close(0)))
    crash = Program((FileWrite("/sys/kernel/debug/boundary/crash_hook", b"1"),))
    with session_of(image_for("bugs=debugfs_crash_hook")) as s:
        list(s.run_many([noise] * 20))
        s.run(crash)
        ending = s.wait_for_report(30)
        assert ending is not None and ending.ending is Ending.REPORT
        logged = read_log(s.log_path)
        assert ending.last_program == logged[-1].seq == 21
        assert logged[-1].file.program == crash


def test_rig_run_prints_results_and_refuses_a_program_for_another_driver(
    home: Home, tmp_path: Path, image_for: Callable[[str], Image]
) -> None:
    good = tmp_path / "good.prog"
    text.dump(
        good, Program((Open("/dev/boundary"), Ioctl(0, GET_INFO, Buffer.of(size=56)), Close(0)))
    )
    res = rig(home, "run", str(good), timeout=300)
    assert res.returncode == 0, res.stderr
    assert "ioctl(r0, 0x8038b701" in res.stdout and "= 0" in res.stdout

    other = tmp_path / "other.prog"
    text.dump(other, Program((Open("/dev/boundary"),)), text.Header(driver_hash="ab" * 32))
    res = rig(home, "run", str(other), timeout=300)
    assert res.returncode != 0
    mine = image_for("").manifest["module"]["source_sha256"]
    assert "ab" * 32 in res.stderr and mine in res.stderr


def test_rig_run_names_file_line_and_call_of_a_malformed_program(
    home: Home, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.prog"
    bad.write_text('rig-program 1\ndriver -\nspec -\nr0 = open("/dev/boundary")\nioctl(r9, 1)\n')
    res = rig(home, "run", str(bad), timeout=300)
    assert res.returncode != 0
    assert f"{bad}:5" in res.stderr and "ioctl" in res.stderr
