"""abi-32 programs: the 64-bit agent relays them to its 32-bit helper (rig-agent32), built natively.

The helper is the same sources built with -m32; the proof that a program ran
there is where its buffers were placed: a 32-bit process has no address at
or above 4 GiB, and a 64-bit static binary maps its memory far above it.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from agent_support import RunningAgent, build, helper_of, run_agent

from rig.deadline import Deadline
from rig.errors import ConfigError
from rig.guest.protocol import (
    AgentConfig,
    AgentError,
    CallFlag,
    CallStatus,
    CovStatus,
    ErrorCode,
    ProgStatus,
    ioctl_buffers,
)
from rig.prog.program import (
    O_RDONLY,
    Buffer,
    Close,
    FileRead,
    Ioctl,
    Open,
    Program,
    Read,
    Reloc,
    Special,
)

FIONREAD = 0x541B
NO_SUCH_IOCTL = 0xAB01  # ENOTTY on a regular file, in either ABI: the buffers stay as placed
FOUR_GIB = 1 << 32


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    d = tmp_path / "doors"
    d.mkdir()
    (d / "status").write_bytes(b"mode 1\n" * 10)
    (d / "cov").write_bytes(b"not a coverage file")
    os.mkfifo(d / "fifo")
    return d


def config(tree: Path, **kw: object) -> AgentConfig:
    base: dict[str, object] = {
        "allow_paths": (f"{tree}/", "/proc/version"),
        "call_timeout_s": 0.5,
        "coverage_path": str(tree / "cov"),
        "max_output": 4096,
    }
    base.update(kw)
    return AgentConfig(**base)  # type: ignore[arg-type]


@contextmanager
def agent_with(
    tmp_path: Path, tree: Path, helper: Path, target: str = "all", **kw: object
) -> Iterator[RunningAgent]:
    """A configured 64-bit agent whose 32-bit helper is `helper`."""
    with run_agent(build(target), tmp_path, args=("-c", str(helper))) as a:
        a.channel.handshake(Deadline(5))
        a.channel.configure(config(tree, **kw), Deadline(10))
        yield a


@pytest.fixture
def agent(tmp_path: Path, tree: Path) -> Iterator[RunningAgent]:
    with agent_with(tmp_path, tree, helper_of(build("all"))) as a:
        yield a


def children(parent: int) -> list[tuple[int, str]]:
    """(pid, command name) of the processes whose parent is `parent`."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == parent:
            out.append((int(entry.name), comm))
    return out


def helpers(agent: RunningAgent) -> list[int]:
    """Pids of the agent's children running rig-agent32 (its helper)."""
    return [pid for pid, comm in children(agent.proc.pid) if comm.startswith("rig-agent32")]


def kill_when_busy(helper: int) -> threading.Thread:
    """Kill the helper once it has a child running a program (the program is in flight)."""

    def run() -> None:
        for _ in range(500):
            if children(helper):
                os.kill(helper, signal.SIGKILL)
                return
            time.sleep(0.01)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def wait_dead(pid: int) -> None:
    """Until pid is a zombie (its parent has not reaped it) or gone."""
    for _ in range(200):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} still runs")


def pointers_program(tree: Path, abi: int) -> Program:
    """A buffer holding a 4-byte and an 8-byte pointer to buffers of its own, and FIONREAD."""
    narrow, wide = Buffer.of(b"narrow", size=8), Buffer.of(b"wide", size=8)
    outer = Buffer.of(b"\xaa" * 16, size=16, ptrs=(Reloc(0, narrow, 4), Reloc(8, wide, 8)))
    return Program(
        (
            Open(str(tree / "status"), O_RDONLY),
            Ioctl(0, NO_SUCH_IOCTL, outer),
            Ioctl(0, FIONREAD, Buffer.of(size=4)),
            Read(0, 7),
            Close(0),
        ),
        abi,
    )


def placed(program: Program, output: bytes) -> tuple[int, bytes, int]:
    """The 4-byte pointer, the bytes after it, and the 8-byte pointer of pointers_program."""
    call = program.calls[1]
    assert isinstance(call, Ioctl)
    head, narrow, wide = ioctl_buffers(call.arg, output)
    assert narrow.startswith(b"narrow") and wide.startswith(b"wide")
    return struct.unpack_from("<I", head)[0], head[4:8], struct.unpack_from("<Q", head, 8)[0]


def test_an_abi32_program_runs_in_the_32bit_helper(agent: RunningAgent, tree: Path) -> None:
    assert agent.channel.info is not None and agent.channel.info.abi32
    program = pointers_program(tree, 32)
    r = agent.channel.run(program, 7)
    assert r.status == ProgStatus.OK and [c.status for c in r.calls] == [CallStatus.OK] * 5
    narrow, after, wide = placed(program, r.calls[1].output)
    assert 0 < wide < FOUR_GIB, f"{wide:#x}: a 32-bit process placed the buffers"
    assert narrow != 0 and after == b"\xaa" * 4, "a 4-byte pointer is 4 bytes"
    assert struct.unpack("<i", r.calls[2].output)[0] == 70
    assert r.calls[3].output == b"mode 1\n"
    assert r.cov_status == CovStatus.ON and r.calls[0].flags & CallFlag.COV_ERROR
    assert agent.kmsg.read_text().splitlines()[-1] == "<5>rig: executing program 7"
    assert len(helpers(agent)) == 1

    # The 64-bit agent still runs abi-64 programs itself, where memory is above 4 GiB.
    program = pointers_program(tree, 64)
    r = agent.channel.run(program, 8)
    narrow, after, wide = placed(program, r.calls[1].output)
    assert wide >= FOUR_GIB and narrow != 0 and after == b"\xaa" * 4


def test_specials_and_programs_in_flight_go_through_the_helper(
    agent: RunningAgent, tree: Path
) -> None:
    kernel, null = Special.KERNEL, Special.NULL
    specials = Buffer.of(
        b"\xff" * 16, ptrs=(Reloc(0, kernel, 4), Reloc(4, null, 4), Reloc(8, kernel))
    )
    prog = Program((Open(str(tree / "status")), Ioctl(0, NO_SUCH_IOCTL, specials)), 32)
    plain = Program((FileRead("/proc/version", 5),), 32)
    mixed = [(1, prog), (2, plain), (3, Program((FileRead("/proc/version", 5),))), (4, plain)]
    results = list(agent.channel.run_many(mixed, window=4))
    assert [r.seq for r in results] == [1, 2, 3, 4]
    head = results[0].calls[1].output
    assert head == struct.pack("<IIQ", 0x81000000, 0, 0xFFFFFFFF81000000), "low bytes, LE"
    assert all(r.calls[-1].output == b"Linux" for r in results[1:])


def test_bench_runs_in_the_helper(agent: RunningAgent) -> None:
    r = agent.channel.bench(Program((FileRead("/proc/version", 5),), 32), 30, 60, seq_base=500)
    assert r.done == 30 and r.timeouts == r.died == 0
    assert "<5>rig: executing program 529" in agent.kmsg.read_text()


def test_the_helper_gets_the_config_in_force(agent: RunningAgent, tree: Path) -> None:
    prog = Program((FileRead(str(tree / "status"), 4),), 32)
    assert agent.channel.run(prog, 1).calls[0].output == b"mode"
    agent.channel.configure(config(tree, allow_paths=("/proc/version",)), Deadline(10))
    c = agent.channel.run(prog, 2).calls[0]
    assert (c.status, c.errno) == (CallStatus.REFUSED, 13), "the new allowlist, not the old"


def test_a_call_over_the_limit_is_timed_out_by_the_helper(agent: RunningAgent, tree: Path) -> None:
    prog = Program((Open(str(tree / "fifo"), O_RDONLY), FileRead("/proc/version", 1)), 32)
    r = agent.channel.run(prog, 1)
    assert r.status == ProgStatus.TIMED_OUT
    assert [c.status for c in r.calls] == [CallStatus.TIMED_OUT, CallStatus.NOT_RUN]
    assert agent.channel.run(Program((FileRead("/proc/version", 5),), 32), 2).calls[0].ret == 5


def test_a_killed_helper_costs_its_program_an_error_and_is_replaced(
    agent: RunningAgent, tree: Path
) -> None:
    version = Program((FileRead("/proc/version", 5),), 32)
    agent.channel.run(version, 1)
    (first,) = helpers(agent)
    # Killed while it runs a program: that program gets an ERROR saying so.
    agent.channel.configure(config(tree, call_timeout_s=10), Deadline(10))
    killer = kill_when_busy(first)
    with pytest.raises(AgentError) as e:
        agent.channel.run(Program((Open(str(tree / "fifo"), O_RDONLY),), 32), 2, Deadline(10))
    killer.join()
    assert e.value.code == ErrorCode.HELPER
    assert e.value.message == "the 32-bit helper died: killed by signal 9"
    assert agent.channel.run(version, 3).calls[0].ret == 5, "the next one starts a new helper"
    (second,) = helpers(agent)
    assert second != first
    # Killed between programs: the next program never sees the old one.
    os.kill(second, signal.SIGKILL)
    wait_dead(second)
    assert agent.channel.run(version, 4).calls[0].ret == 5
    (third,) = helpers(agent)
    assert third != second
    assert "32-bit helper ended between programs" in agent.kmsg.read_text()
    assert agent.alive()


def test_a_missing_helper_is_a_clear_error(tmp_path: Path, tree: Path) -> None:
    helper = tmp_path / "rig-agent32"
    shutil.copy(helper_of(build("all")), helper)
    with agent_with(tmp_path, tree, helper) as a:
        assert a.channel.info is not None and a.channel.info.abi32
        helper.unlink()  # gone after the hello said it was there
        with pytest.raises(AgentError) as e:
            a.channel.run(Program((FileRead("/proc/version", 5),), 32), 1)
        assert e.value.code == ErrorCode.HELPER
        assert e.value.message == (
            f"cannot start the 32-bit helper {helper}: No such file or directory"
        )
        assert a.channel.run(Program((FileRead("/proc/version", 5),)), 2).calls[0].ret == 5
        shutil.copy(helper_of(build("all")), helper)
        assert a.channel.run(Program((FileRead("/proc/version", 5),), 32), 3).calls[0].ret == 5


def test_an_image_without_the_helper_is_refused_on_the_host(tmp_path: Path, tree: Path) -> None:
    with agent_with(tmp_path, tree, tmp_path / "none") as a:
        assert a.channel.info is not None and not a.channel.info.abi32
        with pytest.raises(ConfigError, match="cannot run abi-32 programs: the image has no"):
            a.channel.submit(Program((), 32), 1)
        with pytest.raises(ConfigError, match="rig image build"):
            a.channel.require_abi(32)
        a.channel.require_abi(64)
        assert a.channel.in_flight == 0, "nothing was sent"


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("exit 3", "the 32-bit helper died: exited with status 3"),
        ("exec sleep 60", "the 32-bit helper said nothing for "),
    ],
)
def test_a_helper_that_dies_or_says_nothing(
    tmp_path: Path, tree: Path, script: str, message: str
) -> None:
    helper = tmp_path / "fake-helper"
    helper.write_text(f"#!/bin/sh\n{script}\n")
    helper.chmod(0o755)
    with agent_with(tmp_path, tree, helper) as a:
        t = time.monotonic()
        with pytest.raises(AgentError) as e:
            a.channel.run(Program((FileRead("/proc/version", 5),), 32), 1)
        assert e.value.code == ErrorCode.HELPER and e.value.message.startswith(message)
        assert time.monotonic() - t < 5, "the config's own bound: 2 s with no family"
        assert a.channel.run(Program((FileRead("/proc/version", 5),)), 2).calls[0].ret == 5


def cov_file(npcs: int) -> bytes:
    cmp_ = struct.pack("<IIQQ", 0b111, 0x48, 1 << 40, 3)
    head = struct.pack("<IIII", 0x31564352, npcs, 1, 0)
    return head + struct.pack(f"<{npcs}I", *range(0x200, 0x200 + 4 * npcs, 4)) + cmp_


def test_coverage_comes_back_from_the_helper(tmp_path: Path, tree: Path) -> None:
    """With the fake-coverage builds, the coverage file's contents are what the driver saw."""
    (tree / "cov").write_bytes(cov_file(6))
    helper = helper_of(build("test-agent"))
    with agent_with(tmp_path, tree, helper, "test-agent") as a:
        r = a.channel.run(Program((FileRead("/proc/version", 5), Close(-1)), 32), 1)
    assert r.cov_status == CovStatus.ON
    for c in r.calls:
        assert c.pcs == tuple(range(0x200, 0x218, 4)) and not c.flags
        assert [(x.type, x.pc, x.arg1, x.arg2) for x in c.cmps] == [(0b111, 0x48, 1 << 40, 3)]


def test_the_32bit_agent_alone_refuses_abi64_programs(tmp_path: Path, tree: Path) -> None:
    with run_agent(helper_of(build("all")), tmp_path) as a:
        info = a.channel.handshake(Deadline(5))
        assert info.abi32
        a.channel.configure(config(tree), Deadline(10))
        with pytest.raises(AgentError, match="a 32-bit agent runs abi-32 programs only"):
            a.channel.run(Program((FileRead("/proc/version", 5),)), 1)
        program = pointers_program(tree, 32)
        r = a.channel.run(program, 2)
        assert 0 < placed(program, r.calls[1].output)[2] < FOUR_GIB
