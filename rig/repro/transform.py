"""Program edits for minimisation: drop calls, join programs, simplify one argument at a time.

Every edit yields a valid program or None (it does not apply, or changes
nothing). Edits name what they change by position (program, call, the chain
of pointers down to a buffer, an offset), so an edit still finds its target
after other edits changed values around it.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rig.prog.program import (
    BAD_FD,
    MAX_CALLS,
    O_RDWR,
    Buffer,
    Call,
    Close,
    FileRead,
    FileWrite,
    Ioctl,
    NlSend,
    Open,
    Program,
    ProgramError,
    Read,
    Reloc,
    Write,
    fd_uses,
    with_ref,
)

WORD = 4  # buffers are read as little-endian 32-bit fields
MAX_FIELDS = 16  # fields tried per blob: longer blobs are zeroed in wider slices


def remove_calls(program: Program, drop: set[int]) -> Program:
    """The program without the calls in `drop`; fds they made become badfd."""
    new_index: dict[int, int] = {}
    calls: list[Call] = []
    for i, call in enumerate(program.calls):
        if i in drop:
            continue
        use = fd_uses(call)
        if use is not None and use[0] != BAD_FD:
            call = with_ref(call, new_index.get(use[0], BAD_FD))
        new_index[i] = len(calls)
        calls.append(call)
    return Program(tuple(calls), program.abi)


def concatenate(programs: Sequence[Program]) -> Program | None:
    """One program doing what `programs` do in order (fds stay open).

    None if too long, or if the programs do not share one ABI (a process is
    32- or 64-bit, and their buffers are laid out for one).
    """
    if len({p.abi for p in programs}) > 1:
        return None
    calls: list[Call] = []
    for p in programs:
        base = len(calls)
        for call in p.calls:
            use = fd_uses(call)
            if use is not None and use[0] != BAD_FD:
                call = with_ref(call, use[0] + base)
            calls.append(call)
    if len(calls) > MAX_CALLS:
        return None
    return Program(tuple(calls), programs[0].abi if programs else 64)


def strip_trailing_zeros(buf: Buffer) -> Buffer:
    """The same memory, written shorter: data beyond the last non-zero byte is zero anyway."""
    return dataclasses.replace(
        buf,
        data=buf.data.rstrip(b"\0"),
        ptrs=tuple(
            Reloc(
                r.offset,
                strip_trailing_zeros(r.target) if isinstance(r.target, Buffer) else r.target,
                r.width,
            )
            for r in buf.ptrs
        ),
    )


def normalize(program: Program) -> Program:
    """Rewrites that change nothing the kernel sees."""
    calls: list[Call] = []
    for call in program.calls:
        if isinstance(call, Ioctl) and isinstance(call.arg, Buffer):
            call = dataclasses.replace(call, arg=strip_trailing_zeros(call.arg))
        calls.append(call)
    return Program(tuple(calls), program.abi)


# ---------------------------------------------------------------- argument edits


@dataclass(frozen=True)
class Edit:
    """Change one thing in call `call` of program `prog`; `path` leads to a nested buffer."""

    prog: int
    call: int
    what: str  # "arg", "count", "mode", "flags", "word", "size", "uncross", "data", "attr"
    value: int = 0
    path: tuple[int, ...] = ()
    offset: int = 0
    width: int = WORD

    def apply(self, programs: list[Program]) -> list[Program] | None:
        if self.prog >= len(programs) or self.call >= len(programs[self.prog].calls):
            return None
        program = programs[self.prog]
        new = _edit_call(program.calls[self.call], self)
        if new is None or new == program.calls[self.call]:
            return None
        calls = list(program.calls)
        calls[self.call] = new
        edited = Program(tuple(calls), program.abi)
        try:
            edited.validate()
        except ProgramError:
            return None
        out = list(programs)
        out[self.prog] = edited
        return out


def _edit_call(call: Call, e: Edit) -> Call | None:
    if isinstance(call, Ioctl):
        if e.what == "arg" and isinstance(call.arg, int) and not e.path:
            return dataclasses.replace(call, arg=e.value)
        if isinstance(call.arg, Buffer):
            buf = _edit_buffer(call.arg, e, 0)
            return None if buf is None else dataclasses.replace(call, arg=buf)
        return None
    if isinstance(call, Read | FileRead) and e.what == "count":
        return dataclasses.replace(call, count=e.value)
    if isinstance(call, Open) and e.what == "mode":
        return dataclasses.replace(call, mode=e.value)
    if isinstance(call, Open) and e.what == "flags":
        return dataclasses.replace(call, flags=e.value)
    if isinstance(call, Write | FileWrite) and e.what == "data":
        return dataclasses.replace(call, data=call.data[: e.value])
    if isinstance(call, NlSend) and e.what == "attr":
        msg = drop_attr(call.msg, e.offset, e.value)
        return None if msg is None else dataclasses.replace(call, msg=msg)
    return None


def _edit_buffer(buf: Buffer, e: Edit, depth: int) -> Buffer | None:
    if depth < len(e.path):
        i = e.path[depth]
        target = buf.ptrs[i].target if i < len(buf.ptrs) else None
        if not isinstance(target, Buffer):
            return None
        inner = _edit_buffer(target, e, depth + 1)
        if inner is None:
            return None
        ptrs = list(buf.ptrs)
        ptrs[i] = Reloc(ptrs[i].offset, inner, ptrs[i].width)
        return dataclasses.replace(buf, ptrs=tuple(ptrs))
    if e.what == "word":
        if _overlaps_ptr(buf, e.offset, e.width) or e.offset >= len(buf.data):
            return None
        data = bytearray(buf.data.ljust(e.offset + e.width, b"\0"))
        if e.width == WORD:
            data[e.offset : e.offset + WORD] = struct.pack("<I", e.value)
        else:
            data[e.offset : e.offset + e.width] = bytes(e.width)
        return strip_trailing_zeros(dataclasses.replace(buf, data=bytes(data[: len(buf.data)])))
    if e.what == "size" and buf.mapped is None and e.value < buf.size:
        return dataclasses.replace(buf, size=e.value)
    if e.what == "uncross" and buf.mapped is not None:
        return dataclasses.replace(buf, mapped=None)
    return None


def _overlaps_ptr(buf: Buffer, offset: int, width: int) -> bool:
    return any(r.offset < offset + width and offset < r.offset + r.width for r in buf.ptrs)


def _content_end(buf: Buffer) -> int:
    return max([len(buf.data), *(r.offset + r.width for r in buf.ptrs)])


def _buffers(buf: Buffer, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Buffer]]:
    yield path, buf
    for i, r in enumerate(buf.ptrs):
        if isinstance(r.target, Buffer):
            yield from _buffers(r.target, (*path, i))


def _fields(buf: Buffer) -> Iterator[tuple[int, int, int]]:
    """(offset, width, value) of the non-zero fields of a buffer's data, pointers excluded."""
    data = buf.data
    width = WORD
    while len(data) > width * MAX_FIELDS:
        width *= 2
    for off in range(0, len(data), width):
        chunk = data[off : off + width].ljust(width, b"\0")
        if any(chunk) and not _overlaps_ptr(buf, off, width):
            value = struct.unpack("<I", chunk)[0] if width == WORD else -1
            yield off, width, value


# ---------------------------------------------------------------- netlink attributes


def _messages(msg: bytes) -> list[tuple[int, int]]:
    """(offset, length) of each well-formed netlink message in a buffer."""
    out = []
    off = 0
    while len(msg) - off >= 16:
        (mlen,) = struct.unpack_from("<I", msg, off)
        if mlen < 16 or mlen > len(msg) - off:
            break
        out.append((off, mlen))
        off += (mlen + 3) & ~3
    return out


def _attrs(msg: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """(offset, aligned length) of the attributes after a generic netlink header."""
    out = []
    off = start + 20  # nlmsghdr + genlmsghdr
    while end - off >= 4:
        (alen,) = struct.unpack_from("<H", msg, off)
        if alen < 4 or alen > end - off:
            break
        step = min((alen + 3) & ~3, end - off)
        out.append((off, step))
        off += step
    return out


def drop_attr(msg: bytes, message: int, attr: int) -> bytes | None:
    """`msg` without attribute `attr` of message `message`, the lengths fixed up."""
    messages = _messages(msg)
    if message >= len(messages):
        return None
    start, mlen = messages[message]
    attrs = _attrs(msg, start, start + mlen)
    if attr >= len(attrs):
        return None
    off, step = attrs[attr]
    out = bytearray(msg[:off] + msg[off + step :])
    struct.pack_into("<I", out, start, mlen - step)
    return bytes(out)


# ---------------------------------------------------------------- what to try


def edits(programs: Sequence[Program], kind: str) -> list[Edit]:
    """The edits of one pass: 'zero' (fields, integers, attributes), 'shrink', 'small'."""
    out: list[Edit] = []
    for pi, program in enumerate(programs):
        for ci, call in enumerate(program.calls):
            out += list(_call_edits(pi, ci, call, kind))
    return out


def _call_edits(pi: int, ci: int, call: Call, kind: str) -> Iterator[Edit]:
    if isinstance(call, Ioctl):
        if isinstance(call.arg, int):
            if kind == "zero" and call.arg:
                yield Edit(pi, ci, "arg", 0)
            if kind == "small" and call.arg > 1:
                yield Edit(pi, ci, "arg", 1)
        elif isinstance(call.arg, Buffer):
            for path, buf in _buffers(call.arg):
                yield from _buffer_edits(pi, ci, path, buf, kind)
    elif isinstance(call, Read | FileRead):
        if kind == "shrink" and call.count > 1:
            yield Edit(pi, ci, "count", 1)
    elif isinstance(call, Open):
        if kind == "zero" and call.mode:
            yield Edit(pi, ci, "mode", 0)
        if kind == "zero" and call.flags != O_RDWR:
            yield Edit(pi, ci, "flags", O_RDWR)
    elif isinstance(call, Write | FileWrite):
        if kind == "shrink" and len(call.data) > 1:
            yield Edit(pi, ci, "data", len(call.data) // 2)
    elif isinstance(call, NlSend) and kind == "zero":
        for mi, (start, mlen) in enumerate(_messages(call.msg)):
            for ai in range(len(_attrs(call.msg, start, start + mlen))):
                yield Edit(pi, ci, "attr", ai, offset=mi)
    elif isinstance(call, Close):
        return


def _buffer_edits(
    pi: int, ci: int, path: tuple[int, ...], buf: Buffer, kind: str
) -> Iterator[Edit]:
    if kind == "zero":
        for off, width, _ in _fields(buf):
            yield Edit(pi, ci, "word", 0, path, off, width)
        if buf.mapped is not None:
            yield Edit(pi, ci, "uncross", 0, path)
    elif kind == "shrink":
        end = _content_end(buf)
        if buf.mapped is None and end < buf.size:
            yield Edit(pi, ci, "size", end, path)
    elif kind == "small":
        for off, width, value in _fields(buf):
            if width == WORD and value > 1:
                yield Edit(pi, ci, "word", 1, path, off, width)
