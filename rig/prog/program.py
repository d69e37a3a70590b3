"""Programs: short sequences of typed calls on a driver's user-space doors, bound to no driver.

A program is what the host asks the guest agent to execute. Calls refer to the
fds made by earlier calls by index (`fd=2` is "the result of call 2"), never by
number, so the agent can keep a program away from its own fds. Values are plain
frozen dataclasses: equal programs compare equal, hash equal and encode to the
same bytes in both encodings (`rig.prog.text`, `rig.prog.wire`).

The limits below are shared with the agent (vmimages/agent/wire.h); a program
that passes `Program.validate()` is accepted by the agent's decoder.
"""

from __future__ import annotations

import enum
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import TypeAlias

from rig.errors import ConfigError

# Limits shared with vmimages/agent/wire.h (keep in sync).
MAX_CALLS = 256
MAX_THREAD = 255
MAX_PATH = 4095
MAX_FAMILY = 15  # GENL_NAMSIZ - 1
MAX_IO = 16 << 20  # one read count, one blob, one buffer
MAX_BUFFERS = 1024  # buffers in one program, nested ones included
MAX_DEPTH = 8  # pointer nesting below an ioctl argument
MAX_PTRS = 64  # pointers inside one buffer
MAX_RELOCS = 4096  # pointers inside all buffers of one program
MAX_ARENA = 32 << 20  # total size of all buffers and read counts in one program
U32 = (1 << 32) - 1
U64 = (1 << 64) - 1
BAD_FD = -1  # an fd reference that the agent turns into fd -1 (EBADF)
PTR_SIZE = 8  # the widest pointer a buffer can hold
PTR_WIDTHS = (8, 4)  # a 64-bit pointer or __u64; a 32-bit pointer (compat_uptr_t)
ABIS = (64, 32)  # a program runs in a 64-bit process, or a 32-bit one (compat syscalls)
PAGE = 4096

O_RDONLY = 0
O_WRONLY = 1
O_RDWR = 2

# mmap: what a program may ask for. MAP_FIXED could land on the agent's own
# memory and MAP_POPULATE could fault in a terabyte, so neither is allowed.
PROT_READ, PROT_WRITE = 0x1, 0x2
MAP_SHARED, MAP_PRIVATE, MAP_NORESERVE = 0x01, 0x02, 0x4000
MAP_PROTS = PROT_READ | PROT_WRITE
MAP_FLAGS = MAP_SHARED | MAP_PRIVATE | MAP_NORESERVE
MAX_MAP = 1 << 40  # bytes of address space one mmap may ask for
TOUCH_READ, TOUCH_WRITE = 1, 2  # after mmap, read and/or write each page
MAX_TOUCH = 256  # pages touched, from the start of the mapping
POLL_EVENTS = 0xFFFF


class ProgramError(ConfigError):
    """A program breaks a rule of the model; names the call at fault when there is one."""

    def __init__(self, message: str, call: int | None = None) -> None:
        where = f"call {call}: " if call is not None else ""
        super().__init__(where + message)
        self.call = call
        self.reason = message


class Special(enum.Enum):
    """Pointer values that are not buffers; the agent chooses the actual addresses."""

    NULL = "null"
    UNMAPPED = "unmapped"  # an address in a page the agent keeps unmapped
    KERNEL = "kernel"  # an address in kernel space


@dataclass(frozen=True)
class Reloc:
    """The address of `target` stored as `width` bytes at `offset` inside the enclosing buffer.

    Width 8 is a 64-bit pointer, or a `__u64` field carrying one in any ABI;
    width 4 is a pointer in a 32-bit layout (`compat_uptr_t`).
    """

    offset: int
    target: Pointer
    width: int = PTR_SIZE


@dataclass(frozen=True)
class Buffer:
    """User memory of `size` bytes starting with `data` (the rest zero), holding pointers.

    `mapped`, when set, places the buffer so that only its first `mapped` bytes
    are in mapped memory and an unmapped page follows them: a buffer crossing
    into an unmapped page (`mapped == size` puts it flush against that page).
    After an ioctl the mapped bytes of every buffer are its output.
    """

    data: bytes
    size: int
    mapped: int | None = None
    ptrs: tuple[Reloc, ...] = ()

    @classmethod
    def of(
        cls,
        data: bytes = b"",
        *,
        size: int | None = None,
        mapped: int | None = None,
        ptrs: tuple[Reloc, ...] = (),
    ) -> Buffer:
        return cls(data, len(data) if size is None else size, mapped, ptrs)

    @property
    def visible(self) -> int:
        """Bytes of the buffer that are mapped."""
        return self.size if self.mapped is None else self.mapped

    def walk(self) -> list[Buffer]:
        """This buffer and those it points to, in the agent's (pre-)order."""
        out = [self]
        for r in self.ptrs:
            if isinstance(r.target, Buffer):
                out.extend(r.target.walk())
        return out


Pointer: TypeAlias = Special | Buffer
IoctlArg: TypeAlias = int | Special | Buffer


@dataclass(frozen=True)
class Open:
    """open(2); its result is a file fd for read, write, ioctl and close."""

    path: str
    flags: int = O_RDWR
    mode: int = 0
    _: KW_ONLY
    thread: int = 0


@dataclass(frozen=True)
class Close:
    fd: int
    _: KW_ONLY
    thread: int = 0


@dataclass(frozen=True)
class Read:
    """read(2) of `count` bytes; the bytes read are the output."""

    fd: int
    count: int
    _: KW_ONLY
    thread: int = 0


@dataclass(frozen=True)
class Write:
    fd: int
    data: bytes
    _: KW_ONLY
    thread: int = 0


@dataclass(frozen=True)
class Ioctl:
    """ioctl(2) with a 32-bit command and an integer or pointer argument."""

    fd: int
    cmd: int
    arg: IoctlArg = 0
    _: KW_ONLY
    thread: int = 0


NETLINK_ROUTE, NETLINK_GENERIC = 0, 16
MAX_NETLINK_PROTOCOL = 31  # MAX_LINKS - 1
# Families that are not generic netlink: the message goes out as it is, on a
# socket of the protocol named here (twin: RAW_FAMILIES in vmimages/agent/wire.h).
RAW_FAMILIES = {"@route": NETLINK_ROUTE}


@dataclass(frozen=True)
class NlSocket:
    """A netlink socket of `protocol`; its result is a socket fd for nl_send, poll and close."""

    protocol: int = NETLINK_GENERIC
    _: KW_ONLY
    thread: int = 0


@dataclass(frozen=True)
class NlSend:
    """Send `msg` to a generic netlink family resolved by name in the guest.

    The agent writes the family id into the type of every message the kernel
    would parse in `msg`; the rest may be malformed on purpose. The replies
    (errors included) are the output. A family in RAW_FAMILIES ("@route")
    is no generic netlink family: `msg` goes out unchanged, and only on a
    socket of that family's protocol (rtnetlink's RTM_* messages).
    """

    sock: int
    family: str
    msg: bytes
    _: KW_ONLY
    thread: int = 0


@dataclass(frozen=True)
class FileWrite:
    """open, one write(2) of all of `data`, close; the count written is the result."""

    path: str
    data: bytes
    _: KW_ONLY
    thread: int = 0


@dataclass(frozen=True)
class FileRead:
    """open, one read(2) of `count` bytes, close; the bytes read are the output."""

    path: str
    count: int
    _: KW_ONLY
    thread: int = 0


@dataclass(frozen=True)
class Mmap:
    """mmap(2) of a file fd; the mapping is the result, for munmap.

    `touch` then reads (TOUCH_READ) and/or writes (TOUCH_WRITE) one byte of
    each of the first MAX_TOUCH pages, so the driver's fault handler runs; a
    SIGBUS or SIGSEGV from a page the driver refuses ends only the touching.
    """

    fd: int
    length: int
    offset: int = 0
    prot: int = PROT_READ | PROT_WRITE
    flags: int = MAP_SHARED
    touch: int = 0
    _: KW_ONLY
    thread: int = 0


@dataclass(frozen=True)
class Munmap:
    """munmap(2) of an earlier mmap's whole mapping."""

    map: int
    _: KW_ONLY
    thread: int = 0


@dataclass(frozen=True)
class Poll:
    """poll(2) on one fd with `events`, not waiting; the result is the revents."""

    fd: int
    events: int = 0x1 | 0x4  # POLLIN | POLLOUT
    _: KW_ONLY
    thread: int = 0


Call: TypeAlias = (
    Open
    | Close
    | Read
    | Write
    | Ioctl
    | NlSocket
    | NlSend
    | FileWrite
    | FileRead
    | Mmap
    | Munmap
    | Poll
)


class FdKind(enum.Enum):
    FILE = "file"
    SOCK = "sock"
    MAP = "map"  # not an fd: a mapping, which only munmap takes


def result_kind(call: Call) -> FdKind | None:
    """What kind of fd a call's result is, if any."""
    if isinstance(call, Open):
        return FdKind.FILE
    if isinstance(call, NlSocket):
        return FdKind.SOCK
    if isinstance(call, Mmap):
        return FdKind.MAP
    return None


def fd_uses(call: Call) -> tuple[int, tuple[FdKind, ...]] | None:
    """The fd reference a call takes and the kinds it accepts."""
    if isinstance(call, Close):
        return call.fd, (FdKind.FILE, FdKind.SOCK)
    if isinstance(call, Read | Write | Ioctl | Mmap):
        return call.fd, (FdKind.FILE,)
    if isinstance(call, Poll):
        return call.fd, (FdKind.FILE, FdKind.SOCK)
    if isinstance(call, NlSend):
        return call.sock, (FdKind.SOCK,)
    if isinstance(call, Munmap):
        return call.map, (FdKind.MAP,)
    return None


def with_ref(call: Call, ref: int) -> Call:
    """`call` with its fd (socket, mapping) reference replaced by `ref`."""
    if isinstance(call, NlSend):
        return replace(call, sock=ref)
    if isinstance(call, Munmap):
        return replace(call, map=ref)
    if isinstance(call, Close | Read | Write | Ioctl | Mmap | Poll):
        return replace(call, fd=ref)
    return call


@dataclass(frozen=True)
class Program:
    calls: tuple[Call, ...] = field(default_factory=tuple)
    abi: int = 64  # 32: the agent runs it in a 32-bit process, so compat_ioctl handlers run

    def validate(self) -> None:
        """Raise ProgramError naming the first call that breaks a rule."""
        if self.abi not in ABIS:
            raise ProgramError(f"abi {self.abi!r} is not one of {', '.join(map(str, ABIS))}")
        if len(self.calls) > MAX_CALLS:
            raise ProgramError(f"{len(self.calls)} calls, at most {MAX_CALLS}")
        budget = _Budget()
        for i, call in enumerate(self.calls):
            try:
                _check_call(self.calls, i, call, budget)
            except ProgramError as e:
                raise ProgramError(e.reason, i) from None


@dataclass
class _Budget:
    """What a whole program may use of the agent's buffer arena."""

    buffers: int = 0
    relocs: int = 0
    arena: int = 0

    def take(self, nbytes: int, crossing: bool = False) -> None:
        self.arena += arena_cost(nbytes, crossing)
        if self.arena > MAX_ARENA:
            raise ProgramError(f"buffers and reads need more than {MAX_ARENA} bytes")


def arena_cost(nbytes: int, crossing: bool) -> int:
    """Bytes of the agent's arena a buffer takes (twin: arena_cost() in agent.c).

    A buffer that crosses into an unmapped page takes whole pages plus that page.
    """
    if crossing:
        return ((nbytes + PAGE - 1) & ~(PAGE - 1)) + PAGE
    return (nbytes + 15) & ~15


def _check_call(calls: tuple[Call, ...], i: int, call: Call, budget: _Budget) -> None:
    _check_range("thread", call.thread, MAX_THREAD)
    use = fd_uses(call)
    if use is not None:
        _check_ref(calls, i, *use)
    if isinstance(call, Open | FileWrite | FileRead):
        _check_path(call.path)
    if isinstance(call, Open):
        _check_range("flags", call.flags, U32)
        _check_range("mode", call.mode, U32)
    elif isinstance(call, Read | FileRead):
        _check_range("count", call.count, MAX_IO)
        budget.take(call.count)
    elif isinstance(call, Write | FileWrite):
        _check_blob("data", call.data)
    elif isinstance(call, NlSend):
        _check_family(call.family)
        _check_blob("msg", call.msg)
    elif isinstance(call, Ioctl):
        _check_range("cmd", call.cmd, U32)
        _check_arg(call.arg, 0, budget)
    elif isinstance(call, Mmap):
        _check_range("length", call.length, MAX_MAP)
        _check_range("offset", call.offset, U64)
        _check_bits("prot", call.prot, MAP_PROTS)
        _check_bits("flags", call.flags, MAP_FLAGS)
        _check_bits("touch", call.touch, TOUCH_READ | TOUCH_WRITE)
    elif isinstance(call, Poll):
        _check_range("events", call.events, POLL_EVENTS)
    elif isinstance(call, NlSocket):
        _check_range("protocol", call.protocol, MAX_NETLINK_PROTOCOL)


def _check_bits(name: str, value: int, allowed: int) -> None:
    _check_range(name, value, U32)
    if value & ~allowed:
        raise ProgramError(f"{name} {value:#x} has bits outside {allowed:#x}")


def _check_range(name: str, value: int, top: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise ProgramError(f"{name} {value!r} is not an integer in 0..{top}")


def _check_blob(name: str, data: bytes) -> None:
    if not isinstance(data, bytes):
        raise ProgramError(f"{name} must be bytes, not {type(data).__name__}")
    if len(data) > MAX_IO:
        raise ProgramError(f"{name} has {len(data)} bytes, at most {MAX_IO}")


def _check_ref(calls: tuple[Call, ...], i: int, ref: int, kinds: tuple[FdKind, ...]) -> None:
    if ref == BAD_FD:
        return
    if isinstance(ref, bool) or not isinstance(ref, int) or not 0 <= ref < i:
        raise ProgramError(f"fd reference {ref!r} does not name an earlier call")
    kind = result_kind(calls[ref])
    if kind not in kinds:
        want = " or ".join(k.value for k in kinds)
        name = type(calls[ref]).__name__
        raise ProgramError(f"fd reference r{ref} ({name}) is not a {want} fd")


def printable(s: str) -> bool:
    return all(" " <= c <= "~" for c in s)


def _check_path(path: str) -> None:
    if not isinstance(path, str) or not path.startswith("/") or not printable(path):
        raise ProgramError(f"path {path!r} must be absolute and printable ASCII")
    if len(path) > MAX_PATH:
        raise ProgramError(f"path has {len(path)} characters, at most {MAX_PATH}")


def _check_family(name: str) -> None:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_FAMILY or not printable(name):
        raise ProgramError(f"family {name!r} must be 1..{MAX_FAMILY} printable ASCII characters")
    if name.startswith("@") and name not in RAW_FAMILIES:
        raise ProgramError(f"family {name!r}: raw families are {', '.join(RAW_FAMILIES)}")


def _check_arg(arg: IoctlArg, depth: int, budget: _Budget) -> None:
    if isinstance(arg, Special):
        return
    if isinstance(arg, Buffer):
        _check_buffer(arg, depth, budget)
        return
    if depth > 0:
        raise ProgramError("a pointer inside a buffer must be a buffer or a special value")
    _check_range("argument", arg, U64)


def _check_buffer(buf: Buffer, depth: int, budget: _Budget) -> None:
    if depth > MAX_DEPTH:
        raise ProgramError(f"buffers nest deeper than {MAX_DEPTH}")
    budget.buffers += 1
    if budget.buffers > MAX_BUFFERS:
        raise ProgramError(f"more than {MAX_BUFFERS} buffers")
    _check_range("buffer size", buf.size, MAX_IO)
    _check_blob("buffer data", buf.data)
    if buf.mapped is not None:
        _check_range("mapped", buf.mapped, buf.size)
    if len(buf.data) > buf.visible:
        raise ProgramError(f"buffer data ({len(buf.data)}) exceeds mapped bytes ({buf.visible})")
    if len(buf.ptrs) > MAX_PTRS:
        raise ProgramError(f"buffer holds {len(buf.ptrs)} pointers, at most {MAX_PTRS}")
    budget.take(buf.visible, crossing=buf.mapped is not None)
    budget.relocs += len(buf.ptrs)
    if budget.relocs > MAX_RELOCS:
        raise ProgramError(f"more than {MAX_RELOCS} pointers in buffers")
    for r in buf.ptrs:
        _check_range("pointer offset", r.offset, U32)
        if r.width not in PTR_WIDTHS:
            raise ProgramError(f"pointer width {r.width!r} is not 8 or 4")
        if r.offset + r.width > buf.visible:
            raise ProgramError(f"pointer at {r.offset} does not fit in {buf.visible} mapped bytes")
        _check_arg(r.target, depth + 1, budget)
