"""C reproducers: they compile statically, and on the host they do what the real agent does.

The agreement test runs one program two ways on the host: through the guest
agent built natively (vmimages/agent, as the guest tests do), and as the
generated C, sent to that same agent as a binary to execute (the path
reproducers take in a VM). Both run against stand-ins for a driver's doors:
files in a temporary tree, FIONREAD on a regular file for ioctls with
output, the kernel's own netlink controller for generic netlink.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.deadline import Deadline
from rig.errors import BuildError
from rig.guest.protocol import AgentConfig, CallStatus, ExecStatus
from rig.guest.surface import default_config
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
from rig.repro import csource, policy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guest"))
from agent_support import RunningAgent, build, helper_of, run_agent

AGENT_SRC = Path(__file__).resolve().parents[3] / "vmimages" / "agent"
FIONREAD = 0x541B


def needs_gcc() -> None:
    if not shutil.which("gcc"):
        pytest.skip("gcc is needed to build C reproducers")


def genl(cmd: int, attrs: bytes = b"", flags: int = 0x5) -> bytes:
    body = struct.pack("<BBH", cmd, 1, 0) + attrs
    return struct.pack("<IHHII", 16 + len(body), 0, flags, 1, 0) + body


def nla(kind: int, payload: bytes) -> bytes:
    pad = (4 - len(payload) % 4) % 4
    return struct.pack("<HH", 4 + len(payload), kind) + payload + b"\0" * pad


def every_kind(module: str = "boundary") -> Program:
    """Every call kind, every special pointer, nested and crossing buffers, refusals."""
    inner = Buffer.of(b"inner", size=8)
    return Program(
        (
            Open(f"/dev/{module}", O_RDWR),
            Ioctl(0, 0xC018B703, Buffer.of(b"\x01" * 4, size=24, ptrs=(Reloc(8, inner),))),
            Ioctl(0, FIONREAD, Special.NULL),
            Ioctl(0, FIONREAD, Special.UNMAPPED),
            Ioctl(0, FIONREAD, Special.KERNEL),
            Ioctl(0, FIONREAD, Buffer.of(size=4, mapped=2)),
            Ioctl(0, FIONREAD, Buffer.of(size=4, mapped=4)),
            Ioctl(0, 0xB705, 0),
            Ioctl(0, 0xB705, Buffer.of(b"\x7f" * 100, ptrs=(Reloc(0, Special.KERNEL),))),
            Write(0, b'quote" backslash\\ nul\x00 high\xff?\x41B'),
            Write(0, b"A" * 5000),
            Read(0, 16),
            NlSocket(),
            NlSend(12, module, genl(1)),
            NlSend(12, "devlink", genl(1)),
            FileWrite(f"/sys/class/misc/{module}/label", b"x"),
            FileRead(f"/proc/{module}/status", 4096),
            FileRead("/proc/sysrq-trigger", 1),
            FileWrite("/etc/passwd", b"no"),
            Close(0),
            Close(BAD_FD),
            Read(BAD_FD, 1, thread=3),
            Mmap(0, 4096, touch=3),
            Munmap(22),
            Poll(12, 0x41),
            Munmap(BAD_FD),
        )
    )


def test_every_call_kind_and_special_pointer_compiles_statically(tmp_path: Path) -> None:
    needs_gcc()
    prog = every_kind()
    prog.validate()
    src = csource.generate(
        [prog, Program(())], default_config("boundary", 5.0), title="BUG: x */ in y"
    )
    out = csource.compile_static(src, tmp_path / "repro")
    assert out.read_bytes()[:4] == b"\x7fELF"
    assert b"interp" not in subprocess.run(
        ["readelf", "-l", str(out)], capture_output=True, check=False
    ).stdout.lower() or not shutil.which("readelf"), "a static binary needs no loader"
    assert "* /" in src.splitlines()[1], "a title cannot end the comment"
    # Refusals the agent makes by name are the refusal itself in C.
    assert 'open("/etc/passwd"' not in src and "refuse(13)" in src and "refuse(1)" in src


def test_c_strings_hold_exactly_their_bytes() -> None:
    data = bytes(range(256)) + b"\x41B0?" + b'"\\'
    lit = csource.c_string(data)
    # Octal escapes are at most three digits, so a digit after one is its own character.
    decoded = re.sub(
        r"\\([0-7]{3}|.)",
        lambda m: chr(int(m.group(1), 8)) if len(m.group(1)) == 3 else m.group(1),
        lit[1:-1],
    )
    assert decoded.encode("latin-1") == data


def test_policy_twin_lists_the_agents_deny_paths() -> None:
    src = (AGENT_SRC / "policy.c").read_text()
    block = re.search(r"deny_paths\[\] = \{(.*?)\};", src, re.S)
    assert block is not None
    assert tuple(re.findall(r'"([^"]+)"', block.group(1))) == policy.DENY_PATHS


def test_policy_twin_decides_like_policy_open() -> None:
    cfg = default_config("boundary", 5.0)
    assert policy.access(cfg, "/dev/boundary") == policy.Access()
    assert policy.access(cfg, "/proc/boundary/status").entry == "/proc/boundary/"
    assert policy.access(cfg, "/proc/boundary").refused_errno == errno.EACCES
    assert policy.access(cfg, "/proc/boundary/").refused_errno == errno.EPERM, "not clean"
    assert policy.access(cfg, "/proc/boundary/../kcore").refused_errno == errno.EPERM
    assert policy.access(cfg, "/sys/kernel/debug/rigcov/cov").refused_errno == errno.EPERM
    assert policy.access(cfg, "/proc/sysrq-trigger").refused_errno == errno.EPERM
    assert policy.access(cfg, "/dev/boundary2").refused_errno == errno.EACCES
    assert policy.access(cfg, "/dev/boundary/x").refused_errno == errno.EACCES, "exact means exact"


# ---------------------------------------------------------------- agreement with the agent


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    d = tmp_path / "doors"
    d.mkdir()
    (d / "dev").write_bytes(b"0123456789" * 7)
    (d / "label").touch()
    (d / "status").write_bytes(b"mode 1\n" * 10)
    os.symlink("/etc/hostname", d / "escape")
    return d


def stand_in_config(tree: Path) -> AgentConfig:
    return AgentConfig(
        allow_paths=(str(tree / "dev"), f"{tree}/", "/proc/sysrq-trigger"),
        allow_families=("nlctrl", "@route"),
        call_timeout_s=2.0,
        max_output=csource.MAX_OUTPUT,
    )


NO_SUCH_LINK = struct.pack("<BBHiII", 0, 0, 0, 999_999, 0, 0)  # ifinfomsg of no link


def stand_in_program(tree: Path) -> Program:
    inner = Buffer.of(b"inner", size=8)
    outer = Buffer.of(b"\x01" * 4, size=24, ptrs=(Reloc(8, inner), Reloc(16, Special.NULL)))
    ctrl_get = genl(3, nla(2, b"nlctrl\0"))
    bad_attr = genl(3, struct.pack("<HH", 200, 2) + b"nlctrl\0\0")
    return Program(
        (
            Open(str(tree / "dev"), O_RDWR),
            Read(0, 7),
            Ioctl(0, FIONREAD, Special.NULL),
            Ioctl(0, FIONREAD, Special.UNMAPPED),
            Ioctl(0, FIONREAD, Special.KERNEL),
            Ioctl(0, FIONREAD, Buffer.of(size=4, mapped=2)),
            Ioctl(0, FIONREAD, Buffer.of(size=4, mapped=4)),
            Ioctl(0, FIONREAD, outer),
            Ioctl(0, 0x5401, 0),
            Write(0, b"appended\x00\xff"),
            Close(0),
            Read(0, 1),
            NlSocket(),
            NlSend(12, "nlctrl", ctrl_get),
            NlSend(12, "nlctrl", bad_attr),
            NlSend(12, "devlink", genl(1)),
            FileWrite(str(tree / "label"), b"x" * 70_000),
            FileRead(str(tree / "status"), 20),
            FileRead(str(tree / "escape"), 10),
            FileRead(f"{tree}/../doors/status", 10),
            FileRead("/proc/sysrq-trigger", 1),
            FileRead("/etc/hostname", 10),
            Open(str(tree / "status"), O_RDONLY | 0o100000),
            Close(BAD_FD),
            Mmap(22, 2 * 4096, prot=1, flags=2, touch=1),  # page 1 is past the end: SIGBUS
            Poll(22),
            Munmap(24),
            Munmap(24),
            Poll(12),
            NlSocket(0),  # rtnetlink: messages go out raw
            NlSend(29, "@route", struct.pack("<IHHII", 32, 18, 5, 1, 0) + NO_SUCH_LINK),
            NlSend(12, "@route", struct.pack("<IHHII", 32, 18, 5, 1, 0) + NO_SUCH_LINK),
        )
    )


@pytest.fixture
def agent(tmp_path: Path, tree: Path) -> Iterator[RunningAgent]:
    # With its 32-bit helper built beside it, for abi-32 programs.
    with run_agent(build("all"), tmp_path, args=("-c", str(helper_of(build("all"))))) as a:
        a.channel.handshake(Deadline(5))
        a.channel.configure(stand_in_config(tree), Deadline(10))
        yield a


def _mask_nl(out: bytes) -> bytes:
    """Zero each message's sequence and port id (the sockets differ) in netlink replies."""
    b = bytearray(out)
    off = 0
    while len(b) - off >= 16:
        (mlen,) = struct.unpack_from("<I", b, off)
        if mlen < 16:
            break
        b[off + 8 : off + 16] = bytes(8)
        off += (mlen + 3) & ~3
    return bytes(b)


def _normal(program: Program, i: int, ret: int, err: int, out: bytes) -> tuple[object, ...]:
    call = program.calls[i]
    if isinstance(call, Open | NlSocket):
        ret = min(ret, 0)  # fd numbers differ between the agent's child and the C's
    if isinstance(call, NlSend):
        out = _mask_nl(out)
    if isinstance(call, Ioctl) and isinstance(call.arg, Buffer) and call.arg.ptrs:
        b = bytearray(out)
        for r in call.arg.ptrs:  # addresses of the pointed-to buffers differ
            if r.target in (Special.NULL, Special.KERNEL):
                continue  # the same everywhere
            b[r.offset : r.offset + r.width] = bytes(r.width)
        out = bytes(b)
    return ret, err, out


Outcome = tuple[object, ...]


def run_both(
    agent: RunningAgent, program: Program, tree: Path, tmp_path: Path
) -> tuple[list[Outcome], bytes]:
    """Run a program through the agent, then as C; each call's outcome must be the same.

    Returns the agent's outcomes and the reproducer binary.
    """
    program.validate()
    config = stand_in_config(tree)
    (tree / "label").write_bytes(b"")
    got = agent.channel.run(program, 1)
    assert got.calls[1].output == b"0123456"
    by_agent = [
        (c.status.name.lower(), *_normal(program, i, c.ret, c.errno, c.output))
        for i, c in enumerate(got.calls)
    ]
    label_after_agent = (tree / "label").read_bytes()
    (tree / "dev").write_bytes(b"0123456789" * 7)
    (tree / "label").write_bytes(b"")

    binary = csource.compile_static(csource.generate([program], config), tmp_path / "repro")
    res = agent.channel.exec_binary(
        binary.read_bytes(), ("repro", "-v"), timeout_s=20, max_output=1 << 20
    )
    assert (res.status, res.code) == (ExecStatus.EXITED, 0), res.output[-2000:]
    lines = [ln for ln in res.output.decode().splitlines() if ln.startswith("call 0.")]
    by_c = []
    for ln in lines:
        m = re.fullmatch(r"call 0\.(\d+) ret=(-?\d+) errno=(\d+) st=(\w+) out=([0-9a-f]*)", ln)
        assert m, ln
        i = int(m.group(1))
        st = "refused" if m.group(4) == "refused" else "ok"
        by_c.append(
            (st, *_normal(program, i, int(m.group(2)), int(m.group(3)), bytes.fromhex(m.group(5))))
        )
    assert len(by_c) == len(program.calls)
    for i, (a, c) in enumerate(zip(by_agent, by_c, strict=True)):
        assert a == c, f"call {i} ({program.calls[i]}): agent {a} != C {c}"
    assert (tree / "label").read_bytes() == label_after_agent
    assert all(c.status != CallStatus.TIMED_OUT for c in got.calls)
    return by_agent, binary.read_bytes()


def test_the_c_reproducer_does_what_the_agent_does(
    agent: RunningAgent, tree: Path, tmp_path: Path
) -> None:
    needs_gcc()
    by_agent, _ = run_both(agent, stand_in_program(tree), tree, tmp_path)
    # The checks above compared like with like; make sure the program said something.
    assert by_agent[2][1:3] == (-1, errno.EFAULT) and by_agent[6][1] == 0
    assert by_agent[13][0] == "ok" and by_agent[15][0] == "refused"
    assert [s[0] for s in by_agent].count("refused") >= 4
    assert [a[1] for a in by_agent[24:29]] == [0, 0x5, 0, -1, 0x4], "mmap, poll, munmap ran"
    assert by_agent[30][0] == "ok" and by_agent[31][0] == "refused", "raw only on a route socket"
    assert struct.unpack_from("<i", by_agent[30][3], 16)[0] == -errno.ENODEV


def test_a_call_over_the_limit_ends_its_program_and_the_next_one_runs(
    agent: RunningAgent, tree: Path, tmp_path: Path
) -> None:
    needs_gcc()
    os.mkfifo(tree / "fifo")
    config = AgentConfig(allow_paths=(f"{tree}/",), call_timeout_s=0.3)
    blocked = Program((Open(str(tree / "fifo"), O_RDONLY), FileRead(str(tree / "status"), 4)))
    after = Program((FileRead(str(tree / "status"), 4),))
    binary = csource.compile_static(csource.generate([blocked, after], config), tmp_path / "r")
    res = agent.channel.exec_binary(binary.read_bytes(), ("repro", "-v"), timeout_s=10)
    out = res.output.decode()
    assert (res.status, res.code) == (ExecStatus.EXITED, csource.EXIT_TIMED_OUT), out
    assert "program 0 call 0 timed out" in out
    assert "call 0.1" not in out, "the rest of a timed-out program does not run"
    assert re.search(r"call 1\.0 ret=4 errno=0 st=ok out=6d6f6465", out)


def test_arena_and_kernel_address_twins_match_the_agent() -> None:
    header = (AGENT_SRC / "agent.h").read_text()
    assert re.search(r"#define SCRATCH\s+\(1u << 20\)", header)
    assert re.search(
        r"#define ARENA_SIZE\s+\(MAX_ARENA \+ MAX_BUFFERS \* PAGE \+ SCRATCH\)", header
    )
    assert csource.AGENT_ARENA == (32 << 20) + 1024 * 4096 + (1 << 20)
    m = re.search(r"#define KERNEL_ADDR\s+0x([0-9a-f]+)ull", header)
    assert m is not None and int(m.group(1), 16) == csource.KERNEL_ADDR


NO_SUCH_IOCTL = 0xAB01  # ENOTTY on a regular file: the buffers stay as placed


def abi32_program(tree: Path) -> Program:
    """The stand-in program as abi 32, with 4- and 8-byte pointers to buffers and specials."""
    inner = Buffer.of(b"in", size=4)
    ptrs = (
        Reloc(0, inner, 4),
        Reloc(4, Special.KERNEL, 4),
        Reloc(8, Special.KERNEL, 8),
        Reloc(16, Buffer.of(b"wide", size=8), 8),
        Reloc(24, Special.NULL, 4),
    )
    mixed = Buffer.of(b"\xaa" * 32, ptrs=ptrs)
    return Program((*stand_in_program(tree).calls, Ioctl(22, NO_SUCH_IOCTL, mixed)), 32)


def test_an_abi32_reproducer_is_32bit_and_does_what_the_helper_does(
    agent: RunningAgent, tree: Path, tmp_path: Path
) -> None:
    needs_gcc()
    program = abi32_program(tree)
    by_agent, binary = run_both(agent, program, tree, tmp_path)
    assert binary[4] == 1, "ELFCLASS32: built with -m32"
    assert by_agent[2][1:3] == (-1, errno.EFAULT) and by_agent[6][1] == 0
    assert by_agent[30][0] == "ok" and by_agent[31][0] == "refused"
    head = by_agent[-1][3]
    assert isinstance(head, bytes)
    assert head[4:8] == struct.pack("<I", 0x81000000), "the low 4 bytes of the kernel address"
    assert head[8:16] == struct.pack("<Q", csource.KERNEL_ADDR), "an 8-byte one keeps it whole"
    assert head[24:32] == bytes(4) + b"\xaa" * 4, "a 4-byte pointer is 4 bytes"


def test_an_abi32_reproducer_says_so_and_refuses_a_64bit_build(tmp_path: Path) -> None:
    needs_gcc()
    src = csource.generate([Program((FileRead("/proc/version", 5),), 32)], AgentConfig())
    assert "#define RIG_ABI 32" in src and "Build: gcc -m32 -static -O1" in src
    assert "compat_ioctl" in src.split("*/")[0]
    (tmp_path / "r.c").write_text(src)
    proc = subprocess.run(
        ["gcc", *csource.CFLAGS, "-o", str(tmp_path / "r"), str(tmp_path / "r.c")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0 and "build it with gcc -m32" in proc.stderr
    sixty_four = csource.generate([Program((FileRead("/proc/version", 5),))], AgentConfig())
    assert "#define RIG_ABI 64" in sixty_four and "Build: gcc -static -O1" in sixty_four
    with pytest.raises(BuildError, match="both ABIs"):
        csource.generate([Program(), Program((), 32)], AgentConfig())
    assert csource.build_command(32) == "gcc -m32 -static -O1 -o repro repro.c", "repro.md's"
