"""The compact binary form of a program, as the guest agent decodes it.

Twin of vmimages/agent/wire.h and decode.c: change both together (and bump
VERSION when an existing encoding changes; a new call kind is an addition). All integers are little-endian; there is no padding.

    program := u32 magic 0x50474952 ("RIGP") | u16 version (3) | u16 ncalls
               | u32 abi (64, or 32: run in a 32-bit process) | call * ncalls
    call    := u8 kind | u8 thread | u16 zero | u32 size | body (exactly size bytes)
    body, by kind:
        1 open        u32 flags | u32 mode | str path
        2 close       u32 fd
        3 read        u32 fd | u32 count
        4 write       u32 fd | blob data
        5 ioctl       u32 fd | u32 cmd | arg
        6 nl_socket   u32 protocol (NETLINK_GENERIC 16, NETLINK_ROUTE 0, ... up to 31)
        7 nl_send     u32 sock | str family | blob msg
        8 file_write  str path | blob data
        9 file_read   str path | u32 count
       10 mmap        u32 fd | u32 prot | u32 flags | u32 touch | u64 length | u64 offset
       11 munmap      u32 map
       12 poll        u32 fd | u32 events
    str, blob := u32 len | len bytes    (str: printable ASCII, no NUL)
    fd, sock  := index of an earlier open (fd) or nl_socket (sock) call; 0xffffffff = fd -1
    map       := index of an earlier mmap call; 0xffffffff = none
    arg     := u8 tag | ...
        0 int         u64 value          (top level only)
        1 null, 2 unmapped, 3 kernel     (nothing follows)
        4 buffer      u32 size | u32 mapped (0xffffffff: all) | blob data | u16 nptrs
                      | (u32 offset | u8 width (8 or 4) | arg) * nptrs
    A pointer inside a buffer is the low `width` bytes of the target's address,
    little-endian: 8 for a 64-bit pointer or a __u64 carrying one, 4 for a
    pointer in a 32-bit layout (compat_uptr_t).

Nothing may follow the last call. The agent accepts exactly the byte strings
that `decode` accepts: every limit of `rig.prog.program` applies, and a
decoded program always passes `Program.validate()`. `thread` is reserved for
concurrent calls; today the agent runs all calls in order on one thread.

Wire bytes live only on the channel to the agent (corpora, crash stores and
saved inputs keep the text form), so `decode` reads the current version only.
"""

from __future__ import annotations

import struct

from rig.errors import GuestProtocolError
from rig.prog.program import (
    BAD_FD,
    U32,
    Buffer,
    Call,
    Close,
    FileRead,
    FileWrite,
    Ioctl,
    IoctlArg,
    Mmap,
    Munmap,
    NlSend,
    NlSocket,
    Open,
    Poll,
    Program,
    ProgramError,
    Read,
    Reloc,
    Special,
    Write,
)

MAGIC = 0x50474952
VERSION = 3  # 2: nl_socket carries its protocol; 3: the ABI, and each pointer's width
MAX_WIRE = 32 << 20  # bytes of one encoded program (the agent takes frames of 33 MiB)

K_OPEN, K_CLOSE, K_READ, K_WRITE, K_IOCTL = 1, 2, 3, 4, 5
K_NL_SOCKET, K_NL_SEND, K_FILE_WRITE, K_FILE_READ = 6, 7, 8, 9
K_MMAP, K_MUNMAP, K_POLL = 10, 11, 12
A_INT, A_NULL, A_UNMAPPED, A_KERNEL, A_BUFFER = 0, 1, 2, 3, 4
NO_FD = U32  # wire value of BAD_FD
ALL_MAPPED = U32

_SPECIAL_TAG = {Special.NULL: A_NULL, Special.UNMAPPED: A_UNMAPPED, Special.KERNEL: A_KERNEL}
_TAG_SPECIAL = {v: k for k, v in _SPECIAL_TAG.items()}


class WireError(GuestProtocolError):
    """Bytes that are not a well-formed program."""


# ---------------------------------------------------------------- encoding


def encode(program: Program) -> bytes:
    """The wire form of a valid program (validates it first)."""
    program.validate()
    out = bytearray(struct.pack("<IHHI", MAGIC, VERSION, len(program.calls), program.abi))
    for call in program.calls:
        kind, body = _encode_call(call)
        out += struct.pack("<BBHI", kind, call.thread, 0, len(body))
        out += body
    if len(out) > MAX_WIRE:
        raise ProgramError(f"program encodes to {len(out)} bytes, at most {MAX_WIRE}")
    return bytes(out)


def _u32(v: int) -> bytes:
    return struct.pack("<I", v)


def _fd(v: int) -> bytes:
    return _u32(NO_FD if v == BAD_FD else v)


def blob(data: bytes) -> bytes:
    """u32 length, then the bytes."""
    return _u32(len(data)) + data


def _str(s: str) -> bytes:
    return blob(s.encode("ascii"))


def _encode_call(c: Call) -> tuple[int, bytes]:
    if isinstance(c, Open):
        return K_OPEN, _u32(c.flags) + _u32(c.mode) + _str(c.path)
    if isinstance(c, Close):
        return K_CLOSE, _fd(c.fd)
    if isinstance(c, Read):
        return K_READ, _fd(c.fd) + _u32(c.count)
    if isinstance(c, Write):
        return K_WRITE, _fd(c.fd) + blob(c.data)
    if isinstance(c, Ioctl):
        return K_IOCTL, _fd(c.fd) + _u32(c.cmd) + _encode_arg(c.arg)
    if isinstance(c, NlSocket):
        return K_NL_SOCKET, _u32(c.protocol)
    if isinstance(c, NlSend):
        return K_NL_SEND, _fd(c.sock) + _str(c.family) + blob(c.msg)
    if isinstance(c, FileWrite):
        return K_FILE_WRITE, _str(c.path) + blob(c.data)
    if isinstance(c, FileRead):
        return K_FILE_READ, _str(c.path) + _u32(c.count)
    if isinstance(c, Mmap):
        head = _fd(c.fd) + struct.pack("<III", c.prot, c.flags, c.touch)
        return K_MMAP, head + struct.pack("<QQ", c.length, c.offset)
    if isinstance(c, Munmap):
        return K_MUNMAP, _fd(c.map)
    return K_POLL, _fd(c.fd) + _u32(c.events)


def _encode_arg(arg: IoctlArg) -> bytes:
    if isinstance(arg, Special):
        return bytes([_SPECIAL_TAG[arg]])
    if isinstance(arg, Buffer):
        mapped = ALL_MAPPED if arg.mapped is None else arg.mapped
        out = bytearray(struct.pack("<BII", A_BUFFER, arg.size, mapped))
        out += blob(arg.data)
        out += struct.pack("<H", len(arg.ptrs))
        for r in arg.ptrs:
            out += struct.pack("<IB", r.offset, r.width) + _encode_arg(r.target)
        return bytes(out)
    return struct.pack("<BQ", A_INT, arg)


# ---------------------------------------------------------------- decoding


class Reader:
    """Bounds-checked little-endian reads from a bytes-like object."""

    def __init__(self, data: bytes | memoryview, what: str = "message") -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.what = what

    def take(self, n: int) -> memoryview:
        if n < 0 or n > len(self.data) - self.pos:
            raise WireError(f"{self.what} truncated at byte {self.pos} (needs {n} more)")
        view = self.data[self.pos : self.pos + n]
        self.pos += n
        return view

    def unpack(self, fmt: str) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(self.unpack("<H")[0])

    def u32(self) -> int:
        return int(self.unpack("<I")[0])

    def i32(self) -> int:
        return int(self.unpack("<i")[0])

    def u64(self) -> int:
        return int(self.unpack("<Q")[0])

    def i64(self) -> int:
        return int(self.unpack("<q")[0])

    def blob(self, limit: int) -> bytes:
        n = self.u32()
        if n > limit:
            raise WireError(f"{self.what}: length {n} at byte {self.pos - 4} exceeds {limit}")
        return bytes(self.take(n))

    def text(self, limit: int) -> str:
        raw = self.blob(limit)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise WireError(f"{self.what}: string is not ASCII") from None

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def end(self) -> None:
        if self.pos != len(self.data):
            raise WireError(f"{self.what}: {len(self.data) - self.pos} bytes after the end")


def decode(data: bytes | memoryview) -> Program:
    """The program in `data`; raises WireError on anything the agent would refuse."""
    r = Reader(data, "program")
    magic, version, ncalls = r.unpack("<IHH")
    if magic != MAGIC:
        raise WireError(f"program: bad magic {magic:#x}")
    if version != VERSION:
        raise WireError(f"program: version {version}, expected {VERSION}")
    abi = r.u32()
    calls = [_decode_call(r, i) for i in range(ncalls)]
    r.end()
    program = Program(tuple(calls), abi)
    try:
        program.validate()
    except ProgramError as e:
        raise WireError(f"program: {e}") from None
    return program


def _ref(v: int) -> int:
    return BAD_FD if v == NO_FD else v


def _decode_call(r: Reader, index: int) -> Call:
    kind, thread, zero, size = r.unpack("<BBHI")
    if zero:
        raise WireError(f"program: call {index}: reserved field is {zero}")
    body = Reader(r.take(size), f"program: call {index}")
    call = _decode_body(body, kind, thread, index)
    body.end()
    return call


def _decode_body(b: Reader, kind: int, t: int, index: int) -> Call:
    lim = 1 << 32
    if kind == K_OPEN:
        flags, mode = b.u32(), b.u32()
        return Open(b.text(lim), flags, mode, thread=t)
    if kind == K_CLOSE:
        return Close(_ref(b.u32()), thread=t)
    if kind == K_READ:
        fd = _ref(b.u32())
        return Read(fd, b.u32(), thread=t)
    if kind == K_WRITE:
        fd = _ref(b.u32())
        return Write(fd, b.blob(lim), thread=t)
    if kind == K_IOCTL:
        fd = _ref(b.u32())
        cmd = b.u32()
        return Ioctl(fd, cmd, _decode_arg(b, 0), thread=t)
    if kind == K_NL_SOCKET:
        return NlSocket(b.u32(), thread=t)
    if kind == K_NL_SEND:
        sock = _ref(b.u32())
        family = b.text(lim)
        return NlSend(sock, family, b.blob(lim), thread=t)
    if kind == K_FILE_WRITE:
        path = b.text(lim)
        return FileWrite(path, b.blob(lim), thread=t)
    if kind == K_FILE_READ:
        path = b.text(lim)
        return FileRead(path, b.u32(), thread=t)
    if kind == K_MMAP:
        fd = _ref(b.u32())
        prot, flags, touch = b.u32(), b.u32(), b.u32()
        length, offset = b.u64(), b.u64()
        return Mmap(fd, length, offset, prot, flags, touch, thread=t)
    if kind == K_MUNMAP:
        return Munmap(_ref(b.u32()), thread=t)
    if kind == K_POLL:
        fd = _ref(b.u32())
        return Poll(fd, b.u32(), thread=t)
    raise WireError(f"program: call {index}: unknown kind {kind}")


def _decode_arg(b: Reader, depth: int) -> IoctlArg:
    tag = b.u8()
    if tag == A_INT:
        return b.u64()
    if tag in _TAG_SPECIAL:
        return _TAG_SPECIAL[tag]
    if tag != A_BUFFER:
        raise WireError(f"{b.what}: unknown argument tag {tag}")
    # The depth bound here only keeps recursion finite; validate() applies MAX_DEPTH.
    if depth > 64:
        raise WireError(f"{b.what}: buffers nest too deep")
    size, mapped = b.u32(), b.u32()
    data = b.blob(1 << 32)
    ptrs = []
    for _ in range(b.u16()):
        offset, width = b.u32(), b.u8()
        ptrs.append(Reloc(offset, _pointer(b, depth), width))
    return Buffer(data, size, None if mapped == ALL_MAPPED else mapped, tuple(ptrs))


def _pointer(b: Reader, depth: int) -> Special | Buffer:
    arg = _decode_arg(b, depth + 1)
    if isinstance(arg, int):
        raise WireError(f"{b.what}: an integer where a pointer must be")
    return arg
