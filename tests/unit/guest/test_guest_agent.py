"""The real agent, built natively and run on a socketpair: every call kind, policy, limits, abuse."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_support import RunningAgent, build, frame, read_frame, run_agent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.deadline import Deadline
from rig.errors import RigBug
from rig.guest.channel import ChannelLimits
from rig.guest.protocol import (
    AgentConfig,
    AgentError,
    CallFlag,
    CallStatus,
    CovStatus,
    ExecStatus,
    ProgStatus,
    ioctl_buffers,
    netlink_errors,
)
from rig.prog.program import (
    BAD_FD,
    O_RDONLY,
    O_RDWR,
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
    Special,
    Write,
)
from rig.spec import netlink

FIONREAD = 0x541B


def genl(cmd: int, attrs: bytes, flags: int = netlink.NLM_F_REQUEST | netlink.NLM_F_ACK) -> bytes:
    """A generic netlink request; the agent fills in the family id."""
    return netlink.nlmsg(0, flags, netlink.genl(cmd, 1, attrs), seq=1)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    d = tmp_path / "doors"
    d.mkdir()
    (d / "status").write_bytes(b"mode 1\n" * 10)
    (d / "big").write_bytes(b"B" * 300_000)
    (d / "sink").touch()
    os.mkfifo(d / "fifo")
    (d / "cov").write_bytes(b"not a coverage file")
    os.symlink("/etc/hostname", d / "escape")
    os.link(d / "cov", d / "cov-alias")
    return d


@pytest.fixture
def agent(tmp_path: Path, tree: Path) -> Iterator[RunningAgent]:
    with run_agent(build("all"), tmp_path, ChannelLimits(margin_s=2)) as a:
        a.channel.handshake(Deadline(5))
        a.channel.configure(config(tree), Deadline(10))
        yield a


def config(tree: Path, **kw: object) -> AgentConfig:
    base: dict[str, object] = {
        "allow_paths": (f"{tree}/", "/proc/version", "/proc/sysrq-trigger"),
        "allow_families": ("nlctrl", "@route"),
        "call_timeout_s": 0.3,
        "coverage_path": str(tree / "cov"),
        "max_output": 4096,
    }
    base.update(kw)
    return AgentConfig(**base)  # type: ignore[arg-type]


def test_every_call_kind(agent: RunningAgent, tree: Path) -> None:
    ctrl_get = genl(3, netlink.nla(2, b"nlctrl\0"))
    bad_attr = genl(3, struct.pack("<HH", 200, 2) + b"nlctrl\0\0")
    prog = Program(
        (
            Open(str(tree / "status"), O_RDWR),
            Read(0, 7),
            Ioctl(0, FIONREAD, Buffer.of(size=4)),
            Write(0, b"appended"),
            Close(0),
            NlSocket(),
            NlSend(5, "nlctrl", ctrl_get),
            NlSend(5, "nlctrl", bad_attr),
            FileWrite(str(tree / "sink"), b"x" * (1 << 20)),
            FileRead("/proc/version", 64),
            Close(5),
            Read(0, 1),
        )
    )
    r = agent.channel.run(prog, 11)
    assert r.status == ProgStatus.OK
    c = r.calls
    assert [x.status for x in c] == [CallStatus.OK] * len(c)
    assert c[0].ret >= 0
    assert c[1].output == b"mode 1\n"
    assert c[2].ret == 0 and struct.unpack("<i", c[2].output)[0] == 70 - 7
    assert c[3].ret == 8
    types = [t for t, _, _ in netlink.messages(c[6].output)]
    assert types == [netlink.GENL_ID_CTRL, netlink.NLMSG_ERROR] and netlink_errors(c[6].output) == [
        0
    ]
    assert netlink_errors(c[7].output) == [-errno.EINVAL]
    assert c[8].ret == 1 << 20, "one write(2) of 1 MiB"
    assert c[9].output.startswith(b"Linux version")
    assert (c[11].ret, c[11].errno) == (-1, errno.EBADF), "a closed fd is not reused"
    assert r.cov_status == CovStatus.ON
    assert all(x.flags & CallFlag.COV_ERROR for x in c), "a regular file is no coverage file"
    assert (tree / "status").read_bytes().startswith(b"mode 1\nappended")


def test_mmap_touch_munmap_and_poll(agent: RunningAgent, tree: Path) -> None:
    """A page the file cannot back raises SIGBUS: the touching stops, the program goes on."""
    prog = Program(
        (
            Open(str(tree / "status"), O_RDWR),
            Mmap(0, 3 * 4096, touch=3),  # page 0 is the file, pages 1-2 lie beyond its end
            Poll(0),
            Munmap(1),
            Munmap(1),
            Mmap(BAD_FD, 4096),
            Mmap(0, 4096, offset=1),  # not page aligned
            Munmap(BAD_FD),
            Poll(BAD_FD),
            Read(0, 3),
        )
    )
    r = agent.channel.run(prog, 12)
    assert r.status == ProgStatus.OK, "SIGBUS in the touch did not kill the program"
    c = r.calls
    assert [x.status for x in c] == [CallStatus.OK] * len(c)
    assert c[1].ret == 0
    assert c[2].ret == 0x5, "a regular file is readable and writable at once"
    assert (c[3].ret, c[4].ret, c[4].errno) == (0, -1, errno.EINVAL)
    assert (c[5].ret, c[5].errno) == (-1, errno.EBADF)
    assert (c[6].ret, c[6].errno) == (-1, errno.EINVAL)
    assert (c[7].errno, c[8].ret) == (errno.EINVAL, 0), "poll(2) skips a negative fd"
    assert (tree / "status").read_bytes()[:1] == b"\0", "the first page was written"


def test_rtnetlink_goes_out_raw_and_only_on_a_route_socket(agent: RunningAgent) -> None:
    RTM_GETLINK, RTM_NEWLINK = 18, 16
    ifinfo = struct.pack("<BBHiII", 0, 0, 0, 0, 0, 0)
    dump = netlink.nlmsg(RTM_GETLINK, netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP, ifinfo, seq=1)
    prog = Program(
        (
            NlSocket(0),  # NETLINK_ROUTE
            NlSend(0, "@route", dump),
            NlSocket(),  # generic: a raw message there could reach any family
            NlSend(2, "@route", dump),
        )
    )
    r = agent.channel.run(prog, 13)
    c = r.calls
    types = {t for t, _, _ in netlink.messages(c[1].output)}
    assert RTM_NEWLINK in types, "the kernel's links, at least lo, untouched by the agent"
    assert c[3].status == CallStatus.REFUSED and c[3].errno == errno.EPERM


def test_ioctl_pointers(agent: RunningAgent, tree: Path) -> None:
    inner = Buffer.of(b"inner", size=8)
    outer = Buffer.of(b"\x01" * 4, size=24, ptrs=(Reloc(8, inner), Reloc(16, Special.NULL)))
    args = [
        Special.NULL,
        Special.UNMAPPED,
        Special.KERNEL,
        Buffer.of(size=4, mapped=2),  # int crosses into an unmapped page
        Buffer.of(size=4, mapped=4),  # flush against it
        outer,
    ]
    calls = [Open(str(tree / "status"), O_RDONLY), *(Ioctl(0, FIONREAD, a) for a in args)]
    r = agent.channel.run(Program(tuple(calls)), 1)
    results = [(x.ret, x.errno) for x in r.calls[1:]]
    efault = (-1, errno.EFAULT)
    assert results == [efault, efault, efault, efault, (0, 0), (0, 0)]
    assert r.calls[4].output == b"\0\0"
    assert struct.unpack("<i", r.calls[5].output)[0] == 70
    head, tail = ioctl_buffers(outer, r.calls[6].output)
    assert head[:4] == struct.pack("<i", 70)
    assert struct.unpack_from("<Q", head, 8)[0] > 4096 and head[16:] == bytes(8)
    assert tail == b"inner\0\0\0"


def test_policy_refusals(agent: RunningAgent, tree: Path) -> None:
    prog = Program(
        (
            FileRead("/etc/hostname", 10),  # not allowed
            FileRead(f"{tree}/../doors/status", 10),  # not clean
            FileRead("/proc/sysrq-trigger", 10),  # allowed by the host, denied anyway
            FileRead(str(tree / "cov"), 10),  # the coverage file
            FileRead(str(tree / "cov-alias"), 10),  # ... by another name (a hard link)
            FileRead(str(tree / "escape"), 10),  # symlink out of the allowed tree
            NlSocket(),
            NlSend(6, "devlink", genl(1, b"")),  # family not allowed
            FileRead(str(tree / "status"), 3),
        )
    )
    r = agent.channel.run(prog, 2)
    got = [(x.status, x.errno) for x in r.calls]
    refused = CallStatus.REFUSED
    assert got[:5] == [
        (refused, errno.EACCES),
        (refused, errno.EPERM),
        (refused, errno.EPERM),
        (refused, errno.EPERM),
        (refused, errno.EPERM),
    ]
    assert got[5] == (CallStatus.OK, errno.EXDEV), "RESOLVE_BENEATH stops the symlink"
    assert got[7] == (refused, errno.EPERM)
    assert r.calls[8].output == b"mod"


def test_blocking_call_times_out_and_the_agent_goes_on(agent: RunningAgent, tree: Path) -> None:
    prog = Program((FileRead("/proc/version", 5), Open(str(tree / "fifo"), O_RDONLY), Read(1, 1)))
    t = time.monotonic()
    r = agent.channel.run(prog, 3)
    assert time.monotonic() - t < 3.0
    assert r.status == ProgStatus.TIMED_OUT
    assert [x.status for x in r.calls] == [CallStatus.OK, CallStatus.TIMED_OUT, CallStatus.NOT_RUN]
    assert r.calls[1].duration_ns == 300_000_000
    assert agent.channel.run(Program((FileRead("/proc/version", 5),)), 4).calls[0].ret == 5


def test_output_is_bounded(agent: RunningAgent, tree: Path) -> None:
    r = agent.channel.run(Program((FileRead(str(tree / "big"), 300_000),)), 5)
    c = r.calls[0]
    assert c.ret == 300_000 and len(c.output) == 4096 and c.flags & CallFlag.TRUNCATED


def test_markers_precede_each_program(agent: RunningAgent) -> None:
    prog = Program((FileRead("/proc/version", 1),))
    for _ in agent.channel.run_many(((s, prog) for s in (40, 41, 42)), window=3):
        pass
    lines = agent.kmsg.read_text().splitlines()
    assert lines[-3:] == [f"<5>rig: executing program {s}" for s in (40, 41, 42)]


def test_without_coverage_file_programs_still_run(tmp_path: Path, tree: Path) -> None:
    with run_agent(build("all"), tmp_path) as a:
        a.channel.handshake(Deadline(5))
        a.channel.configure(config(tree, coverage_path=str(tree / "none")), Deadline(10))
        r = a.channel.run(Program((FileRead("/proc/version", 5),)), 1)
        assert (r.cov_status, r.cov_errno) == (CovStatus.UNAVAILABLE, errno.ENOENT)
        assert r.calls[0].ret == 5 and not r.calls[0].flags


def cov_file(npcs: int, cmps: list[tuple[int, int, int, int]], flags: int = 0) -> bytes:
    pcs = [0x100 + 4 * (i % 5) for i in range(npcs)]
    head = struct.pack("<IIII", 0x31564352, npcs, len(cmps), flags)
    return head + struct.pack(f"<{npcs}I", *pcs) + b"".join(struct.pack("<IIQQ", *c) for c in cmps)


@pytest.mark.parametrize("dedup", [False, True])
def test_coverage_is_read_per_call(tmp_path: Path, tree: Path, dedup: bool) -> None:
    """With the fake-coverage build, the coverage file's contents are what the driver saw."""
    cmps = [(0b101, 0x40, 7, 9), (0b110, 0x44, 1 << 40, 2)]
    (tree / "cov").write_bytes(cov_file(12, cmps, flags=2))
    with run_agent(build("test-agent"), tmp_path) as a:
        a.channel.handshake(Deadline(5))
        a.channel.configure(config(tree, dedup_coverage=dedup), Deadline(10))
        r = a.channel.run(Program((FileRead("/proc/version", 5), Close(BAD_FD))), 1)
    assert r.cov_status == CovStatus.ON
    for c in r.calls:
        want = (
            sorted({0x100 + 4 * i for i in range(5)})
            if dedup
            else [0x100 + 4 * (i % 5) for i in range(12)]
        )
        assert list(c.pcs) == want
        assert [(x.type, x.pc, x.arg1, x.arg2) for x in c.cmps] == cmps
        assert c.flags == CallFlag.CMPS_OVERFLOW


@pytest.mark.parametrize(
    "contents",
    [
        b"",
        b"RCV2" + bytes(12),
        struct.pack("<IIII", 0x31564352, 16385, 0, 0),
        struct.pack("<IIII", 0x31564352, 0, 4097, 0),
        struct.pack("<IIII", 0x31564352, 100, 0, 0) + bytes(40),
    ],
)
def test_bad_coverage_is_flagged_not_trusted(tmp_path: Path, tree: Path, contents: bytes) -> None:
    (tree / "cov").write_bytes(contents)
    with run_agent(build("test-agent"), tmp_path) as a:
        a.channel.handshake(Deadline(5))
        a.channel.configure(config(tree), Deadline(10))
        c = a.channel.run(Program((FileRead("/proc/version", 5),)), 1).calls[0]
    assert c.ret == 5 and c.flags == CallFlag.COV_ERROR and not c.pcs and not c.cmps


def test_exec_binary(agent: RunningAgent) -> None:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("no busybox")
    binary = Path(busybox).read_bytes()
    r = agent.channel.exec_binary(binary, ("busybox", "echo", "hi"), timeout_s=5)
    assert (r.status, r.code, r.output) == (ExecStatus.EXITED, 0, b"hi\n")
    r = agent.channel.exec_binary(binary, ("busybox", "sh", "-c", "exit 3"), timeout_s=5)
    assert (r.status, r.code) == (ExecStatus.EXITED, 3)
    r = agent.channel.exec_binary(binary, ("busybox", "yes"), 0.3, max_output=1000)
    assert (r.status, len(r.output), r.truncated) == (ExecStatus.TIMED_OUT, 1000, True)
    t = time.monotonic()
    r = agent.channel.exec_binary(binary, ("busybox", "sleep", "30"), timeout_s=0.3)
    assert r.status == ExecStatus.TIMED_OUT and time.monotonic() - t < 3.0
    r = agent.channel.exec_binary(b"\x7fELF garbage", timeout_s=1)
    assert r.code == 127 and b"cannot execute" in r.output


def test_bench(agent: RunningAgent) -> None:
    r = agent.channel.bench(Program((FileRead("/proc/version", 5),)), 50, 60, seq_base=1000)
    assert r.done == 50 and r.timeouts == r.died == 0 and r.rate > 0
    assert "<5>rig: executing program 1049" in agent.kmsg.read_text()


def test_requests_out_of_order_are_refused(tmp_path: Path) -> None:
    with run_agent(build("all"), tmp_path) as a:
        a.channel.handshake(Deadline(5))
        with pytest.raises(RigBug):
            a.channel.submit(Program(), 1)
        a.channel.config = AgentConfig()  # pretend, so the channel sends it
        with pytest.raises(AgentError, match="NOT_CONFIGURED"):
            a.channel.run(Program(), 1)


# ---------------------------------------------------------------- abuse


def errors_until_hello(sock: socket.socket) -> list[tuple[int, bytes]]:
    """Send a hello and collect the ERROR replies that come before its answer."""
    sock.sendall(frame(1, 77, struct.pack("<IQ", 1, 5)))
    errs = []
    while True:
        type_, tag, payload = read_frame(sock)
        if type_ == 0x81 and tag == 77:
            return errs
        assert type_ == 0xFF
        errs.append((struct.unpack_from("<I", payload)[0], payload[8:]))


@pytest.mark.parametrize(
    ("junk", "code"),
    [
        (b"garbage that is not a frame", 1),
        (struct.pack("<IHHII", 0x41474952, 3, 0, 1, 0xFFFFFFFF), 6),
        (frame(99, 1, b""), 2),
        (frame(3, 1, b"\x01"), 4),
        (frame(3, 1, bytes(12) + b"RIGP"), 4),
        (frame(2, 1, b"\0" * 11), 3),
        (frame(4, 1, struct.pack("<IIH", 1000, 10, 40)), 3),
        (frame(5, 1, bytes(16)), 3),
        (frame(1, 1, b""), 3),
    ],
)
def test_agent_answers_garbage_with_an_error(tmp_path: Path, junk: bytes, code: int) -> None:
    with run_agent(build("all"), tmp_path) as a:
        a.sock.settimeout(5)
        a.sock.sendall(junk)
        errs = errors_until_hello(a.sock)
        assert errs and errs[0][0] == code, errs
        assert a.alive()


def test_incomplete_frame_is_dropped_after_a_pause(tmp_path: Path) -> None:
    with run_agent(build("all"), tmp_path) as a:
        a.sock.settimeout(5)
        a.sock.sendall(frame(1, 1, bytes(12))[:20])
        time.sleep(1.2)
        assert errors_until_hello(a.sock) == [(1, b"incomplete frame dropped")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 7), st.binary(max_size=64)), max_size=6))
def test_agent_survives_random_requests(
    tmp_path_factory: pytest.TempPathFactory, reqs: list[tuple[int, bytes]]
) -> None:
    with run_agent(build("all"), tmp_path_factory.mktemp("a")) as a:
        a.sock.settimeout(5)
        for t, payload in reqs:
            a.sock.sendall(frame(t, 9, payload))
        a.sock.sendall(frame(1, 77, struct.pack("<IQ", 1, 5)))
        while True:
            type_, tag, _ = read_frame(a.sock)
            if (type_, tag) == (0x81, 77):
                break
        assert a.alive()
