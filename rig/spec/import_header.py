"""Import ioctl codes, struct layouts and names from a UAPI header, and check them against gcc.

How it works:
- gcc's preprocessor expands the header after `PRELUDE`, what a program using
  a UAPI header has included before it (glibc's type names such as size_t,
  and the kernel's _IOC macros, which sound/asound.h and linux/if_tun.h use
  without including them), with the system's include directories searched
  before any the user adds. GNU attributes that change a layout (`packed`,
  `aligned`) are carried through as marker declarations (`rig.spec.c_attrs`),
  pycparser parses the result, and `_Layout` computes sizes, offsets and
  alignment as gcc does on x86_64 (System V ABI: scalars aligned to their
  size, structs to their widest member, tail padding to that alignment,
  bitfields packed into units of their type, `packed` and `aligned` honoured).
- Every object-like `#define` of the header is expanded by gcc and evaluated
  here (`sizeof` included), so `_IOR(M, 1, struct x)` gives the full code;
  a macro whose body starts with `_IO`, `_IOR`, `_IOW` or `_IOWR` is an ioctl
  and the type its expansion takes `sizeof` of is the argument's type. A
  struct of an included header that an ioctl passes, or that the header's own
  structs contain, is imported with it (if_tun.h's struct sock_fprog is
  linux/filter.h's).
- A record C leaves unnamed is named after its typedef (`__time_pad`) or by
  its path from the record around it (`snd_ctl_elem_value.value`,
  `v4l2_ext_control.anon3` for an anonymous member, the fourth one).
- Field meaning comes from the header's own comments and names, the way
  kernel UAPI headers write them: `/* user pointer */` or a `*_ptr`/`addr`
  name makes a u64 a pointer, `len`/`size`/`count` next to it its length,
  `enum foo` or `FOO_*` in the comment gives the values or flag bits,
  `A .. B` a range, `must be 0` a constant, `out:` a field the kernel writes,
  `char x[N]` a string. A name alone never fixes a value: `reserved` fields
  are fuzzed like any other. These are guesses a human can override (the
  CLI's --overlay); they never say what a driver does wrong.

`check_with_gcc` compiles a tiny C probe that prints sizeof/offsetof of every
imported struct and field and the value of every ioctl macro, and compares.
gcc is always there (it builds the module), it covers macros (which DWARF does
not keep) and it uses the very compiler and flags' ABI the module uses.
Records C cannot name are reached through the named record that holds them
(an anonymous member's offset is that of its first field). A struct the probe
still cannot compile is left with rig's own layout and a warning.
`check_with_dwarf` additionally compares against the compiled `.ko` when it
has DWARF (pyelftools), which catches a module built from another header.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycparser import c_ast, c_parser

from rig.errors import ConfigError, InfraError
from rig.spec.c_attrs import carry_attributes, parse_marker
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

# What a program using a UAPI header includes before it. UAPI headers use
# glibc's type names (fs.h: _IOR(0x12, 112, size_t)) and the kernel's _IOC
# macros (asound.h, if_tun.h) without including them; the layout probe gets
# the same prelude (and declares printf itself), so both read the header in
# the same context. No more than that: <sys/types.h> would already clash with
# linux/time.h's struct timeval.
PRELUDE = ("stddef.h", "stdint.h", "linux/ioctl.h")

# GNU spellings pycparser does not know, for what it does know or for nothing
# where they change no layout: `__extension__` only silences pedantic
# warnings, `__asm__("name")` renames a symbol, `__restrict` and `__inline`
# are hints, `__volatile__` (idxd.h, wmi.h) a qualifier. __builtin_offsetof
# (stddef.h's offsetof, in btrfs_tree.h's inline functions) becomes the
# classic null-pointer form pycparser parses. `__attribute__` is not among
# them: it reaches pycparser as markers (rig.spec.c_attrs) because `packed`
# and `aligned` change layouts.
_GCC_DEFINES = [
    "-D__extension__=",
    "-D__signed__=signed",
    "-D__signed=signed",
    "-D__inline__=inline",
    "-D__inline=inline",
    "-D__volatile__=volatile",
    "-D__volatile=volatile",
    "-D__const__=const",
    "-D__const=const",
    "-D__asm__(...)=",
    "-D__asm(...)=",
    "-D__restrict=",
    "-D__restrict__=",
    "-D__builtin_va_list=void*",
    "-D__builtin_offsetof(t,m)=((unsigned long)&((t *)0)->m)",
    "-D__alignof__=_Alignof",
    "-D__alignof=_Alignof",
]


def _scalar(words: list[str], abi: int = 64) -> tuple[int, bool, str] | None:
    """(size, signed, canonical name) of a C scalar type however its words are ordered.

    C lets `short int signed` and `signed short int` name one type; a table
    of spellings misses some, so the words are counted instead. Sizes are
    LP64's, or i386's for `abi` 32 (`long` is 4 bytes, `long double` 12).
    """
    known = {"signed", "unsigned", "char", "short", "int", "long", "_Bool", "float", "double"}
    known.add("__int128")
    if not words or any(w not in known for w in words):
        return None
    unsigned = "unsigned" in words
    longs = words.count("long")
    if "_Bool" in words:
        return 1, False, "_Bool"
    if "float" in words:
        return 4, True, "float"
    if "double" in words:
        if longs:
            return (12 if abi == 32 else 16), True, "long double"
        return 8, True, "double"
    if "__int128" in words:
        return 16, not unsigned, "unsigned __int128" if unsigned else "__int128"
    if "char" in words:
        base = "unsigned char" if unsigned else "signed char" if "signed" in words else "char"
        return 1, not unsigned, base
    if "short" in words:
        return 2, not unsigned, "unsigned short" if unsigned else "short"
    if longs:
        base = ("unsigned " if unsigned else "") + " ".join(["long"] * longs)
        return (4 if abi == 32 and longs == 1 else 8), not unsigned, base
    return 4, not unsigned, "unsigned int" if unsigned else "int"


_IOC_RE = re.compile(r"^_IO(R|W|WR)?\s*\((.*)\)\s*$", re.S)
_DEFINE_RE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(\()?[ \t]*(.*)$")
_COMMENT_RE = re.compile(r"/\*(.*?)\*/|//(.*)$", re.S)
_PTR_NAME = re.compile(r"(^|_)(ptr|uptr|addr|address|buf|buffer)$")
_LEN_NAME = re.compile(r"(^|_)(len|length|size|bytes)$")
# A name C can spell. rig's names for records C leaves unnamed (`outer.member`)
# are not, which is how the probe tells them apart.
_C_NAME = re.compile(r"[A-Za-z_]\w*")
_ANON_MEMBER = re.compile(r"anon\d+")  # a member C leaves unnamed (an anonymous union)
_COUNT_NAME = re.compile(r"(^|_)(count|cnt|num|nr|n)$")
# A pointer the driver fills: named as a result or destination, or said so.
_OUT_NAME = re.compile(r"(^|_)(out|output|dst|dest|result|results|resp|reply|rsp)(_|$)")
_OUT_COMMENT = re.compile(
    r"^\s*(out|output)\b|\b(filled|written|returned|stored)\b.*\b(by|to)\b|\bdriver writes\b",
    re.I,
)
_FLAGS_NAME = re.compile(r"(^|_)(flags|flag|mode|modes|opts|options|caps)$")
_RANGE_RE = re.compile(r"([\w()]+)\s*(?:\.\.|-)\s*([\w()]+)")
_MACRO = "__rig_macro_"  # prefix of the declarations that evaluate the header's macros
_PROBES_BEGIN = "int __rig_probes_begin;"  # ends the header, starts those declarations


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
    complete: bool = True  # False: a record only declared (`struct x;`), never defined


@dataclass
class _Member:
    name: str
    offset: int
    ctype: _CType
    line: int
    bits: tuple[int, int] | None = None  # a bitfield: first bit in the record, width


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
    abi: int = 64  # laid out for 64-bit (x86_64) or 32-bit (i386) callers
    defines: dict[str, Define] = field(default_factory=dict)
    values: dict[str, int] = field(default_factory=dict)  # macros and enum constants
    strings: dict[str, str] = field(default_factory=dict)  # string macros
    enums: dict[str, dict[str, int]] = field(default_factory=dict)
    records: dict[str, _Record] = field(default_factory=dict)
    # Records of included headers (uinput.h's struct ff_effect is linux/input.h's):
    # imported only when an ioctl passes them or the header's own records contain them.
    foreign: dict[str, _Record] = field(default_factory=dict)
    # name, the C type its argument points to (None: _IO, no argument)
    ioctls: list[tuple[str, _CType | None]] = field(default_factory=list)
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


def include_flags(header: Path, includes: Iterable[Path] = ()) -> list[str]:
    """gcc's search path for the header's includes: the system's directories first.

    `-iquote`, not `-I`, for the header's own directory: it serves
    `#include "x.h"` only, so a header in /usr/include/linux cannot turn
    <stddef.h> into linux/stddef.h. Extra directories come after the
    system's (`-idirafter`) for the same reason: a driver tree's own
    linux/types.h must not replace what the prelude and the probe include.
    """
    flags = ["-iquote", str(header.resolve().parent)]
    for p in includes:
        flags += ["-idirafter", str(p)]
    return flags


def _prelude() -> str:
    return "".join(f"#include <{h}>\n" for h in PRELUDE)


def abi_flags(abi: int) -> list[str]:
    """gcc's flags for compiling as a caller of `abi` sees the header (i386 for 32)."""
    return ["-m32"] if abi == 32 else []


def preprocess(header: Path, includes: Iterable[Path], extra: str = "", abi: int = 64) -> str:
    """The header expanded by gcc's preprocessor after `PRELUDE`, with line markers for pycparser."""
    src = f'{_prelude()}#include "{header.resolve()}"\n{extra}'
    # pycparser knows no __float128, which i386's max_align_t holds: rig never
    # lays that record out, so any type of its size will do.
    i386 = ["-D__float128=long double"] if abi == 32 else []
    flags = [*_GCC_DEFINES, *i386, *abi_flags(abi), *include_flags(header, includes)]
    cmd = ["gcc", "-E", "-x", "c", *flags, "-"]
    try:
        done = subprocess.run(cmd, input=src, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise InfraError("gcc is not installed; header import needs its preprocessor") from None
    if done.returncode != 0:
        raise HeaderError(f"{header}: gcc -E failed:\n{done.stderr.strip()}")
    return done.stdout


def parse_header(header: Path, includes: Iterable[Path] = (), abi: int = 64) -> HeaderInfo:
    """Lay out everything `header` declares, as callers of `abi` see it, and evaluate its macros."""
    try:
        text = header.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise HeaderError(f"{header}: cannot read it: {e.strerror}") from None
    info = HeaderInfo(header, abi, read_defines(text), lines=text.splitlines())
    probes = []
    for d in info.defines.values():
        if d.body.startswith('"'):
            info.strings[d.name] = _c_string(d.body)
        elif d.body and not d.body.startswith("#"):
            probes.append(f"long {_MACRO}{d.name} = ({d.name});")
    pre = preprocess(header, list(includes), _PROBES_BEGIN + "\n" + "\n".join(probes), abi)
    head, found, tail = carry_attributes(pre).partition(_PROBES_BEGIN)
    if not found:
        raise HeaderError(f"{header}: gcc -E lost rig's marker line; is the header complete?")
    ast = _parse_c(head, header)
    layout = _Layout(info, header)
    for ext in ast.ext:
        layout.declare(ext)
    exprs = _parse_probes(tail, sorted(layout.typedefs))
    why: dict[str, str] = {}
    for name, expr in exprs.items():
        try:
            info.values[name] = layout.eval(expr)
        except (_NotConst, HeaderError) as e:
            why[name] = _reason(e)
            log.debug("%s: macro %s is not an integer constant (%s)", header, name, why[name])
    for d in info.defines.values():
        if not _IOC_RE.match(d.body):
            continue
        if d.name in info.values:
            info.ioctls.append((d.name, layout.arg_ctype(exprs[d.name])))
        elif d.name in why and not _undefined(exprs[d.name], d.name):
            log.warning("%s:%d: ioctl %s skipped: %s", header, d.line, d.name, why[d.name])
    _import_args(info)
    _contained(info)
    return info


def _undefined(expr: Any, name: str) -> bool:
    """True if a macro expanded to its own name: not defined where gcc looked (#if 0, __KERNEL__)."""
    return isinstance(expr, c_ast.ID) and expr.name == name


def _parse_probes(text: str, typedefs: list[str]) -> dict[str, Any]:
    """The expanded macro expressions, by macro name; a macro whose expansion is no expression is left out.

    One expansion that is not an expression (`#define __packed` expands to
    nothing, an unknown macro to a bare call) must not fail the whole header,
    so the declarations are parsed together and, if that fails, by halves.
    They are parsed after the header, so typedef names are declared again
    (any type will do: pycparser only needs to know they name types).
    """
    prefix = "".join(f"typedef int {n};\n" for n in typedefs)
    chunks = [
        c
        for c in re.split(rf"(?=\blong {_MACRO})", text)
        if c.lstrip().startswith("long " + _MACRO)
    ]

    def parse(group: list[str]) -> dict[str, Any]:
        if not group:
            return {}
        try:
            ast = c_parser.CParser().parse(prefix + "\n".join(group), "<macros>")
        except Exception:  # pycparser raises its ParseError and, on odd input, plain errors
            if len(group) == 1:
                log.debug("macro is not an expression: %s", group[0].strip()[:200])
                return {}
            half = len(group) // 2
            return parse(group[:half]) | parse(group[half:])
        return {
            ext.name[len(_MACRO) :]: ext.init
            for ext in ast.ext
            if isinstance(ext, c_ast.Decl) and str(ext.name or "").startswith(_MACRO)
        }

    return parse(chunks)


def _import_args(info: HeaderInfo) -> None:
    """Add the included headers' records that ioctls pass (if_tun.h's struct sock_fprog)."""
    for _, ct in info.ioctls:
        while ct is not None and ct.kind == "array":
            ct = ct.elem
        if ct is not None and ct.kind == "record" and ct.name in info.foreign:
            info.records.setdefault(ct.name, info.foreign[ct.name])


def _contained(info: HeaderInfo) -> None:
    """Add the included headers' records that the imported records contain, transitively."""
    todo = list(info.records.values())
    while todo:
        for m in todo.pop().members:
            ct = m.ctype
            while ct.kind == "array" and ct.elem is not None:
                ct = ct.elem
            if ct.kind == "record" and ct.name not in info.records and ct.name in info.foreign:
                info.records[ct.name] = info.foreign[ct.name]
                todo.append(info.records[ct.name])


def _c_string(body: str) -> str:
    m = re.match(r'"((?:[^"\\]|\\.)*)"', body)
    return m.group(1) if m else ""


def _parse_c(pre: str, header: Path) -> Any:
    parser = c_parser.CParser()
    try:
        return parser.parse(pre, str(header))
    except Exception as e:  # pycparser raises its own ParseError and plain errors
        raise HeaderError(
            f"{header}: pycparser cannot parse the preprocessed header{_near(parser)}: {e}"
        ) from None


def _near(parser: Any) -> str:
    """Where pycparser's lexer stopped: some of its errors name the file only."""
    lexer = getattr(parser, "clex", None)
    line = getattr(lexer, "_lineno", None) or getattr(getattr(lexer, "lexer", None), "lineno", None)
    name = getattr(lexer, "filename", None)
    return f" (near {name}:{line})" if name and line else ""


def _walk(node: Any) -> Iterator[Any]:
    """`node` and everything under it, parents first, in source order."""
    yield node
    for _, child in node.children():
        yield from _walk(child)


class _NotConst(Exception):
    pass


class _Layout:
    """Walks pycparser's AST: typedefs, records, enums and constant expressions."""

    def __init__(self, info: HeaderInfo, header: Path) -> None:
        self.info = info
        self.header = header.resolve()
        self.typedefs: dict[str, _CType] = {}
        self.tags: dict[str, _CType] = {}
        self.enum_sizes: dict[str, int] = {}
        self._own: dict[str, bool] = {}
        self.top = 0  # file-scope declarations so far
        self.top_attrs: dict[int, list[tuple[str, int]]] = {}  # by declaration index
        self.pack = 0  # `#pragma pack(N)` in force: members aligned to at most N (0: none)
        self.packs: list[int] = []  # pack(push) saved these

    def own(self, coord: Any) -> bool:
        if coord is None:
            return False
        name = str(coord.file)
        if name not in self._own:
            self._own[name] = not name.startswith("<") and Path(name).resolve() == self.header
        return self._own[name]

    def declare(self, ext: Any) -> None:
        """Lay out one file-scope declaration; one that cannot be laid out is skipped.

        A construct rig cannot lay out in a header the import reads only
        for its types (glibc's, the kernel's other headers) is logged at
        debug level; in the header itself it is a warning naming it. A
        struct that contains a skipped one is skipped in turn.
        """
        if isinstance(ext, c_ast.Decl) and self._top_marker(ext):
            return
        if isinstance(ext, c_ast.Pragma):
            self._pragma(str(ext.string))
            return
        attrs = self.top_attrs.pop(self.top, [])
        self.top += 1
        try:
            if isinstance(ext, c_ast.Typedef):
                t = self.ctype(ext.type, ext.name)
                for attr, value in attrs:
                    if attr == "aligned":  # on a typedef it may lower the alignment too
                        t = dataclasses.replace(t, align=value)
                self.typedefs[ext.name] = t
            elif isinstance(ext, c_ast.Decl):
                self.ctype(ext.type)
        except (HeaderError, _NotConst) as e:
            what = _construct(ext)
            where = f"{ext.coord.file}:{ext.coord.line}" if ext.coord is not None else "?"
            if self.own(ext.coord):
                log.warning("%s: %s skipped: %s", where, what, _reason(e))
            else:
                log.debug("%s: %s skipped: %s", where, what, _reason(e))

    def _pragma(self, text: str) -> None:
        """Follow `#pragma pack`: pack(N), pack(), pack(push[, label][, N]), pack(pop)."""
        m = re.fullmatch(r"\s*pack\s*\((.*)\)\s*", text)
        if m is None:
            return
        args = [a.strip() for a in m.group(1).split(",") if a.strip()]
        n = int(args[-1]) if args and args[-1].isdigit() else None
        if args and args[0] == "push":
            self.packs.append(self.pack)
        elif args and args[0] == "pop":
            self.pack = self.packs.pop() if self.packs else 0
            return
        if n is not None or not args:
            self.pack = n or 0

    def _top_marker(self, ext: Any) -> bool:
        mark = parse_marker(str(ext.name or ""))
        if mark is None:
            return False
        _, first, count, attr = mark
        value = self._attr_value(ext, attr)
        for k in range(self.top + first, self.top + first + count):
            self.top_attrs.setdefault(k, []).append((attr, value))
        return True

    def _attr_value(self, decl: Any, attr: str) -> int:
        """N of `aligned(N)`: the marker's array size."""
        if attr != "aligned" or not isinstance(decl.type, c_ast.ArrayDecl):
            return 0
        try:
            return self.eval(decl.type.dim)
        except _NotConst as e:
            raise HeaderError(f"aligned({e}) is not a constant") from None

    def arg_ctype(self, expr: Any) -> _CType | None:
        """The type an ioctl macro's expansion takes `sizeof` of: its argument.

        The kernel's _IOC puts the size last, so the last `sizeof` wins.
        """
        found = None
        for node in _walk(expr):
            if (
                isinstance(node, c_ast.UnaryOp)
                and node.op == "sizeof"
                and isinstance(node.expr, c_ast.Typename)
            ):
                found = node.expr
        if found is None:
            return None
        try:
            return self.ctype(found.type)
        except (HeaderError, _NotConst):
            return None

    # ---- types

    def ctype(self, node: Any, hint: str = "") -> _CType:
        """The layout of a type; `hint` names an anonymous record (typedef name or path)."""
        if isinstance(node, c_ast.TypeDecl):
            return self.ctype(node.type, hint)
        if isinstance(node, c_ast.IdentifierType):
            name = " ".join(node.names)
            if name in self.typedefs:
                return self.typedefs[name]
            scalar = _scalar(list(node.names), self.info.abi)
            if scalar is not None:
                size, signed, base = scalar
                # i386 aligns 8- and 12-byte scalars to 4 (its psABI).
                align = min(size, 4) if self.info.abi == 32 else size
                return _CType(size, align, "scalar", signed, base=base)
            if name == "void":
                return _CType(1, 1, "scalar", base="void")
            raise HeaderError(f"unknown type {name!r}")
        if isinstance(node, c_ast.PtrDecl):
            width = 4 if self.info.abi == 32 else 8
            return _CType(width, width, "pointer")
        if isinstance(node, c_ast.ArrayDecl):
            elem = self.ctype(node.type, hint)
            count = 0
            if node.dim is not None:
                try:
                    count = self.eval(node.dim)
                except _NotConst as e:
                    raise HeaderError(f"array size is not a constant ({e})") from None
            return _CType(elem.size * count, elem.align, "array", elem=elem, count=count)
        if isinstance(node, c_ast.Struct | c_ast.Union):
            return self.record(node, hint)
        if isinstance(node, c_ast.Enum):
            return self.enum(node)
        if isinstance(node, c_ast.FuncDecl):
            return _CType(1, 1, "scalar", base="function")
        raise HeaderError(f"unsupported C construct {type(node).__name__}")

    def record(self, node: Any, hint: str = "") -> _CType:
        union = isinstance(node, c_ast.Union)
        kw = "union" if union else "struct"
        if node.decls is None:
            tag = f"{kw} {node.name}"
            if node.name and tag in self.tags:
                return self.tags[tag]
            return _CType(0, 1, "record", name=node.name or "", complete=False)
        name = node.name or hint
        packed, aligned = False, 0
        attrs: dict[int, list[tuple[str, int]]] = {}  # by member declaration index
        decls: list[Any] = []
        for d in node.decls:
            if not isinstance(d, c_ast.Decl):
                continue  # a pragma or a static assertion
            mark = parse_marker(str(d.name or ""))
            if mark is None:
                decls.append(d)
                continue
            scope, first, count, attr = mark
            value = self._attr_value(d, attr)
            if scope == "r":
                packed |= attr == "packed"
                aligned = max(aligned, value)
            else:
                for k in range(len(decls) + first, len(decls) + first + count):
                    attrs.setdefault(k, []).append((attr, value))
        members: list[_Member] = []
        bits = size = 0  # bits: where the next member may start
        align = 1
        for k, d in enumerate(decls):
            mname = d.name or f"anon{k}"
            try:
                t = self.ctype(d.type, f"{name}.{mname}" if name else "")
                inner = t
                while inner.kind == "array" and inner.elem is not None:
                    inner = inner.elem
                if not inner.complete:
                    raise HeaderError(f"{kw} {inner.name} is not defined where it is used")
                width = None if d.bitsize is None else self.eval(d.bitsize)
            except (HeaderError, _NotConst) as e:
                raise HeaderError(f"member {mname}: {_reason(e)}") from None
            mine = attrs.get(k, [])
            member_packed = packed or any(a == "packed" for a, _ in mine)
            cap = self.pack or 1 << 30  # `#pragma pack(N)` caps every member's alignment
            if width is not None:
                # A bitfield sits in a unit of its type's size and does not cross
                # one (unless packed); only named ones align the record.
                start = 0 if union else bits
                unit = 8 * min(t.size, cap)
                if width == 0:
                    bits = bits if union else _round(bits, 8 * t.align)
                    continue
                if (
                    not union
                    and not member_packed
                    and unit
                    and start // unit != ((start + width - 1) // unit)
                ):
                    start = _round(start, unit)
                if not union:
                    bits = start + width
                size = max(size, -(-(start + width) // 8))
                if d.name:
                    align = max(align, 1 if member_packed else min(t.align, cap))
                    members.append(_Member(d.name, start // 8, t, _line(d.coord), (start, width)))
                continue
            a = 1 if member_packed else t.align
            a = min(max([a] + [v for attr, v in mine if attr == "aligned"]), cap)
            off = 0 if union else _round(-(-bits // 8), a)
            members.append(_Member(mname, off, t, _line(d.coord)))
            if not union:
                bits = 8 * (off + t.size)
            size = max(size, off + t.size)
            align = max(align, a)
        align = max(align, aligned)
        size = _round(size, align)
        ct = _CType(size, align, "record", name=name)
        if node.name:
            self.tags[f"{kw} {node.name}"] = ct
        if not name:
            return ct  # `struct { ... } x;` at file scope: nothing can name it
        file = str(node.coord.file) if node.coord is not None else ""
        rec = _Record(name, size, align, union, members, _line(node.coord), file)
        if self.own(node.coord):
            self.info.records[name] = rec
        else:
            self.info.foreign[name] = dataclasses.replace(rec, own=False)
        return ct

    def enum(self, node: Any) -> _CType:
        if node.values is None:
            size = self.enum_sizes.get(node.name or "", 4)
            return _CType(size, size, "enum", True, name=node.name or "", base="int")
        values: dict[str, int] = {}
        nxt = 0
        for e in node.values.enumerators:
            nxt = self.eval(e.value) if e.value is not None else nxt
            values[e.name] = nxt
            self.info.values.setdefault(e.name, nxt)
            nxt += 1
        # gcc widens an enum whose values do not fit in 32 bits.
        size = 8 if any(v > 0xFFFFFFFF or v < -(1 << 31) for v in values.values()) else 4
        if node.name:
            self.enum_sizes[node.name] = size
            if self.own(node.coord):
                self.info.enums[node.name] = values
            else:
                self.info.enums.setdefault(node.name, values)
        return _CType(size, size, "enum", True, name=node.name or "", base="int")

    # ---- constant expressions

    def eval(self, node: Any) -> int:
        if isinstance(node, c_ast.Constant):
            return _constant(node)
        if isinstance(node, c_ast.ID):
            if node.name in self.info.values:
                return self.info.values[node.name]
            raise _NotConst(node.name)
        if isinstance(node, c_ast.UnaryOp):
            if node.op in ("sizeof", "_Alignof", "alignof"):
                t = self._operand(node.expr, node.op)
                return t.size if node.op == "sizeof" else t.align
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

    def _operand(self, expr: Any, op: str) -> _CType:
        """The type `sizeof`/`_Alignof` measures: a type name, or a typedef pycparser read as a name."""
        if isinstance(expr, c_ast.Typename):
            t = self.ctype(expr.type)
        elif isinstance(expr, c_ast.ID) and expr.name in self.typedefs:
            t = self.typedefs[expr.name]
        else:
            raise _NotConst(f"{op} of an expression")
        if not t.complete:
            # fs.h: _IOWR(0x12, 115, struct blk_user_trace_setup), defined in another header
            raise _NotConst(f"{op} of struct {t.name}, which no included header defines")
        return t


def _construct(ext: Any) -> str:
    """How a warning names a file-scope declaration: `struct foo`, `typedef bar`."""
    t = ext.type
    while isinstance(t, c_ast.TypeDecl):
        t = t.type
    if isinstance(ext, c_ast.Typedef):
        return f"typedef {ext.name}"
    if isinstance(t, c_ast.Struct | c_ast.Union) and ext.name is None:
        return f"{'union' if isinstance(t, c_ast.Union) else 'struct'} {t.name or '(anonymous)'}"
    return f"declaration of {ext.name}"


def _reason(e: Exception) -> str:
    return f"not a constant rig can compute ({e})" if isinstance(e, _NotConst) else str(e)


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
        body = v[v.index("'") + 1 : -1]  # after an L, u or U prefix
        if not body:
            raise _NotConst(v)
        if body.startswith("\\") and len(body) > 1:
            esc = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39}
            if body[1] in "xX":
                return int(body[2:], 16)
            if body[1:].isdigit():
                return int(body[1:], 8)
            return esc.get(body[1], ord(body[1]))
        return ord(body[0])
    if "int" not in node.type:
        raise _NotConst(node.type)
    digits = v.rstrip("uUlL").replace("'", "")
    try:
        if digits.startswith(("0x", "0X")):
            return int(digits, 16)
        if digits.startswith(("0b", "0B")):
            return int(digits, 2)
        if digits.startswith("0") and len(digits) > 1:
            return int(digits, 8)
        return int(digits)
    except ValueError:
        raise _NotConst(v) from None


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
    # Only the header's word fixes a value: a field merely named `reserved` or
    # `pad` is still fuzzed (drivers that forget to check it are what we look for).
    if re.search(r"must be (0|zero)", comment, re.I):
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
    plain = [m for m in rec.members if m.bits is None]
    comments = {m.name: _comment_at(info, m.line) if rec.own else "" for m in plain}
    lengths = {
        re.sub(r"_?(len|length|size|bytes|count|cnt|num|nr)$", "", m.name)
        for m in plain
        if _LEN_NAME.search(m.name) or _COUNT_NAME.search(m.name)
    }
    ptrs = [
        m.name
        for m in plain
        if (m.ctype.kind == "pointer")
        or (
            m.ctype.kind == "scalar"
            and (m.ctype.size == 8 or m.ctype.base in ("long", "unsigned long"))
            and (
                _PTR_NAME.search(m.name)
                or re.search(r"\bpointer\b|\bptr\b", comments[m.name], re.I)
                or m.name in lengths  # `data` beside `data_len`: a user buffer
            )
        )
    ]
    order = [m.name for m in plain]
    out = []
    for m in _with_bit_units(rec.members):
        if isinstance(m, Field):
            out.append(m)
            continue
        comment = comments[m.name]
        is_out = bool(re.match(r"\s*(out|output)\b", comment, re.I))
        t: Type
        if m.name in ptrs:
            fills = kernel_writes or _is_out(m.name, comment)
            d = Dir.OUT if fills else Dir.IN
            t = Ptr(_pointee(comment, above, rec.name, known), d, m.ctype.size)
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
        elif m.ctype.size not in (1, 2, 4, 8):
            t = _scalar_or_record(m.ctype, info)
        else:
            t = _len_or_int(m, comment, ptrs, order, info, rec.name)
        out.append(Field(m.name, m.offset, t, is_out))
    return tuple(out)


def _with_bit_units(members: list[_Member]) -> Iterator[_Member | Field]:
    """The members, bitfields that share bytes replaced by one field over those bytes.

    A spec addresses bytes, not bits: `unsigned int openmin:1, openmax:1,
    integer:1, empty:1;` becomes one u8 field `openmin:1,openmax:1,integer:1,empty:1`
    (named the way C declares them, which is no member name the probe could
    pass to offsetof) whose flag bits are those of the one-bit fields.
    """
    group: list[tuple[str, int, int]] = []  # name, first bit, width

    def unit() -> Field:
        lo = group[0][1] // 8
        hi = -(-max(b + w for _, b, w in group) // 8)
        name = ",".join(f"{n}:{w}" for n, _, w in group)
        if hi - lo not in (1, 2, 4, 8):
            return Field(name, lo, Array(Int(1), hi - lo))
        flags = tuple(1 << (b - 8 * lo) for _, b, w in group if w == 1)
        return Field(name, lo, Int(hi - lo, flags=flags if len(flags) == len(group) else ()))

    for m in members:
        if m.bits is not None:
            first, width = m.bits
            # A bitfield that starts in a byte no earlier one reaches begins a new field.
            if group and first // 8 >= -(-max(b + w for _, b, w in group) // 8):
                yield unit()
                group = []
            group.append((m.name, first, width))
            continue
        if group:
            yield unit()
            group = []
        yield m
    if group:
        yield unit()


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
    if ct.kind == "array" and ct.elem is not None:  # `__u8 m[4][4]`: rows of a matrix
        return Array(_scalar_or_record(ct.elem, info), ct.count)
    if ct.size not in (1, 2, 4, 8):
        return Array(Int(1), ct.size)  # long double, __int128: bytes of their size
    return Int(ct.size, ct.signed and ct.base != "char")


def _pointee(comment: str, above: str, own: str, known: set[str]) -> Type:
    named = [s for s in re.findall(r"struct\s+(\w+)", comment + " " + above) if s in known]
    named = [s for s in dict.fromkeys(named) if s != own]
    if len(named) == 1:
        return Array(StructRef(named[0]), None, 0, 16)
    return Bytes()


def _arg_type(ct: _CType | None, info: HeaderInfo, d: Dir) -> Type | None:
    """What an ioctl's argument points to, from the C type its macro takes `sizeof` of."""
    if ct is None:
        return None
    return Ptr(_object_type(ct, info), d)


def _object_type(ct: _CType, info: HeaderInfo) -> Type:
    if ct.kind == "record":
        if ct.name in info.records:
            return StructRef(ct.name)
        return Bytes(ct.size, ct.size)  # a record rig could not lay out: its size only
    if ct.kind == "array" and ct.elem is not None:
        if ct.elem.kind == "scalar" and ct.elem.base == "char":
            return String(ct.count, max(ct.count - 1, 0))  # FS_IOC_GETFSLABEL: char[256]
        return Array(_object_type(ct.elem, info), ct.count)
    if ct.kind == "pointer":
        return Int(ct.size)
    size = ct.size if ct.size in (1, 2, 4, 8) else 8
    return Int(size, ct.signed and ct.base != "char")


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
    header: Path,
    name: str,
    devices: Iterable[str] = (),
    includes: Iterable[Path] = (),
    abi: int = 64,
) -> Spec:
    """A spec with the header's ioctls and structs, its ioctls on each of `devices`.

    Laid out as callers of `abi` see them; `with_abi32` joins the two.
    """
    info = parse_header(header, includes, abi)
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


def with_abi32(spec: Spec, spec32: Spec) -> Spec:
    """`spec` (64-bit) with the layouts of `spec32` attached where 32-bit callers differ.

    Structs and ioctls are matched by name. A struct whose 32-bit fields do
    not match its 64-bit ones by name (an #ifdef in the header) keeps only the
    64-bit layout, with a warning: 32-bit programs then use that one.
    """
    structs32 = {s.name: s for s in spec32.structs}
    ioctls32 = {i.name: i for i in spec32.ioctls}
    structs = []
    for s in spec.structs:
        s32 = structs32.get(s.name)
        if s32 is not None and [f.name for f in s32.fields] != [f.name for f in s.fields]:
            log.warning("struct %s has other members for 32-bit callers; not laid out", s.name)
            s32 = None
        same = s32 is None or (s32.size, s32.align, s32.fields) == (s.size, s.align, s.fields)
        structs.append(s if same else dataclasses.replace(s, abi32=s32))
    ioctls = []
    for io in spec.ioctls:
        io32 = ioctls32.get(io.name)
        same = io32 is None or (io32.code, io32.arg) == (io.code, io.arg)
        ioctls.append(io if same else dataclasses.replace(io, abi32=io32))
    return dataclasses.replace(spec, structs=tuple(structs), ioctls=tuple(ioctls))


# ---------------------------------------------------------------- checks against gcc and DWARF


@dataclass(frozen=True)
class Mismatch:
    what: str
    ours: int
    theirs: int

    def __str__(self) -> str:
        return f"{self.what}: rig computed {self.ours}, compiler says {self.theirs}"


@dataclass(frozen=True)
class _Access:
    """How C reaches a record: from a record it can name, through a member designator."""

    root: str  # the spec name of a record C names (`struct x`, or a typedef)
    path: str  # member designator from the root to the record ("" for the root)
    transparent: bool = False  # an anonymous member: its fields are named in `path`'s scope


@dataclass(frozen=True)
class _Item:
    """One line of the probe: what it prints and the C expression that computes it."""

    key: str  # "size S", "align S", "offset S.f", "ioctl N"
    root: str | None  # the record whose C type `{T}` stands for (None for ioctls)
    expr: str


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _record_ref(t: Type) -> tuple[str | None, bool]:
    """The record a field holds, and whether it holds an array of them."""
    if isinstance(t, StructRef):
        return t.name, False
    if isinstance(t, Array) and isinstance(t.elem, StructRef) and t.count:
        return t.elem.name, True
    return None, False


def _anon_member(s: Struct, f: Field) -> str | None:
    """The record of an anonymous member (C11 `union { ... };` inside a struct), if `f` is one."""
    if (
        _ANON_MEMBER.fullmatch(f.name)
        and isinstance(f.type, StructRef)
        and f.type.name == f"{s.name}.{f.name}"
    ):
        return f.type.name
    return None


def _accesses(spec: Spec) -> dict[str, _Access]:
    """How the probe reaches each record: records C names directly, the others through them."""
    by_name = {s.name: s for s in spec.structs}
    out = {s.name: _Access(s.name, "") for s in spec.structs if _C_NAME.fullmatch(s.name)}
    todo = list(out)
    while todo:
        s = by_name[todo.pop()]
        a = out[s.name]
        for f in s.fields:
            ref, array = _record_ref(f.type)
            if ref is None or ref in out or ref not in by_name or _C_NAME.fullmatch(ref):
                continue
            if _anon_member(s, f) is not None:
                out[ref] = _Access(a.root, a.path, True)
            elif _C_NAME.fullmatch(f.name):
                out[ref] = _Access(a.root, _join(a.path, f.name) + ("[0]" if array else ""))
            else:
                continue
            todo.append(ref)
    return out


def _leaf(name: str, acc: dict[str, _Access], by_name: dict[str, Struct]) -> str | None:
    """A designator for a field at offset 0 of a record reached through an anonymous member.

    C cannot name an anonymous union, but its first field (every field of a
    union) starts where it does, and `offsetof` accepts that field.
    """
    s = by_name[name]
    for f in s.fields:
        if f.offset != 0:
            break
        inner = _anon_member(s, f)
        if inner is not None:
            found = _leaf(inner, acc, by_name)
            if found is not None:
                return found
        elif _C_NAME.fullmatch(f.name):
            return _join(acc[name].path, f.name)
        if not s.union:
            break
    return None


# A field rig made of a run of bitfields (`_with_bit_units`): `openmin:1,openmax:1`.
_BIT_UNIT = re.compile(r"[A-Za-z_]\w*:\d+(,[A-Za-z_]\w*:\d+)*")


def _first_set_byte(path: str, unit: str) -> str:
    """Where a run of bitfields starts: the first byte that turns non-zero when they are all set.

    offsetof cannot take a bitfield, so the probe sets them in a zeroed
    record (a GNU statement expression) and looks.
    """
    sets = " ".join(f"v_.{_join(path, part.split(':')[0])} = -1;" for part in unit.split(","))
    return (
        "({ {T} v_; __builtin_memset(&v_, 0, sizeof v_); " + sets + " size_t i_ = 0;"
        " while (i_ < sizeof v_ && !((unsigned char *)&v_)[i_]) i_++; i_; })"
    )


def _probe_items(spec: Spec) -> list[_Item]:
    """Everything the probe prints: each reachable record's size, alignment and field offsets."""
    by_name = {s.name: s for s in spec.structs}
    acc = _accesses(spec)
    items: list[_Item] = []
    for s in spec.structs:
        a = acc.get(s.name)
        if a is None:
            continue  # nothing in the spec holds it, and C cannot name it
        if a.transparent:
            leaf = _leaf(s.name, acc, by_name)
            if leaf is None:
                continue
            base = f"offsetof({{T}}, {leaf})"
        elif a.path:
            base = f"offsetof({{T}}, {a.path})"
            member = f"((({{T}} *)0)->{a.path})"
            items.append(_Item(f"size {s.name}", a.root, f"sizeof{member}"))
            items.append(_Item(f"align {s.name}", a.root, f"_Alignof(__typeof__{member})"))
        else:
            base = ""
            items.append(_Item(f"size {s.name}", a.root, "sizeof({T})"))
            items.append(_Item(f"align {s.name}", a.root, "_Alignof({T})"))
        for f in s.fields:
            inner = _anon_member(s, f)
            if _BIT_UNIT.fullmatch(f.name):
                expr = _first_set_byte(a.path, f.name)
            else:
                d = _leaf(inner, acc, by_name) if inner else _join(a.path, f.name)
                if d is None or not re.fullmatch(r"[\w.\[\]]+", d):
                    continue
                expr = f"offsetof({{T}}, {d})"
            expr += f" - {base}" if base else ""
            items.append(_Item(f"offset {s.name}.{f.name}", a.root, f"(size_t)({expr})"))
    for io in spec.ioctls:
        items.append(_Item(f"ioctl {io.name}", None, f"(unsigned long)({io.name})"))
    return items


def _probe_program(
    header: Path, items: list[_Item], forms: dict[str, str]
) -> tuple[str, dict[int, _Item]]:
    """The probe's C source, and which item each of its lines prints."""
    # printf declared, not <stdio.h>: the probe sees the header as the import did.
    lines = [*(f"#include <{h}>" for h in PRELUDE), "int printf(const char *, ...);"]
    lines += [f'#include "{header.resolve()}"', "int main(void) {"]
    at: dict[int, _Item] = {}
    for it in items:
        expr = it.expr.replace("{T}", forms[it.root]) if it.root is not None else it.expr
        fmt = "%lu" if it.root is None else "%zu"
        lines.append(f'printf("{it.key} {fmt}\\n", {expr});')
        at[len(lines)] = it
    lines += ["return 0;", "}"]
    return "\n".join(lines) + "\n", at


def _c_types(spec: Spec) -> dict[str, str]:
    return {s.name: ("union " if s.union else "struct ") + s.name for s in spec.structs}


def probe_source(spec: Spec, header: Path) -> str:
    """A C program printing sizeof/offsetof of the spec's structs and its ioctl codes."""
    return _probe_program(header, _probe_items(spec), _c_types(spec))[0]


def _expected(spec: Spec) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in spec.structs:
        out[f"size {s.name}"] = s.size
        out[f"align {s.name}"] = s.align
        for f in s.fields:
            out[f"offset {s.name}.{f.name}"] = f.offset
    for io in spec.ioctls:
        out[f"ioctl {io.name}"] = io.code
    return out


def check_with_gcc(spec: Spec, header: Path, includes: Iterable[Path] = ()) -> list[Mismatch]:
    """Compile and run a probe with gcc; every disagreement with the spec's numbers.

    A number the probe could not compile (an ioctl the header lacks) is a
    disagreement too, with -1 for gcc's side.
    """
    theirs, failed = _run_probe(spec, header, includes)
    return [
        Mismatch(k, v, theirs.get(k, -1))
        for k, v in _expected(spec).items()
        if (k in theirs and theirs[k] != v) or k in failed
    ]


def with_gcc_layout(
    spec: Spec, header: Path, includes: Iterable[Path] = (), abi: int = 64
) -> tuple[Spec, list[Mismatch]]:
    """The spec laid out as gcc lays it out, and where that differed from rig's own reading.

    rig's layout follows the header's attributes and bitfields as gcc does,
    but gcc compiles the header as the driver's users do, so its sizes,
    offsets and ioctl codes (which hold a size) are the truth. What the probe
    cannot compile keeps rig's numbers (`gcc_layout` warns about it).
    """
    theirs = gcc_layout(spec, header, includes, abi)
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


def gcc_layout(
    spec: Spec, header: Path, includes: Iterable[Path] = (), abi: int = 64
) -> dict[str, int]:
    """Sizes, alignments, offsets and ioctl codes of the spec's names, as gcc computes them.

    What the probe cannot compile is left out with a warning (one per struct
    or ioctl); a header gcc cannot compile at all is a HeaderError.
    """
    theirs, failed = _run_probe(spec, header, includes, abi)
    by_owner: dict[str, str] = {}
    for key, why in failed.items():
        kind, _, what = key.partition(" ")
        owner = what if kind == "ioctl" else what.rsplit(".", 1)[0] if kind == "offset" else what
        by_owner.setdefault(f"ioctl {owner}" if kind == "ioctl" else owner, why)
    for owner, why in by_owner.items():
        if owner.startswith("ioctl "):
            log.warning("%s: gcc cannot evaluate %s (%s); rig's value is kept", header, owner, why)
        else:
            log.warning(
                "%s: the layout probe cannot compile struct %s (%s); rig's own layout is kept",
                header,
                owner,
                why,
            )
    return theirs


_PROBE_ROUNDS = 6  # tag -> typedef -> left out, with room for errors that hide others


def _run_probe(
    spec: Spec, header: Path, includes: Iterable[Path], abi: int = 64
) -> tuple[dict[str, int], dict[str, str]]:
    """gcc's numbers by key, and the keys it could not compile with gcc's first error for each.

    A line gcc rejects is retried once with the record's name as a typedef
    (`typedef struct { ... } guid_t;` has no tag), then left out, so one
    struct C cannot reach the way rig names it costs only its own numbers.
    """
    items = _probe_items(spec)
    kinds = _c_types(spec)
    forms = dict(kinds)
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="rig-probe-") as tmp:
        src, exe = Path(tmp) / "probe.c", Path(tmp) / "probe"
        flags = [*abi_flags(abi), *include_flags(header, includes)]
        cmd = ["gcc", "-std=gnu11", "-w", *flags, "-o", str(exe)]
        for _ in range(_PROBE_ROUNDS):
            live = [it for it in items if it.key not in failed]
            text, at = _probe_program(header, live, forms)
            src.write_text(text)
            try:
                done = subprocess.run([*cmd, str(src)], capture_output=True, text=True)
            except FileNotFoundError:
                raise InfraError("gcc is not installed; the layout probe needs it") from None
            if done.returncode == 0:
                break
            bad = _probe_errors(done.stderr, src)
            blamed = [(at[n], why) for n, why in bad.items() if n in at]
            if not blamed:
                first = next((ln for ln in done.stderr.splitlines() if ": error: " in ln), "")
                raise HeaderError(
                    f"{header}: the header does not compile with gcc after "
                    f"{', '.join(f'<{h}>' for h in PRELUDE)} (does it need another header "
                    f"first?): {first}\n{done.stderr.strip()[-3000:]}"
                )
            renamed = {
                it.root
                for it, _ in blamed
                if it.root is not None
                and it.key == f"size {it.root}"
                and forms[it.root] == kinds[it.root]
            }
            for root in renamed:
                forms[root] = root  # not a tag: try it as a typedef name
            for it, why in blamed:
                if it.root in renamed:
                    continue
                if it.root is not None and it.key == f"size {it.root}":
                    # C cannot name the record at all: none of its lines can compile.
                    for other in items:
                        if other.root == it.root:
                            failed.setdefault(other.key, why)
                failed.setdefault(it.key, why)
        else:
            raise HeaderError(f"{header}: the layout probe still fails:\n{done.stderr[-3000:]}")
        try:
            run = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            raise HeaderError(f"{header}: the layout probe failed to run: {e}") from None
    theirs = {}
    for line in run.stdout.splitlines():
        key, _, value = line.rpartition(" ")
        theirs[key] = int(value)
    return theirs, failed


def _probe_errors(stderr: str, src: Path) -> dict[int, str]:
    """Probe lines gcc blames, with the error for each.

    An error inside a macro's expansion is reported at the header's line,
    followed by a note pointing at the probe line that used the macro.
    """
    at = re.compile(rf"^{re.escape(str(src))}:(\d+):\d+: (error|note): (.*)$")
    out: dict[int, str] = {}
    last = ""
    for line in stderr.splitlines():
        m = at.match(line)
        err = re.search(r": error: (.*)$", line)
        if err:
            last = err.group(1)
        if m:
            out.setdefault(int(m.group(1)), m.group(3) if m.group(2) == "error" else last)
    return out


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
