"""The human-readable, versioned text form of a program (corpora, saved inputs, reproducers).

    # comments and blank lines are ignored
    rig-program 1
    driver 5f0c...e1        (sha256 of the driver the program was made for, or -)
    spec 9a7b...04          (sha256 of the interface spec, or -)
    abi 32                  (only for a program run as a 32-bit process; 64 when absent)
    r0 = open("/dev/boundary", 0x2, 0x0)
    ioctl(r0, 0xc0284203, buf(size=40, data=x"0100", @8=buf(size=64, mapped=60), @16=null))
    ioctl(r0, 0xc00cb708, buf(size=12, @0=ptr32(buf(size=8))))
    write(r0, "hello\\n")
    r3 = nl_socket()                (generic netlink; nl_socket(0) is rtnetlink)
    nl_send(r3, "boundary", x"1c000000...")
    file_write("/sys/devices/virtual/misc/boundary/mode", "3")
    file_read("/proc/boundary/status", 4096, thread=1)
    r8 = mmap(r0, 0x2000, 0x0, 0x3, 0x1, 3)   (fd, length, offset, prot, flags, touch)
    poll(r0, 0x5)
    munmap(r8)
    close(r0)

One call per line. A call whose result is an fd (or a mapping) carries a label (`r0 = ...`);
later calls name that label, or `badfd` for fd -1. Labels are names, not
numbers: deleting a line by hand leaves the other references intact. Values
are integers (decimal or 0x hex), strings ("..." with \\\\, \\", \\n, \\r, \\t
and \\xHH escapes, or x"hex" for bytes), `null`, `unmapped`, `kernel` and
`buf(...)` with `size=`, `mapped=`, `data=` and `@OFFSET=pointer`. A pointer
inside a buf is 8 bytes (a 64-bit pointer, or a __u64 carrying one, in either
ABI); `@OFFSET=ptr32(pointer)` is a 4-byte one, a pointer in a 32-bit layout
(compat_uptr_t). Arguments may be given by position or by name
(`open(path=..., flags=...)`).

`dumps` writes the canonical form and `loads(dumps(p, h)) == ProgramFile(p, h)`
for every valid program. Errors name the file, the line and the call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.errors import ConfigError
from rig.prog.program import (
    ABIS,
    BAD_FD,
    NETLINK_GENERIC,
    O_RDWR,
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
    result_kind,
)
from rig.util import atomic_write

MAGIC = "rig-program"
VERSION = 1
_HASH = re.compile(r"-|[0-9a-f]{8,128}")
# After the header, for a program that is not abi 64: older files have no such line.
_ABI = re.compile(r"\s*abi\s+([^\s=(]+)\s*")  # never a call labelled abi
_PTR32 = "ptr32"  # @OFFSET=ptr32(pointer): a 4-byte pointer


class ProgramSyntaxError(ConfigError):
    """A program file that cannot be read, with the file, line and call at fault."""


@dataclass(frozen=True)
class Header:
    """What a program was made for: the sha256 of the driver and of its spec (None: any)."""

    driver_hash: str | None = None
    spec_hash: str | None = None


@dataclass(frozen=True)
class ProgramFile:
    program: Program
    header: Header = field(default_factory=Header)

    def check_target(self, driver_hash: str | None, spec_hash: str | None) -> None:
        """Refuse a program made for another driver or spec, naming both hashes of each."""
        problems = []
        for what, mine, theirs in (
            ("driver", self.header.driver_hash, driver_hash),
            ("spec", self.header.spec_hash, spec_hash),
        ):
            if mine is not None and theirs is not None and mine != theirs:
                problems.append(f"{what} {mine} (program) != {theirs} (target)")
        if problems:
            raise ConfigError("program made for another target: " + "; ".join(problems))


# ---------------------------------------------------------------- writing

_PRINTABLE = frozenset(range(0x20, 0x7F)) | {0x09, 0x0A, 0x0D}
_ESCAPES = {0x5C: "\\\\", 0x22: '\\"', 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}


def quote(data: bytes) -> str:
    """Bytes as a quoted string when mostly text, else as x"hex"."""
    if data and not all(b in _PRINTABLE for b in data):
        return f'x"{data.hex()}"'
    return '"' + "".join(_ESCAPES.get(b, chr(b)) for b in data) + '"'


def _label(i: int) -> str:
    return f"r{i}"


def _ref(v: int) -> str:
    return "badfd" if v == BAD_FD else _label(v)


def _arg(arg: IoctlArg) -> str:
    if isinstance(arg, Special):
        return arg.value
    if isinstance(arg, Buffer):
        parts = [f"size={arg.size}"]
        if arg.mapped is not None:
            parts.append(f"mapped={arg.mapped}")
        if arg.data:
            parts.append(f"data={quote(arg.data)}")
        parts += [f"@{r.offset}={_pointer(r)}" for r in arg.ptrs]
        return f"buf({', '.join(parts)})"
    return hex(arg)


def _pointer(r: Reloc) -> str:
    target = _arg(r.target)
    return target if r.width == 8 else f"{_PTR32}({target})"


def format_call(call: Call) -> str:
    """One call as its text line, without its label."""
    name, args = _CALL_ARGS[type(call)](call)
    if call.thread:
        args.append(f"thread={call.thread}")
    return f"{name}({', '.join(args)})"


_CALL_ARGS: dict[type, Callable[[Any], tuple[str, list[str]]]] = {
    Open: lambda c: ("open", [quote(c.path.encode()), hex(c.flags), hex(c.mode)]),
    Close: lambda c: ("close", [_ref(c.fd)]),
    Read: lambda c: ("read", [_ref(c.fd), str(c.count)]),
    Write: lambda c: ("write", [_ref(c.fd), quote(c.data)]),
    Ioctl: lambda c: ("ioctl", [_ref(c.fd), hex(c.cmd), _arg(c.arg)]),
    NlSocket: lambda c: ("nl_socket", [] if c.protocol == NETLINK_GENERIC else [str(c.protocol)]),
    NlSend: lambda c: ("nl_send", [_ref(c.sock), quote(c.family.encode()), quote(c.msg)]),
    FileWrite: lambda c: ("file_write", [quote(c.path.encode()), quote(c.data)]),
    FileRead: lambda c: ("file_read", [quote(c.path.encode()), str(c.count)]),
    Mmap: lambda c: (
        "mmap",
        [_ref(c.fd), hex(c.length), hex(c.offset), hex(c.prot), hex(c.flags), str(c.touch)],
    ),
    Munmap: lambda c: ("munmap", [_ref(c.map)]),
    Poll: lambda c: ("poll", [_ref(c.fd), hex(c.events)]),
}


def format_calls(program: Program) -> list[str]:
    """The call lines of a program, labelled where a call yields an fd."""
    lines = []
    for i, call in enumerate(program.calls):
        prefix = f"{_label(i)} = " if result_kind(call) is not None else ""
        lines.append(prefix + format_call(call))
    return lines


def dumps(program: Program, header: Header | None = None) -> str:
    """The canonical text of a valid program."""
    program.validate()
    header = header or Header()
    lines = [
        f"{MAGIC} {VERSION}",
        f"driver {header.driver_hash or '-'}",
        f"spec {header.spec_hash or '-'}",
        *([f"abi {program.abi}"] if program.abi != 64 else []),
        *format_calls(program),
    ]
    return "\n".join(lines) + "\n"


def dump(path: Path, program: Program, header: Header | None = None) -> None:
    atomic_write(path, dumps(program, header).encode())


# ---------------------------------------------------------------- reading


class _SyntaxError(Exception):
    """A parse failure within one line; the caller adds where."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<hex>x"[0-9a-fA-F]*")
    | (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<int>0[xX][0-9a-fA-F]+|[0-9]+)
    | (?P<at>@0[xX][0-9a-fA-F]+|@[0-9]+)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<punct>[(),=])
    )""",
    re.VERBOSE,
)
_UNESCAPE = {"\\": 0x5C, '"': 0x22, "n": 0x0A, "r": 0x0D, "t": 0x09}


def _unquote(tok: str) -> bytes:
    body = tok[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            if not " " <= ch <= "~" and ch not in "\t":
                raise _SyntaxError(f"character {ch!r} in a string; use \\x escapes")
            out.append(ord(ch))
            i += 1
            continue
        esc = body[i + 1]
        if esc in _UNESCAPE:
            out.append(_UNESCAPE[esc])
            i += 2
        elif esc == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", body[i + 2 : i + 4]):
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        else:
            raise _SyntaxError(f"bad escape \\{esc} in a string")
    return bytes(out)


@dataclass
class _Tokens:
    items: list[tuple[str, str]]
    pos: int = 0

    @classmethod
    def scan(cls, text: str) -> _Tokens:
        items = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise _SyntaxError(f"unexpected {text[pos:].lstrip()[:20]!r}")
            kind = m.lastgroup
            assert kind is not None
            items.append((kind, m.group(kind)))
            pos = m.end()
        return cls(items)

    def peek(self) -> tuple[str, str]:
        return self.items[self.pos] if self.pos < len(self.items) else ("end", "")

    def next(self) -> tuple[str, str]:
        tok = self.peek()
        self.pos += 1
        return tok

    def expect(self, value: str) -> None:
        kind, text = self.next()
        if text != value or kind not in ("punct", "name"):
            raise _SyntaxError(f"expected {value!r}, found {text or 'end of line'!r}")

    def accept(self, value: str) -> bool:
        if self.peek() == ("punct", value):
            self.pos += 1
            return True
        return False


# A value before it is checked against the parameter that takes it.
_Value = int | bytes | Special | Buffer | tuple[str, str]  # ("ref", label)


def _value(t: _Tokens) -> _Value:
    kind, text = t.next()
    if kind == "int":
        return int(text, 0)
    if kind == "str":
        return _unquote(text)
    if kind == "hex":
        digits = text[2:-1]
        if len(digits) % 2:
            raise _SyntaxError("odd number of hex digits")
        return bytes.fromhex(digits)
    if kind == "name":
        if text in ("null", "unmapped", "kernel"):
            return Special(text)
        if text == "buf" and t.peek() == ("punct", "("):
            return _buffer(t)
        if text == _PTR32 and t.peek() == ("punct", "("):
            raise _SyntaxError(f"{_PTR32}(...) is a pointer inside a buf: @OFFSET={_PTR32}(...)")
        return ("ref", text)
    raise _SyntaxError(f"expected a value, found {text or 'end of line'!r}")


def _buffer(t: _Tokens) -> Buffer:
    t.expect("(")
    size: int | None = None
    mapped: int | None = None
    data = b""
    ptrs: list[Reloc] = []
    fields = 0
    while not t.accept(")"):
        if fields:
            t.expect(",")
        fields += 1
        kind, key = t.next()
        t.expect("=")
        if kind == "at":
            width = 8
            if t.peek() == ("name", _PTR32) and t.items[t.pos + 1 : t.pos + 2] == [("punct", "(")]:
                t.pos += 2
                width = 4
            target = _value(t)
            if not isinstance(target, Special | Buffer):
                raise _SyntaxError(f"{key} must be a pointer (buf(...), null, unmapped, kernel)")
            if width == 4:
                t.expect(")")
            ptrs.append(Reloc(int(key[1:], 0), target, width))
        elif key in ("size", "mapped"):
            v = _value(t)
            if not isinstance(v, int):
                raise _SyntaxError(f"buf {key} must be an integer")
            size, mapped = (v, mapped) if key == "size" else (size, v)
        elif key == "data":
            d = _value(t)
            if not isinstance(d, bytes):
                raise _SyntaxError("buf data must be a string")
            data = d
        else:
            raise _SyntaxError(f"unknown buf field {key!r}")
    return Buffer(data, len(data) if size is None else size, mapped, tuple(ptrs))


# Parameters of each call: (name, kind, default); kind is one of
# "ref", "int", "bytes", "str", "arg". A default of None means required.
_PARAMS: dict[str, tuple[type, list[tuple[str, str, object]]]] = {
    "open": (Open, [("path", "str", None), ("flags", "int", O_RDWR), ("mode", "int", 0)]),
    "close": (Close, [("fd", "ref", None)]),
    "read": (Read, [("fd", "ref", None), ("count", "int", None)]),
    "write": (Write, [("fd", "ref", None), ("data", "bytes", None)]),
    "ioctl": (Ioctl, [("fd", "ref", None), ("cmd", "int", None), ("arg", "arg", 0)]),
    "nl_socket": (NlSocket, [("protocol", "int", NETLINK_GENERIC)]),
    "nl_send": (NlSend, [("sock", "ref", None), ("family", "str", None), ("msg", "bytes", None)]),
    "file_write": (FileWrite, [("path", "str", None), ("data", "bytes", None)]),
    "file_read": (FileRead, [("path", "str", None), ("count", "int", None)]),
    "mmap": (
        Mmap,
        [
            ("fd", "ref", None),
            ("length", "int", None),
            ("offset", "int", 0),
            ("prot", "int", 0x3),
            ("flags", "int", 0x1),
            ("touch", "int", 0),
        ],
    ),
    "munmap": (Munmap, [("map", "ref", None)]),
    "poll": (Poll, [("fd", "ref", None), ("events", "int", 0x5)]),
}


def _coerce(kind: str, name: str, v: _Value, labels: dict[str, int]) -> object:
    if kind == "ref":
        if not isinstance(v, tuple):
            raise _SyntaxError(f"{name} must be a label such as r0, or badfd")
        if v[1] == "badfd":
            return BAD_FD
        if v[1] not in labels:
            raise _SyntaxError(f"{name}: no earlier call is labelled {v[1]!r}")
        return labels[v[1]]
    if kind == "int" and isinstance(v, int):
        return v
    if kind == "bytes" and isinstance(v, bytes):
        return v
    if kind == "str" and isinstance(v, bytes):
        try:
            return v.decode("ascii")
        except UnicodeDecodeError:
            raise _SyntaxError(f"{name} must be ASCII") from None
    if kind == "arg" and isinstance(v, int | Special | Buffer):
        return v
    raise _SyntaxError(f"{name} has the wrong type of value")


def _call(t: _Tokens, labels: dict[str, int]) -> tuple[str, Call]:
    kind, name = t.next()
    if kind != "name" or name not in _PARAMS:
        raise _SyntaxError(f"unknown call {name!r}")
    cls, params = _PARAMS[name]
    t.expect("(")
    given: dict[str, object] = {}
    positional = True
    while not t.accept(")"):
        if given:
            t.expect(",")
        key = None
        if t.peek()[0] == "name" and t.items[t.pos + 1 : t.pos + 2] == [("punct", "=")]:
            key = t.next()[1]
            t.next()
            positional = False
        elif not positional:
            raise _SyntaxError("positional argument after a named one")
        if key is None:
            if len(given) >= len(params):
                raise _SyntaxError(f"{name} takes {len(params)} arguments")
            key = params[len(given)][0]
        if key in given:
            raise _SyntaxError(f"{key} given twice")
        v = _value(t)
        if key == "thread":
            given[key] = _coerce("int", key, v, labels)
            continue
        spec = next((p for p in params if p[0] == key), None)
        if spec is None:
            raise _SyntaxError(f"{name} has no parameter {key!r}")
        given[key] = _coerce(spec[1], key, v, labels)
    for pname, _, default in params:
        if pname not in given:
            if default is None:
                raise _SyntaxError(f"{name} needs {pname}")
            given[pname] = default
    if t.peek()[0] != "end":
        raise _SyntaxError(f"unexpected {t.peek()[1]!r} after the call")
    return name, cls(**given)


@dataclass
class _Parser:
    source: str
    abi: int = 64
    labels: dict[str, int] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    where: list[tuple[int, str]] = field(default_factory=list)  # (line, name) per call

    def fail(self, lineno: int, msg: str, name: str | None = None) -> ProgramSyntaxError:
        call = f" call {len(self.calls)} ({name}):" if name else ""
        return ProgramSyntaxError(f"{self.source}:{lineno}:{call} {msg}")

    def line(self, lineno: int, text: str) -> None:
        label = None
        m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)", text)
        if m and m.group(1) not in _PARAMS:
            label, text = m.group(1), text[m.end() :]
        name = text.strip().split("(", 1)[0].strip() or None
        try:
            name, call = _call(_Tokens.scan(text), self.labels)
        except (_SyntaxError, ValueError) as e:
            raise self.fail(lineno, str(e), name) from None
        if label is not None:
            if label in self.labels or label in ("badfd", "null", "unmapped", "kernel", "buf"):
                raise self.fail(lineno, f"label {label!r} is already taken", name)
            if result_kind(call) is None:
                raise self.fail(lineno, f"{name} yields no fd to label", name)
            self.labels[label] = len(self.calls)
        self.calls.append(call)
        self.where.append((lineno, name))

    def program(self) -> Program:
        program = Program(tuple(self.calls), self.abi)
        try:
            program.validate()
        except ProgramError as e:
            if e.call is None:
                raise ProgramSyntaxError(f"{self.source}: {e}") from None
            lineno, name = self.where[e.call]
            raise ProgramSyntaxError(
                f"{self.source}:{lineno}: call {e.call} ({name}): {e.reason}"
            ) from None
        return program


def _header(lines: list[tuple[int, str]], source: str) -> Header:
    want = [MAGIC, "driver", "spec"]
    values: list[str] = []
    for (lineno, text), key in zip(lines, want, strict=False):
        parts = text.split()
        if len(parts) != 2 or parts[0] != key:
            raise ProgramSyntaxError(f"{source}:{lineno}: expected '{key} ...', found {text!r}")
        values.append(parts[1])
    if len(values) < len(want):
        raise ProgramSyntaxError(f"{source}: header incomplete, expected {want[len(values)]!r}")
    if values[0] != str(VERSION):
        raise ProgramSyntaxError(
            f"{source}:{lines[0][0]}: program format version {values[0]}, this rig reads {VERSION}"
        )
    for (lineno, _), value in zip(lines[1:3], values[1:], strict=True):
        if not _HASH.fullmatch(value):
            raise ProgramSyntaxError(f"{source}:{lineno}: {value!r} is not a hex hash or -")
    return Header(*(None if v == "-" else v for v in values[1:]))


def loads(text: str, source: str = "<string>") -> ProgramFile:
    """Parse a program's text; errors name `source`, the line and the call."""
    lines = [
        (n, line)
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    header = _header(lines[:3], source)
    body = lines[3:]
    parser = _Parser(source)
    if body and (m := _ABI.fullmatch(body[0][1])):
        if m.group(1) not in [str(a) for a in ABIS]:
            raise ProgramSyntaxError(
                f"{source}:{body[0][0]}: abi {m.group(1)!r} is not one of "
                + ", ".join(map(str, ABIS))
            )
        parser.abi = int(m.group(1))
        body = body[1:]
    for lineno, line in body:
        parser.line(lineno, line)
    return ProgramFile(parser.program(), header)


def load(path: Path) -> ProgramFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read program: {e}") from None
    return loads(text, str(path))
