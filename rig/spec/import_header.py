"""Import ioctl codes, struct layouts and names from a UAPI header, and check them against gcc.

How it works:
- gcc's preprocessor expands the header (with the system's kernel UAPI
  headers for `<linux/ioctl.h>` and friends), pycparser parses the result,
  and `Layout` computes sizes, offsets and alignment as gcc does on x86_64
  (System V ABI: scalars aligned to their size, structs to their widest
  member, tail padding to that alignment; no bitfields, no `packed`).
- Every object-like `#define` of the header is expanded by gcc and evaluated
  here (`sizeof` included), so `_IOR(M, 1, struct x)` gives the full code;
  a macro whose body starts with `_IO`, `_IOR`, `_IOW` or `_IOWR` is an ioctl
  and its third argument the argument type.
- Field meaning comes from the header's own comments and names, the way
  kernel UAPI headers write them: `/* user pointer */` or a `*_ptr`/`addr`
  name makes a u64 a pointer, `len`/`size`/`count` next to it its length,
  `enum foo` or `FOO_*` in the comment gives the values or flag bits,
  `A .. B` a range, `reserved`/`must be 0` a constant, `out:` a field the
  kernel writes, `char x[N]` a string. These are guesses a human can
  override (the CLI's --overlay); they never say what a driver does wrong.

`check_with_gcc` compiles a tiny C probe that prints sizeof/offsetof of every
imported struct and field and the value of every ioctl macro, and compares.
gcc is always there (it builds the module), it covers macros (which DWARF does
not keep) and it uses the very compiler and flags' ABI the module uses.
`check_with_dwarf` additionally compares against the compiled `.ko` when it
has DWARF (pyelftools), which catches a module built from another header.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycparser import c_ast, c_parser

from rig.errors import ConfigError, InfraError
from rig.spec.types import (
    Array,
    Bytes,
    Device,
    Dir,
    Field,
    Int,
    Ioctl,
    Len,
    Ptr,
    Spec,
    String,
    Struct,
    StructRef,
    Type,
)

log = logging.getLogger(__name__)

# Keywords pycparser does not know; they change no layout in UAPI headers.
_GCC_DEFINES = [
    "-D__attribute__(x)=",
    "-D__extension__=",
    "-D__signed__=signed",
    "-D__inline__=inline",
    "-D__inline=inline",
    "-D__asm__(x)=",
    "-D__restrict=",
    "-D__builtin_va_list=void*",
]


def _scalar(words: list[str]) -> tuple[int, bool, str] | None:
    """(size, signed, canonical name) of a C scalar type however its words are ordered.

    C lets `short int signed` and `signed short int` name one type; a table
    of spellings misses some, so the words are counted instead (LP64).
    """
    known = {"signed", "unsigned", "char", "short", "int", "long", "_Bool", "float", "double"}
    if not words or any(w not in known for w in words):
        return None
    unsigned = "unsigned" in words
    longs = words.count("long")
    if "_Bool" in words:
        return 1, False, "_Bool"
    if "float" in words:
        return 4, True, "float"
    if "double" in words:
        return 8, True, "double"
    if "char" in words:
        base = "unsigned char" if unsigned else "signed char" if "signed" in words else "char"
        return 1, not unsigned, base
    if "short" in words:
        return 2, not unsigned, "unsigned short" if unsigned else "short"
    if longs:
        base = ("unsigned " if unsigned else "") + " ".join(["long"] * longs)
        return 8, not unsigned, base
    return 4, not unsigned, "unsigned int" if unsigned else "int"


_IOC_RE = re.compile(r"^_IO(R|W|WR)?\s*\((.*)\)\s*$", re.S)
_DEFINE_RE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(\()?[ \t]*(.*)$")
_COMMENT_RE = re.compile(r"/\*(.*?)\*/|//(.*)$", re.S)
_PTR_NAME = re.compile(r"(^|_)(ptr|uptr|addr|address|buf|buffer)$")
_LEN_NAME = re.compile(r"(^|_)(len|length|size|bytes)$")
ANON_RECORD = re.compile(r"anon\d+")  # rig's names for records C leaves unnamed
_COUNT_NAME = re.compile(r"(^|_)(count|cnt|num|nr|n)$")
# A pointer the driver fills: named as a result or destination, or said so.
_OUT_NAME = re.compile(r"(^|_)(out|output|dst|dest|result|results|resp|reply|rsp)(_|$)")
_OUT_COMMENT = re.compile(
    r"^\s*(out|output)\b|\b(filled|written|returned|stored)\b.*\b(by|to)\b|\bdriver writes\b",
    re.I,
)
_FLAGS_NAME = re.compile(r"(^|_)(flags|flag|mode|modes|opts|options|caps)$")
# Fields that must be zero. A scalar named just `pad` is not among them: V4L2's
# subdev calls select a pad (an input or output of the device) with one.
_RESERVED_NAME = re.compile(r"^(__)?(reserved|rsvd|padding|unused|spare)\d*$|^(__pad|pad\d+)$")
_RANGE_RE = re.compile(r"([\w()]+)\s*(?:\.\.|-)\s*([\w()]+)")


class HeaderError(ConfigError):
    """A header that cannot be imported; names the file and line where possible."""


@dataclass(frozen=True)
class Define:
    name: str
    body: str
    comment: str
    line: int


@dataclass
class _CType:
    """A C type as laid out: scalar, array, pointer, struct/union or enum."""

    size: int
    align: int
    kind: str  # scalar, pointer, array, record, enum
    signed: bool = False
    name: str = ""  # record or enum name
    elem: _CType | None = None
    count: int = 0
    base: str = ""  # scalar's C name (char arrays are strings)


@dataclass
class _Member:
    name: str
    offset: int
    ctype: _CType
    line: int


@dataclass
class _Record:
    name: str
    size: int
    align: int
    union: bool
    members: list[_Member]
    line: int
    file: str
    own: bool = True  # declared in the header itself, not in one it includes


@dataclass
class HeaderInfo:
    """What a header declares, laid out."""

    path: Path
    defines: dict[str, Define] = field(default_factory=dict)
    values: dict[str, int] = field(default_factory=dict)  # macros and enum constants
    strings: dict[str, str] = field(default_factory=dict)  # string macros
    enums: dict[str, dict[str, int]] = field(default_factory=dict)
    records: dict[str, _Record] = field(default_factory=dict)
    # Records of included headers (uinput.h's struct ff_effect is linux/input.h's):
    # imported only when the header's own records contain them.
    foreign: dict[str, _Record] = field(default_factory=dict)
    ioctls: list[tuple[str, str | None]] = field(default_factory=list)  # name, arg C type
    lines: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- reading the header


def read_defines(text: str) -> dict[str, Define]:
    """Object-like #defines with their bodies (comments removed) and trailing comments."""
    out: dict[str, Define] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i
        line = lines[i]
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + " " + lines[i]
        i += 1
        m = _DEFINE_RE.match(line)
        if not m or m.group(2):
            continue
        body = m.group(3)
        comments = [c1 or c2 for c1, c2 in _COMMENT_RE.findall(body)]
        body = _COMMENT_RE.sub(" ", body).strip()
        out[m.group(1)] = Define(m.group(1), body, " ".join(c.strip() for c in comments), start + 1)
    return out


def preprocess(header: Path, includes: Iterable[Path], extra: str = "") -> str:
    """The header expanded by gcc's preprocessor, with line markers for pycparser."""
    src = f'#include "{header.resolve()}"\n{extra}'
    cmd = ["gcc", "-E", "-x", "c", *_GCC_DEFINES, "-iquote", str(header.parent)]
    cmd += [f"-I{p}" for p in includes]
    cmd.append("-")
    try:
        done = subprocess.run(cmd, input=src, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise InfraError("gcc is not installed; header import needs its preprocessor") from None
    if done.returncode != 0:
        raise HeaderError(f"{header}: gcc -E failed:\n{done.stderr.strip()}")
    return done.stdout


def parse_header(header: Path, includes: Iterable[Path] = ()) -> HeaderInfo:
    """Lay out everything `header` declares and evaluate its macros."""
    text = header.read_text(encoding="utf-8", errors="replace")
    info = HeaderInfo(header, read_defines(text), lines=text.splitlines())
    marker = "__rig_macro_"
    probes = []
    for d in info.defines.values():
        if d.body.startswith('"'):
            info.strings[d.name] = _c_string(d.body)
        elif d.body and not d.body.startswith("#"):
            probes.append(f"long {marker}{d.name} = ({d.name});")
    includes = list(includes)
    pre = preprocess(header, includes, "\n".join(probes))
    ast = _parse_c(pre, header)
    layout = _Layout(info, header)
    exprs: dict[str, Any] = {}
    for ext in ast.ext:
        layout.declare(ext)
        if isinstance(ext, c_ast.Decl) and str(ext.name or "").startswith(marker):
            exprs[ext.name[len(marker) :]] = ext.init
    for name, expr in exprs.items():
        try:
            info.values[name] = layout.eval(expr)
        except _NotConst:
            log.debug("%s: macro %s is not an integer constant", header, name)
    for d in info.defines.values():
        m = _IOC_RE.match(d.body)
        if m and d.name in info.values:
            args = _split_args(m.group(2))
            info.ioctls.append((d.name, args[2].strip() if len(args) == 3 else None))
    _contained(info)
    return info


def _contained(info: HeaderInfo) -> None:
    """Add the included headers' records that the header's own records contain, transitively."""
    todo = list(info.records.values())
    while todo:
        for m in todo.pop().members:
            ct = m.ctype.elem if m.ctype.kind == "array" and m.ctype.elem else m.ctype
            if ct.kind == "record" and ct.name not in info.records and ct.name in info.foreign:
                info.records[ct.name] = info.foreign[ct.name]
                todo.append(info.records[ct.name])


def _c_string(body: str) -> str:
    m = re.match(r'"((?:[^"\\]|\\.)*)"', body)
    return m.group(1) if m else ""


def _split_args(s: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for c in s:
        if c == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += c == "("
        depth -= c == ")"
        cur += c
    out.append(cur)
    return out


def _parse_c(pre: str, header: Path) -> Any:
    try:
        return c_parser.CParser().parse(pre, str(header))
    except Exception as e:  # pycparser raises its own ParseError and plain errors
        raise HeaderError(
            f"{header}: pycparser cannot parse the preprocessed header: {e}"
        ) from None


class _NotConst(Exception):
    pass


class _Layout:
    """Walks pycparser's AST: typedefs, records, enums and constant expressions."""

    def __init__(self, info: HeaderInfo, header: Path) -> None:
        self.info = info
        self.header = header.resolve()
        self.typedefs: dict[str, _CType] = {}
        self.tags: dict[str, _CType] = {}
        self.anon = 0

    def own(self, coord: Any) -> bool:
        return coord is not None and Path(str(coord.file)).resolve() == self.header

    def declare(self, ext: Any) -> None:
        if isinstance(ext, c_ast.Typedef):
            self.typedefs[ext.name] = self.ctype(ext.type)
        elif (
            (isinstance(ext, c_ast.Decl) and isinstance(ext.type, c_ast.Struct | c_ast.Union))
            or (isinstance(ext, c_ast.Decl) and isinstance(ext.type, c_ast.Enum))
            or isinstance(ext, c_ast.Decl)
        ):
            self.ctype(ext.type)

    # ---- types

    def ctype(self, node: Any) -> _CType:
        if isinstance(node, c_ast.TypeDecl):
            return self.ctype(node.type)
        if isinstance(node, c_ast.IdentifierType):
            name = " ".join(node.names)
            if name in self.typedefs:
                return self.typedefs[name]
            scalar = _scalar(list(node.names))
            if scalar is not None:
                size, signed, base = scalar
                return _CType(size, size, "scalar", signed, base=base)
            if name == "void":
                return _CType(1, 1, "scalar", base="void")
            raise HeaderError(f"{self.header}: unknown type {name!r}")
        if isinstance(node, c_ast.PtrDecl):
            return _CType(8, 8, "pointer")
        if isinstance(node, c_ast.ArrayDecl):
            elem = self.ctype(node.type)
            count = 0 if node.dim is None else self.eval(node.dim)
            return _CType(elem.size * count, elem.align, "array", elem=elem, count=count)
        if isinstance(node, c_ast.Struct | c_ast.Union):
            return self.record(node)
        if isinstance(node, c_ast.Enum):
            return self.enum(node)
        if isinstance(node, c_ast.FuncDecl):
            return _CType(1, 1, "scalar", base="function")
        raise HeaderError(f"{self.header}: unsupported C construct {type(node).__name__}")

    def record(self, node: Any) -> _CType:
        union = isinstance(node, c_ast.Union)
        tag = ("union " if union else "struct ") + (node.name or "")
        if node.decls is None:
            if tag in self.tags:
                return self.tags[tag]
            return _CType(0, 1, "record", name=node.name or "")
        name = node.name
        if name is None:
            self.anon += 1
            name = f"anon{self.anon}"  # ANON_RECORD
        members: list[_Member] = []
        offset = size = 0
        align = 1
        for d in node.decls:
            if d.bitsize is not None:
                raise HeaderError(f"{d.coord}: bitfields are not supported ({d.name})")
            t = self.ctype(d.type)
            if t.kind == "array" and t.count == 0 and d is node.decls[-1]:
                pass  # a flexible array member takes no room
            off = 0 if union else _round(offset, t.align)
            members.append(_Member(d.name or f"anon{len(members)}", off, t, _line(d.coord)))
            offset = off + t.size
            size = max(size, offset)
            align = max(align, t.align)
        size = _round(size, align)
        ct = _CType(size, align, "record", name=name)
        self.tags[tag] = ct
        rec = _Record(name, size, align, union, members, _line(node.coord), str(node.coord.file))
        if self.own(node.coord):
            self.info.records[name] = rec
        else:
            self.info.foreign[name] = dataclasses.replace(rec, own=False)
        return ct

    def enum(self, node: Any) -> _CType:
        if node.values is not None:
            values: dict[str, int] = {}
            nxt = 0
            for e in node.values.enumerators:
                nxt = self.eval(e.value) if e.value is not None else nxt
                values[e.name] = nxt
                self.info.values.setdefault(e.name, nxt)
                nxt += 1
            if node.name and self.own(node.coord):
                self.info.enums[node.name] = values
        return _CType(4, 4, "enum", True, name=node.name or "", base="int")

    # ---- constant expressions

    def eval(self, node: Any) -> int:
        if isinstance(node, c_ast.Constant):
            return _constant(node)
        if isinstance(node, c_ast.ID):
            if node.name in self.info.values:
                return self.info.values[node.name]
            raise _NotConst(node.name)
        if isinstance(node, c_ast.UnaryOp):
            if node.op == "sizeof":
                return self.ctype(node.expr.type).size
            v = self.eval(node.expr)
            if node.op in ("-", "+", "~", "!"):
                return {"-": -v, "+": v, "~": ~v, "!": int(not v)}[node.op]
            raise _NotConst(node.op)
        if isinstance(node, c_ast.BinaryOp):
            return _binop(node.op, self.eval(node.left), self.eval(node.right))
        if isinstance(node, c_ast.TernaryOp):
            return self.eval(node.iftrue) if self.eval(node.cond) else self.eval(node.iffalse)
        if isinstance(node, c_ast.Cast):
            t = self.ctype(node.to_type.type)
            v = self.eval(node.expr)
            if t.kind in ("scalar", "enum") and t.size < 8:
                v &= (1 << (8 * t.size)) - 1
                if t.signed and v >> (8 * t.size - 1):
                    v -= 1 << (8 * t.size)
            return v
        raise _NotConst(type(node).__name__)


def _binop(op: str, a: int, b: int) -> int:
    if op == "/":
        if b == 0:
            raise _NotConst("division by zero")
        return int(a / b)
    if op == "%":
        if b == 0:
            raise _NotConst("division by zero")
        return a - int(a / b) * b
    table = {
        "+": a + b,
        "-": a - b,
        "*": a * b,
        "<<": a << b if 0 <= b < 128 else 0,
        ">>": a >> b if b >= 0 else 0,
        "|": a | b,
        "&": a & b,
        "^": a ^ b,
        "==": int(a == b),
        "!=": int(a != b),
        "<": int(a < b),
        ">": int(a > b),
        "<=": int(a <= b),
        ">=": int(a >= b),
        "&&": int(bool(a and b)),
        "||": int(bool(a or b)),
    }
    if op not in table:
        raise _NotConst(op)
    return table[op]


def _constant(node: Any) -> int:
    v = node.value
    if node.type == "char":
        body = v[1:-1]
        if body.startswith("\\"):
            esc = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39}
            if body[1] in "xX":
                return int(body[2:], 16)
            if body[1:].isdigit():
                return int(body[1:], 8)
            return esc.get(body[1], ord(body[1]))
        return ord(body)
    if "int" not in node.type:
        raise _NotConst(node.type)
    digits = v.rstrip("uUlL")
    if digits.startswith(("0x", "0X")):
        return int(digits, 16)
    if digits.startswith(("0b", "0B")):
        return int(digits, 2)
    if digits.startswith("0") and len(digits) > 1:
        return int(digits, 8)
    return int(digits)


def _round(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _line(coord: Any) -> int:
    return int(coord.line) if coord is not None else 0


# ---------------------------------------------------------------- header -> spec


@dataclass
class _Hints:
    """What a field's comment and name say about it."""

    comment: str


def _comment_at(info: HeaderInfo, line: int) -> str:
    if not 0 < line <= len(info.lines):
        return ""
    text = info.lines[line - 1]
    return " ".join((a or b).strip() for a, b in _COMMENT_RE.findall(text))


def _comment_before(info: HeaderInfo, line: int) -> str:
    """The comment block just above a declaration (blank lines end it)."""
    out: list[str] = []
    i = line - 2
    while i >= 0 and info.lines[i].strip() and not info.lines[i].strip().endswith(";"):
        if "*" not in info.lines[i] and "//" not in info.lines[i]:
            break
        out.insert(0, info.lines[i])
        i -= 1
    return " ".join(out)


def _resolve(token: str, info: HeaderInfo) -> int | None:
    """An integer or a macro/enum name, also by unique suffix (BATCH_MAX -> FOO_BATCH_MAX)."""
    try:
        return int(token, 0)
    except ValueError:
        pass
    if token in info.values:
        return info.values[token]
    hits = [v for k, v in info.values.items() if k.endswith("_" + token)]
    return hits[0] if len(hits) == 1 else None


def _prefixed(prefix: str, info: HeaderInfo) -> dict[str, int]:
    return {k: v for k, v in info.values.items() if k.startswith(prefix) and k in info.defines}


def _int_type(ct: _CType, name: str, comment: str, info: HeaderInfo, owner: str = "") -> Int:
    size = ct.size if ct.size in (1, 2, 4, 8) else 4
    lo: int | None = None
    hi: int | None = None
    v: int | None
    values: list[int] = []
    flags: list[int] = []
    const = None
    if _RESERVED_NAME.match(name) or re.search(r"must be (0|zero)", comment, re.I):
        const = 0
    for enum_name in re.findall(r"enum\s+(\w+)", comment):
        values += sorted(set(info.enums.get(enum_name, {}).values()))
    for prefix in re.findall(r"\b([A-Z][A-Z0-9_]*_)\*", comment):
        for v in _prefixed(prefix, info).values():
            (flags if v and v & (v - 1) == 0 else values).append(v)
    if ct.kind == "enum" and ct.name in info.enums:
        values += sorted(set(info.enums[ct.name].values()))
    if not values and not flags and owner and _FLAGS_NAME.search(name):
        flags += _owned_flags(owner, name, info)
    m = _RANGE_RE.search(comment)
    if m:
        lo, hi = _resolve(m.group(1), info), _resolve(m.group(2), info)
    m = re.search(r"(<=|>=|<|>)\s*(\w+)", comment)
    if m and lo is None and hi is None:
        v = _resolve(m.group(2), info)
        if v is not None:
            op = m.group(1)
            lo, hi = (v if op == ">=" else v + 1, None) if ">" in op else (None, v - (op == "<"))
    t = Int(size, ct.signed and ct.base != "char", lo, hi, tuple(dict.fromkeys(values)))
    return Int(t.size, t.signed, t.min, t.max, t.values, tuple(sorted(set(flags))), const)


def _owned_flags(owner: str, field: str, info: HeaderInfo) -> list[int]:
    """Single-bit macros named after the struct that holds a flags field.

    `struct foo_cfg { __u32 flags; }` owns FOO_CFG_F_*, FOO_CFG_FLAG_* or
    FOO_CFG_FLAGS_*, and its `mode` FOO_CFG_MODE_*; never the bits of
    another struct's flags field.
    """
    stem = owner.upper() + "_"
    generic = ("F_", "FLAG_", "FLAGS_") if re.search(r"(^|_)flags?$", field) else ()
    prefixes = [stem + p for p in (*generic, field.upper() + "_")]
    for prefix in prefixes:
        bits = [v for v in _prefixed(prefix, info).values() if v and v & (v - 1) == 0]
        if bits:
            return sorted(set(bits))
    return []


def _is_out(name: str, comment: str) -> bool:
    return bool(_OUT_NAME.search(name) or _OUT_COMMENT.search(comment))


def _shared(a: str, b: str) -> int:
    """Length of the common start of two names."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _length_target(name: str, ptrs: list[str], order: list[str]) -> str:
    """The pointer a length or count field describes.

    By name first (`out_len` -> `out_ptr`, the longest shared stem wins),
    else the nearest pointer declared before it, else the first after it.
    """
    stem = re.sub(r"_?(len|length|size|bytes|count|cnt|num|nr|n)$", "", name)
    if stem:
        named = [
            p
            for p in ptrs
            if p.startswith(stem) or stem.startswith(re.sub(r"_?(ptr|uptr|addr|address)$", "", p))
        ]
        if named:
            return max(named, key=lambda p: _shared(p, stem))
    at = order.index(name)
    before = [p for p in ptrs if order.index(p) < at]
    return before[-1] if before else ptrs[0]


def _fields(
    rec: _Record, info: HeaderInfo, known: set[str], kernel_writes: bool = False
) -> tuple[Field, ...]:
    """The fields of a record; `kernel_writes`: only _IOR ioctls pass it, so its buffers are out."""
    # Comments are read from the header's own lines; an included record has none here.
    above = _comment_before(info, rec.line) if rec.own else ""
    comments = {m.name: _comment_at(info, m.line) if rec.own else "" for m in rec.members}
    lengths = {
        re.sub(r"_?(len|length|size|bytes|count|cnt|num|nr)$", "", m.name)
        for m in rec.members
        if _LEN_NAME.search(m.name) or _COUNT_NAME.search(m.name)
    }
    ptrs = [
        m.name
        for m in rec.members
        if (m.ctype.kind == "pointer")
        or (
            m.ctype.kind == "scalar"
            and m.ctype.size == 8
            and (
                _PTR_NAME.search(m.name)
                or re.search(r"\bpointer\b|\bptr\b", comments[m.name], re.I)
                or m.name in lengths  # `data` beside `data_len`: a user buffer
            )
        )
    ]
    order = [m.name for m in rec.members]
    out = []
    for m in rec.members:
        comment = comments[m.name]
        is_out = bool(re.match(r"\s*(out|output)\b", comment, re.I))
        t: Type
        if m.name in ptrs:
            fills = kernel_writes or _is_out(m.name, comment)
            t = Ptr(_pointee(comment, above, rec.name, known), Dir.OUT if fills else Dir.IN)
        elif m.ctype.kind == "array" and m.ctype.elem is not None:
            e = m.ctype.elem
            if (
                e.kind == "scalar"
                and e.base in ("char", "signed char", "unsigned char")
                and (e.base == "char" or "name" in m.name or "str" in comment.lower())
            ):
                t = String(m.ctype.count, max(m.ctype.count - 1, 0))
            else:
                t = Array(_scalar_or_record(e, info), m.ctype.count)
        elif m.ctype.kind == "record":
            t = StructRef(m.ctype.name)
        else:
            t = _len_or_int(m, comment, ptrs, order, info, rec.name)
        out.append(Field(m.name, m.offset, t, is_out))
    return tuple(out)


def _len_or_int(
    m: _Member, comment: str, ptrs: list[str], order: list[str], info: HeaderInfo, owner: str
) -> Type:
    size = m.ctype.size if m.ctype.size in (1, 2, 4, 8) else 4
    if ptrs and (_LEN_NAME.search(m.name) or _COUNT_NAME.search(m.name)):
        target = _length_target(m.name, ptrs, order)
        unit = "elements" if _COUNT_NAME.search(m.name) else "bytes"
        if not (unit == "bytes" and "elem" in m.name):
            return Len(target, size, unit)
    return _int_type(m.ctype, m.name, comment, info, owner)


def _scalar_or_record(ct: _CType, info: HeaderInfo) -> Type:
    if ct.kind == "record":
        return StructRef(ct.name)
    return Int(ct.size if ct.size in (1, 2, 4, 8) else 1, ct.signed)


def _pointee(comment: str, above: str, own: str, known: set[str]) -> Type:
    named = [s for s in re.findall(r"struct\s+(\w+)", comment + " " + above) if s in known]
    named = [s for s in dict.fromkeys(named) if s != own]
    if len(named) == 1:
        return Array(StructRef(named[0]), None, 0, 16)
    return Bytes()


def _arg_type(ctext: str | None, info: HeaderInfo, d: Dir) -> Type | None:
    if ctext is None:
        return None
    m = re.match(r"(struct|union)\s+(\w+)$", ctext)
    if m and m.group(2) in info.records:
        return Ptr(StructRef(m.group(2)), d)
    size = {"char": 1, "__u8": 1, "__s8": 1, "__u16": 2, "__s16": 2, "__u64": 8, "__s64": 8}
    return Ptr(Int(size.get(ctext, 8 if "long" in ctext else 4)), d)


def words(info: HeaderInfo) -> tuple[str, ...]:
    """Lower-case tokens of the names the header declares, without their common prefix."""
    names = [*info.values, *info.strings, *info.records]
    first = [n.split("_")[0].lower() for n in names if "_" in n]
    common = max(set(first), key=first.count) if first else ""
    out: dict[str, None] = {}
    for n in names:
        parts = n.split("_")
        if parts and parts[0].lower() == common:
            parts = parts[1:]
        for p in parts:
            if len(p) > 1 and p.isalpha() and p.upper() not in ("IOC", "IO", "UAPI"):
                out[p.lower()] = None
    for s in info.strings.values():
        if s.isidentifier():
            out[s] = None
    return tuple(out)


def header_spec(
    header: Path, name: str, devices: Iterable[str] = (), includes: Iterable[Path] = ()
) -> Spec:
    """A spec with the header's ioctls and structs, its ioctls on each of `devices`."""
    info = parse_header(header, includes)
    known = set(info.records)
    ioctls = []
    for macro, argc in info.ioctls:
        code = info.values[macro] & 0xFFFFFFFF
        d = Dir.from_ioc(code >> 30)
        ioctls.append(
            Ioctl(
                macro,
                code,
                d,
                (code >> 8) & 0xFF,
                code & 0xFF,
                (code >> 16) & 0x3FFF,
                _arg_type(argc, info, Dir.INOUT if d == Dir.INOUT else d),
            )
        )
    passed: dict[str, set[Dir]] = {}
    for io in ioctls:
        if isinstance(io.arg, Ptr) and isinstance(io.arg.target, StructRef):
            passed.setdefault(io.arg.target.name, set()).add(io.dir)
    structs = tuple(
        Struct(
            r.name,
            r.size,
            r.align,
            _fields(r, info, known, kernel_writes=passed.get(r.name) == {Dir.OUT}),
            r.union,
        )
        for r in info.records.values()
    )
    names = tuple(io.name for io in ioctls)
    devs = tuple(Device(p, names) for p in devices)
    return Spec(name, devs, tuple(ioctls), structs, words=words(info))


# ---------------------------------------------------------------- checks against gcc and DWARF


@dataclass(frozen=True)
class Mismatch:
    what: str
    ours: int
    theirs: int

    def __str__(self) -> str:
        return f"{self.what}: rig computed {self.ours}, compiler says {self.theirs}"


def probe_source(spec: Spec, header: Path) -> str:
    """A C program printing sizeof/offsetof of the spec's structs and its ioctl codes."""
    lines = [
        "#include <stdio.h>",
        "#include <stddef.h>",
        f'#include "{header.resolve()}"',
        "int main(void) {",
    ]
    for s in spec.structs:
        if ANON_RECORD.fullmatch(s.name):
            continue  # C cannot name it; its container's offsets and size check it
        kw = "union" if s.union else "struct"
        lines.append(f'printf("size {s.name} %zu\\n", sizeof({kw} {s.name}));')
        lines.append(f'printf("align {s.name} %zu\\n", _Alignof({kw} {s.name}));')
        for f in s.fields:
            lines.append(
                f'printf("offset {s.name}.{f.name} %zu\\n", offsetof({kw} {s.name}, {f.name}));'
            )
    for io in spec.ioctls:
        lines.append(f'printf("ioctl {io.name} %lu\\n", (unsigned long)({io.name}));')
    lines += ["return 0;", "}"]
    return "\n".join(lines) + "\n"


def _expected(spec: Spec) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in spec.structs:
        if ANON_RECORD.fullmatch(s.name):
            continue
        out[f"size {s.name}"] = s.size
        out[f"align {s.name}"] = s.align
        for f in s.fields:
            out[f"offset {s.name}.{f.name}"] = f.offset
    for io in spec.ioctls:
        out[f"ioctl {io.name}"] = io.code
    return out


def check_with_gcc(spec: Spec, header: Path, includes: Iterable[Path] = ()) -> list[Mismatch]:
    """Compile and run a probe with gcc; every disagreement with the spec's numbers."""
    theirs = gcc_layout(spec, header, includes)
    return [
        Mismatch(k, v, theirs.get(k, -1)) for k, v in _expected(spec).items() if theirs.get(k) != v
    ]


def with_gcc_layout(
    spec: Spec, header: Path, includes: Iterable[Path] = ()
) -> tuple[Spec, list[Mismatch]]:
    """The spec laid out as gcc lays it out, and where that differed from rig's own reading.

    rig's layout ignores attributes (`packed`, `aligned`) that pycparser
    never sees; gcc compiles the header as the driver's users do, so its
    sizes, offsets and ioctl codes (which hold a size) are the truth.
    """
    theirs = gcc_layout(spec, header, includes)
    diff = [
        Mismatch(k, v, theirs[k])
        for k, v in _expected(spec).items()
        if k in theirs and theirs[k] != v
    ]
    if not diff:
        return spec, []
    structs = tuple(
        dataclasses.replace(
            st,
            size=theirs.get(f"size {st.name}", st.size),
            align=theirs.get(f"align {st.name}", st.align),
            fields=tuple(
                dataclasses.replace(f, offset=theirs.get(f"offset {st.name}.{f.name}", f.offset))
                for f in st.fields
            ),
        )
        for st in spec.structs
    )
    ioctls = []
    for io in spec.ioctls:
        code = theirs.get(f"ioctl {io.name}", io.code) & 0xFFFFFFFF
        ioctls.append(dataclasses.replace(io, code=code, size=(code >> 16) & 0x3FFF))
    return dataclasses.replace(spec, structs=structs, ioctls=tuple(ioctls)), diff


def gcc_layout(spec: Spec, header: Path, includes: Iterable[Path] = ()) -> dict[str, int]:
    """Sizes, alignments, offsets and ioctl codes of the spec's names, as gcc computes them."""
    with tempfile.TemporaryDirectory(prefix="rig-probe-") as tmp:
        src, exe = Path(tmp) / "probe.c", Path(tmp) / "probe"
        src.write_text(probe_source(spec, header))
        # -iquote, not -I: a header in /usr/include/linux must not turn <stddef.h>
        # into linux/stddef.h for the probe's own includes.
        cmd = ["gcc", "-std=gnu11", "-w", "-iquote", str(header.parent)]
        cmd += [f"-I{p}" for p in includes]
        done = subprocess.run([*cmd, "-o", str(exe), str(src)], capture_output=True, text=True)
        if done.returncode != 0:
            raise HeaderError(f"{header}: the layout probe does not compile:\n{done.stderr}")
        out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    theirs = {}
    for line in out.splitlines():
        key, _, value = line.rpartition(" ")
        theirs[key] = int(value)
    return theirs


def check_with_dwarf(spec: Spec, module: Path) -> tuple[list[Mismatch], list[str]]:
    """Compare struct sizes and offsets with the module's DWARF.

    Returns the mismatches and the structs the module's DWARF does not
    describe (not used by the module, or built without debug info).
    """
    from elftools.elf.elffile import ELFFile

    found: dict[str, dict[str, int]] = {}
    with module.open("rb") as f:
        elf = ELFFile(f)
        if not elf.has_dwarf_info():
            return [], [s.name for s in spec.structs]
        wanted = {s.name for s in spec.structs}
        for cu in elf.get_dwarf_info().iter_CUs():
            for die in cu.iter_DIEs():
                if die.tag not in ("DW_TAG_structure_type", "DW_TAG_union_type"):
                    continue
                name_attr = die.attributes.get("DW_AT_name")
                size_attr = die.attributes.get("DW_AT_byte_size")
                if name_attr is None or size_attr is None:
                    continue
                name = name_attr.value.decode()
                if name not in wanted or name in found:
                    continue
                rec = {"size": int(size_attr.value)}
                for child in die.iter_children():
                    if child.tag != "DW_TAG_member" or "DW_AT_name" not in child.attributes:
                        continue
                    loc = child.attributes.get("DW_AT_data_member_location")
                    off = loc.value if loc is not None and isinstance(loc.value, int) else 0
                    rec[child.attributes["DW_AT_name"].value.decode()] = off
                found[name] = rec
    mismatches: list[Mismatch] = []
    missing: list[str] = []
    for s in spec.structs:
        got = found.get(s.name)
        if got is None:
            missing.append(s.name)
            continue
        rec = got
        if rec["size"] != s.size:
            mismatches.append(Mismatch(f"size {s.name}", s.size, rec["size"]))
        for fld in s.fields:
            if fld.name in rec and rec[fld.name] != fld.offset:
                mismatches.append(
                    Mismatch(f"offset {s.name}.{fld.name}", fld.offset, rec[fld.name])
                )
    return mismatches, missing
