"""Read, validate, write and hash spec files (`corpora/specs/*.yaml`).

The format is YAML (one document, keys in kebab-case):

    rig-spec: 1
    name: boundary
    words: [reset, mode, ...]            # tokens for free-text writes
    devices:
      - {path: /dev/boundary, read: true, write: true, open-flags: [2], ioctls: [NAME, ...]}
    ioctls:
      - {name: NAME, code: 0xc018b703, dir: inout, type: 0xb7, nr: 3, size: 24,
         arg: {ptr: {struct: boundary_xfer}, dir: inout}}
    structs:
      - name: boundary_xfer
        size: 24
        align: 8
        fields:
          - {name: addr, offset: 0, type: {ptr: bytes, dir: in}}
          - {name: len, offset: 8, type: {len: addr, int: u32}}
          - {name: op, offset: 12, type: {int: u32, values: [0, 1]}}
          - {name: done, offset: 16, type: u32, out: true}
    families:
      - name: boundary
        version: 1
        mcgrps: [events]
        attr-sets:
          - {name: boundary, attrs: [{name: mode, id: 1, type: u32, max: 3}, ...]}
        commands:
          - {name: set, id: 2, attr-set: boundary, do: true, dump: false, attrs: [mode, ...]}
    files:
      - {path: /proc/x/ctl, mode: 0200, grammar: {commands: [{word: reset}, ...]}}
    links:                               # rtnetlink link kinds (ip link add type KIND)
      - {kind: veth, data: info, attr-sets: [{name: info, attrs: [...]}]}

Types are `u8`..`u64`, `s8`..`s64`, `bytes`, or a mapping with one of the keys
int, len, ptr, bytes, array, string, struct (see `rig.spec.types`). A `ptr`
takes 8 bytes unless it says `size: 4` (a pointer in a 32-bit layout).

The layout is the one 64-bit callers see. A struct or ioctl that 32-bit
callers see differently (a C pointer or `long` inside, a 64-bit integer that
i386 aligns to 4) adds it under `abi32`: a struct its `size`, `align` and
`fields`, an ioctl its `code` and, if it differs, its `arg`:

    - {name: NAME, code: 0xc018b708, ..., abi32: {code: 0xc00cb708}}
    - name: peek
      size: 24
      fields: [...]
      abi32: {size: 12, align: 4, fields: [{name: buf, offset: 0, type: {ptr: bytes, size: 4}}, ...]}

File
grammars are `text`, `int`, `string` or a mapping with one of int ([min, max]),
enum (words), string (max length), commands (list of {word, args}).

Every error names the file, the line and the field (`x.yaml:12: ioctls[2].arg: ...`).
The spec hash is the sha256 of the canonical JSON of the validated spec, so
comments and key order do not change it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml

from rig.errors import ConfigError
from rig.spec.types import (
    NL_TYPES,
    SPEC_VERSION,
    Array,
    Bytes,
    Device,
    Dir,
    Field,
    File,
    FileKind,
    Grammar,
    Int,
    Ioctl,
    Len,
    LinkKind,
    NlAttr,
    NlAttrSet,
    NlCommand,
    NlFamily,
    Ptr,
    Spec,
    String,
    Struct,
    StructRef,
    TextCommand,
    Type,
    type_size,
)
from rig.util import atomic_write

T = TypeVar("T")

INT_NAMES = {
    f"{s}{b}": Int(b // 8, s == "s") for s in ("u", "s") for b in (8, 16, 32, 64)
}  # u8 -> Int(1)


class SpecError(ConfigError):
    """A spec that cannot be used, with the file, line and field at fault."""


# ---------------------------------------------------------------- YAML with line numbers


class _Map(dict[str, Any]):
    line: int = 0
    key_lines: dict[str, int]


class _Seq(list[Any]):
    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    """A SafeLoader whose mappings and sequences remember the lines they came from."""


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    out = _Map()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    loader.flatten_mapping(node)
    for k, v in node.value:
        key = loader.construct_object(k, deep=True)
        out[str(key)] = loader.construct_object(v, deep=True)
        out.key_lines[str(key)] = v.start_mark.line + 1
    return out


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(v, deep=True) for v in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [v.start_mark.line + 1 for v in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


class _At:
    """Where a value sits: the file, the line and the dotted field path."""

    def __init__(self, source: str, line: int, path: str) -> None:
        self.source, self.line, self.path = source, line, path

    def fail(self, message: str) -> SpecError:
        where = f"{self.path}: " if self.path else ""
        return SpecError(f"{self.source}:{self.line}: {where}{message}")

    def key(self, m: _Map, key: str) -> _At:
        sep = "." if self.path else ""
        return _At(self.source, m.key_lines.get(key, m.line), f"{self.path}{sep}{key}")

    def item(self, s: _Seq, i: int) -> _At:
        return _At(self.source, s.item_lines[i], f"{self.path}[{i}]")


def _map(v: Any, at: _At, required: tuple[str, ...] = (), allowed: tuple[str, ...] = ()) -> _Map:
    if not isinstance(v, _Map):
        raise at.fail(f"expected a mapping, found {_kind(v)}")
    for k in required:
        if k not in v:
            raise at.fail(f"missing field '{k}'")
    if allowed:
        for k in v:
            if k not in allowed and k not in required:
                raise at.key(v, k).fail(f"unknown field (expected one of {', '.join(allowed)})")
    return v


def _seq(v: Any, at: _At) -> Iterator[tuple[Any, _At]]:
    if v is None:
        return iter(())
    if not isinstance(v, _Seq):
        raise at.fail(f"expected a list, found {_kind(v)}")
    return ((x, at.item(v, i)) for i, x in enumerate(v))


def _kind(v: Any) -> str:
    for cls, name in (
        (bool, "a boolean"),
        (dict, "a mapping"),
        (list, "a list"),
        (str, "a string"),
    ):
        if isinstance(v, cls):
            return name
    return "nothing" if v is None else f"a {type(v).__name__}"


def _int(v: Any, at: _At, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(v, str):
        try:
            v = int(v, 0)
        except ValueError:
            raise at.fail(f"{v!r} is not an integer") from None
    if isinstance(v, bool) or not isinstance(v, int):
        raise at.fail(f"expected an integer, found {_kind(v)}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise at.fail(f"{v} is out of range {lo}..{hi}")
    return v


def _opt_int(m: _Map, key: str, at: _At, lo: int | None = None) -> int | None:
    return None if m.get(key) is None else _int(m[key], at.key(m, key), lo)


def _str(v: Any, at: _At) -> str:
    if not isinstance(v, str) or not v:
        raise at.fail(f"expected a non-empty string, found {_kind(v)}")
    return v


def _bool(v: Any, at: _At) -> bool:
    if not isinstance(v, bool):
        raise at.fail(f"expected true or false, found {_kind(v)}")
    return v


def _ints(m: _Map, key: str, at: _At) -> tuple[int, ...]:
    return tuple(_int(x, a) for x, a in _seq(m.get(key), at.key(m, key)))


def _strs(m: _Map, key: str, at: _At) -> tuple[str, ...]:
    return tuple(_str(x, a) for x, a in _seq(m.get(key), at.key(m, key)))


def _enum(cls: Callable[[str], T], v: Any, at: _At, choices: list[str]) -> T:
    try:
        return cls(v)
    except (ValueError, TypeError):
        raise at.fail(f"{v!r} is not one of {', '.join(choices)}") from None


# ---------------------------------------------------------------- types

_TYPE_KEYS = ("len", "ptr", "array", "string", "struct", "bytes", "int")


def _type(v: Any, at: _At) -> Type:
    if isinstance(v, str):
        if v in INT_NAMES:
            return INT_NAMES[v]
        if v == "bytes":
            return Bytes()
        raise at.fail(f"unknown type {v!r} (u8..u64, s8..s64, bytes or a mapping)")
    m = _map(v, at)
    key = next((k for k in _TYPE_KEYS if k in m), None)
    if key is None:
        raise at.fail(f"a type mapping needs one of {', '.join(_TYPE_KEYS)}")
    return _TYPE_PARSERS[key](m, at)


def _int_type(m: _Map, at: _At) -> Int:
    _map(m, at, allowed=("int", "min", "max", "values", "flags", "const"))
    base = m.get("int")
    if base not in INT_NAMES:
        raise at.key(m, "int").fail(f"{base!r} is not one of u8..u64, s8..s64")
    b = INT_NAMES[base]
    t = Int(
        b.size,
        b.signed,
        _opt_int(m, "min", at),
        _opt_int(m, "max", at),
        _ints(m, "values", at),
        _ints(m, "flags", at),
        _opt_int(m, "const", at),
    )
    for name in ("min", "max", "const"):
        value = getattr(t, name)
        if value is not None and not t.lo <= value <= t.hi:
            raise at.key(m, name).fail(f"{value} does not fit in {base}")
    if t.min is not None and t.max is not None and t.min > t.max:
        raise at.key(m, "min").fail(f"min {t.min} > max {t.max}")
    return t


def _len_type(m: _Map, at: _At) -> Len:
    _map(m, at, allowed=("len", "int", "unit"))
    base = m.get("int", "u32")
    if base not in INT_NAMES:
        raise at.key(m, "int").fail(f"{base!r} is not one of u8..u64, s8..s64")
    unit = m.get("unit", "bytes")
    if unit not in ("bytes", "elements"):
        raise at.key(m, "unit").fail(f"{unit!r} is not bytes or elements")
    return Len(_str(m["len"], at.key(m, "len")), INT_NAMES[base].size, unit)


def _ptr_type(m: _Map, at: _At) -> Ptr:
    _map(m, at, allowed=("ptr", "dir", "size"))
    d = _enum(Dir, m.get("dir", "in"), at.key(m, "dir"), [x.value for x in Dir])
    size = _int(m.get("size", 8), at.key(m, "size"), 4, 8)
    if size not in (4, 8):
        raise at.key(m, "size").fail(f"a pointer is 8 or 4 bytes, not {size}")
    return Ptr(_type(m["ptr"], at.key(m, "ptr")), d, size)


def _bytes_type(m: _Map, at: _At) -> Bytes:
    _map(m, at, allowed=("bytes",))
    pair = list(_seq(m["bytes"], at.key(m, "bytes")))
    if len(pair) != 2:
        raise at.key(m, "bytes").fail("expected [min, max]")
    lo, hi = (_int(x, a, 0) for x, a in pair)
    if lo > hi:
        raise at.key(m, "bytes").fail(f"min {lo} > max {hi}")
    return Bytes(lo, hi)


def _array_type(m: _Map, at: _At) -> Array:
    _map(m, at, allowed=("array", "count", "min", "max"))
    elem = _type(m["array"], at.key(m, "array"))
    count = _opt_int(m, "count", at, 0)
    lo = _opt_int(m, "min", at, 0) or 0
    hi = _opt_int(m, "max", at, 0)
    return Array(elem, count, lo, 16 if hi is None else hi)


def _string_type(m: _Map, at: _At) -> String:
    _map(m, at, allowed=("string", "max-len", "values"))
    size = _int(m["string"], at.key(m, "string"), 0)
    max_len = _opt_int(m, "max-len", at, 0)
    return String(size, max(size - 1, 0) if max_len is None else max_len, _strs(m, "values", at))


def _struct_type(m: _Map, at: _At) -> StructRef:
    _map(m, at, allowed=("struct",))
    return StructRef(_str(m["struct"], at.key(m, "struct")))


_TYPE_PARSERS: dict[str, Callable[[_Map, _At], Type]] = {
    "int": _int_type,
    "len": _len_type,
    "ptr": _ptr_type,
    "bytes": _bytes_type,
    "array": _array_type,
    "string": _string_type,
    "struct": _struct_type,
}


# ---------------------------------------------------------------- sections


def _struct(v: Any, at: _At) -> Struct:
    m = _map(v, at, ("name", "size"), ("align", "fields", "union", "abi32"))
    s = _struct_body(m, at, _str(m["name"], at.key(m, "name")))
    if m.get("abi32") is None:
        return s
    a = at.key(m, "abi32")
    m32 = _map(m["abi32"], a, ("size",), ("align", "fields"))
    return dataclasses.replace(s, abi32=_struct_body(m32, a, s.name, s.union))


def _struct_body(m: _Map, at: _At, name: str, union: bool | None = None) -> Struct:
    """A struct's layout: its own, or (abi32) the one 32-bit callers see."""
    fields = []
    for x, a in _seq(m.get("fields"), at.key(m, "fields")):
        f = _map(x, a, ("name", "offset", "type"), ("out",))
        fields.append(
            Field(
                _str(f["name"], a.key(f, "name")),
                _int(f["offset"], a.key(f, "offset"), 0),
                _type(f["type"], a.key(f, "type")),
                _bool(f.get("out", False), a.key(f, "out")),
            )
        )
    return Struct(
        name,
        _int(m["size"], at.key(m, "size"), 0),
        _int(m.get("align", 1), at.key(m, "align"), 1),
        tuple(fields),
        _bool(m.get("union", False), at.key(m, "union")) if union is None else union,
    )


def _ioctl(v: Any, at: _At) -> Ioctl:
    m = _map(v, at, ("name", "code"), ("dir", "type", "nr", "size", "arg", "abi32"))
    code = _int(m["code"], at.key(m, "code"), 0, (1 << 32) - 1)
    d = _enum(Dir, m.get("dir", Dir.from_ioc(code >> 30).value), at.key(m, "dir"), _dirs())
    io = Ioctl(
        _str(m["name"], at.key(m, "name")),
        code,
        d,
        _int(m.get("type", (code >> 8) & 0xFF), at.key(m, "type"), 0, 0xFF),
        _int(m.get("nr", code & 0xFF), at.key(m, "nr"), 0, 0xFF),
        _int(m.get("size", (code >> 16) & 0x3FFF), at.key(m, "size"), 0, 0x3FFF),
        None if m.get("arg") is None else _type(m["arg"], at.key(m, "arg")),
    )
    if m.get("abi32") is None:
        return io
    # 32-bit callers: the same command, with its own code (the size is part of it)
    # and argument layout.
    a = at.key(m, "abi32")
    m32 = _map(m["abi32"], a, ("code",), ("arg",))
    code32 = _int(m32["code"], a.key(m32, "code"), 0, (1 << 32) - 1)
    arg32 = io.arg if m32.get("arg") is None else _type(m32["arg"], a.key(m32, "arg"))
    abi32 = dataclasses.replace(io, code=code32, size=(code32 >> 16) & 0x3FFF, arg=arg32)
    return dataclasses.replace(io, abi32=abi32)


def _dirs() -> list[str]:
    return [d.value for d in Dir]


def _device(v: Any, at: _At) -> Device:
    m = _map(v, at, ("path",), ("ioctls", "read", "write", "open-flags"))
    return Device(
        _path(m["path"], at.key(m, "path")),
        _strs(m, "ioctls", at),
        _bool(m.get("read", True), at.key(m, "read")),
        _bool(m.get("write", True), at.key(m, "write")),
        _ints(m, "open-flags", at) or (2,),
    )


def _path(v: Any, at: _At) -> str:
    p = _str(v, at)
    if not p.startswith("/") or not all(" " < c <= "~" for c in p):
        raise at.fail(f"path {p!r} must be absolute printable ASCII without spaces")
    return p


def _attr(v: Any, at: _At, default_id: int) -> NlAttr:
    keys = ("id", "min", "max", "min-len", "max-len", "exact-len", "nested", "values")
    m = _map(v, at, ("name", "type"), keys)
    t = m["type"]
    if t not in NL_TYPES:
        raise at.key(m, "type").fail(f"{t!r} is not one of {', '.join(sorted(NL_TYPES))}")
    nested = m.get("nested")
    if t in ("nest", "indexed-array") and nested is None:
        raise at.fail(f"a {t} attribute needs 'nested' (an attribute set)")
    return NlAttr(
        _str(m["name"], at.key(m, "name")),
        _int(m.get("id", default_id), at.key(m, "id"), 0, 0x3FFF),
        t,
        _opt_int(m, "min", at),
        _opt_int(m, "max", at),
        _opt_int(m, "min-len", at, 0),
        _opt_int(m, "max-len", at, 0),
        _opt_int(m, "exact-len", at, 0),
        None if nested is None else _str(nested, at.key(m, "nested")),
        _ints(m, "values", at),
    )


def _attr_set(v: Any, at: _At) -> NlAttrSet:
    m = _map(v, at, ("name",), ("attrs",))
    attrs: list[NlAttr] = []
    for x, a in _seq(m.get("attrs"), at.key(m, "attrs")):
        attrs.append(_attr(x, a, attrs[-1].id + 1 if attrs else 1))
    _unique([a.name for a in attrs], "attribute name", at.key(m, "attrs"))
    _unique([a.id for a in attrs], "attribute id", at.key(m, "attrs"))
    return NlAttrSet(_str(m["name"], at.key(m, "name")), tuple(attrs))


def _command(v: Any, at: _At, default_id: int) -> NlCommand:
    m = _map(v, at, ("name", "attr-set"), ("id", "do", "dump", "attrs"))
    return NlCommand(
        _str(m["name"], at.key(m, "name")),
        _int(m.get("id", default_id), at.key(m, "id"), 0, 0xFF),
        _str(m["attr-set"], at.key(m, "attr-set")),
        _bool(m.get("do", True), at.key(m, "do")),
        _bool(m.get("dump", False), at.key(m, "dump")),
        _strs(m, "attrs", at),
    )


def _family(v: Any, at: _At) -> NlFamily:
    m = _map(v, at, ("name",), ("version", "mcgrps", "attr-sets", "commands"))
    name = _str(m["name"], at.key(m, "name"))
    if len(name) > 15:
        raise at.key(m, "name").fail(f"family name {name!r} is longer than 15 characters")
    sets = tuple(_attr_set(x, a) for x, a in _seq(m.get("attr-sets"), at.key(m, "attr-sets")))
    cmds: list[NlCommand] = []
    for x, a in _seq(m.get("commands"), at.key(m, "commands")):
        cmds.append(_command(x, a, cmds[-1].id + 1 if cmds else 1))
    version = _int(m.get("version", 1), at.key(m, "version"), 0, 255)
    fam = NlFamily(name, version, sets, tuple(cmds), _strs(m, "mcgrps", at))
    _check_family(fam, m, at)
    return fam


def _link(v: Any, at: _At) -> LinkKind:
    m = _map(v, at, ("kind",), ("data", "slave-data", "attr-sets"))
    kind = _str(m["kind"], at.key(m, "kind"))
    if not 0 < len(kind) < 16 or not all(" " < c <= "~" for c in kind):
        raise at.key(m, "kind").fail(f"link kind {kind!r} must be 1..15 printable characters")
    sets = tuple(_attr_set(x, a) for x, a in _seq(m.get("attr-sets"), at.key(m, "attr-sets")))
    link = LinkKind(
        kind,
        None if m.get("data") is None else _str(m["data"], at.key(m, "data")),
        None if m.get("slave-data") is None else _str(m["slave-data"], at.key(m, "slave-data")),
        sets,
    )
    _check_family(link.family, m, at)
    for key, name in (("data", link.data), ("slave-data", link.slave_data)):
        if name is not None and link.family.attr_set(name) is None:
            raise at.key(m, key).fail(f"no attribute set {name!r}")
    return link


def _check_family(fam: NlFamily, m: _Map, at: _At) -> None:
    names = {s.name for s in fam.attr_sets}
    _unique([s.name for s in fam.attr_sets], "attribute set", at.key(m, "attr-sets"))
    for i, s in enumerate(fam.attr_sets):
        for j, a in enumerate(s.attrs):
            if a.nested is not None and a.nested not in names:
                where = _At(at.source, at.line, f"{at.path}.attr-sets[{i}].attrs[{j}].nested")
                raise _relocate(where, m, "attr-sets").fail(f"no attribute set {a.nested!r}")
    _unique([c.name for c in fam.commands], "command name", at.key(m, "commands"))
    cat = at.key(m, "commands")
    for i, c in enumerate(fam.commands):
        aset = fam.attr_set(c.attr_set)
        if aset is None:
            raise _item(cat, m.get("commands"), i).fail(f"no attribute set {c.attr_set!r}")
        for name in c.attrs:
            if aset.by_name(name) is None:
                raise _item(cat, m.get("commands"), i).fail(
                    f"attribute {name!r} is not in set {aset.name!r}"
                )


def _relocate(at: _At, m: _Map, key: str) -> _At:
    return _At(at.source, m.key_lines.get(key, m.line), at.path)


def _item(at: _At, seq: Any, i: int) -> _At:
    return at.item(seq, i) if isinstance(seq, _Seq) else at


def _grammar(v: Any, at: _At) -> Grammar:
    if v == "text" or v is None:
        return Grammar()
    if v in ("int", "string"):
        return Grammar(v)
    m = _map(v, at, (), ("int", "enum", "string", "commands"))
    if "int" in m:
        pair = list(_seq(m["int"], at.key(m, "int")))
        if len(pair) != 2:
            raise at.key(m, "int").fail("expected [min, max]")
        lo, hi = (_int(x, a) for x, a in pair)
        return Grammar("int", lo, hi)
    if "enum" in m:
        return Grammar("enum", values=_strs(m, "enum", at))
    if "string" in m:
        return Grammar("string", max_len=_int(m["string"], at.key(m, "string"), 0))
    if "commands" in m:
        cmds = []
        for x, a in _seq(m["commands"], at.key(m, "commands")):
            c = _map(x, a, ("word",), ("args", "sep"))
            args = tuple(_grammar(g, ga) for g, ga in _seq(c.get("args"), a.key(c, "args")))
            sep = _str(c.get("sep", " "), a.key(c, "sep"))
            cmds.append(TextCommand(_str(c["word"], a.key(c, "word")), args, sep))
        return Grammar("commands", commands=tuple(cmds))
    raise at.fail("a grammar is 'text' or a mapping with int, enum, string or commands")


def _file(v: Any, at: _At) -> File:
    m = _map(v, at, ("path",), ("mode", "kind", "grammar"))
    path = _path(m["path"], at.key(m, "path"))
    mode = m.get("mode", 0o644)
    if isinstance(mode, str):
        mode = _int(mode if mode.startswith("0o") else "0o" + mode, at.key(m, "mode"))
    kind = m.get("kind", FileKind.of(path).value)
    return File(
        path,
        _int(mode, at.key(m, "mode"), 0, 0o7777),
        _enum(FileKind, kind, at.key(m, "kind"), [k.value for k in FileKind]),
        _grammar(m.get("grammar"), at.key(m, "grammar")),
    )


def _unique(items: list[Any], what: str, at: _At) -> None:
    seen = set()
    for x in items:
        if x in seen:
            raise at.fail(f"duplicate {what} {x!r}")
        seen.add(x)


# ---------------------------------------------------------------- cross checks


def _check_types(spec: Spec, root: _Map, at: _At) -> None:
    """Check the spec's own layout, then the one 32-bit callers see where it differs."""
    _check_layout(spec, root, at, "")
    if spec.abi_dependent:
        _check_layout(spec.for_abi(32), root, at, " (abi32)")


def _check_layout(spec: Spec, root: _Map, at: _At, abi: str) -> None:
    structs = {s.name: s for s in spec.structs}
    for i, s in enumerate(spec.structs):
        sat = _item(at.key(root, "structs"), root.get("structs"), i)
        names = {f.name for f in s.fields}
        for f in s.fields:
            size = type_size(f.type, spec)
            if f.offset + size > s.size:
                raise sat.fail(
                    f"{s.name}.{f.name}{abi}: offset {f.offset} + size {size} "
                    f"> struct size {s.size}"
                )
            for ref in _refs(f.type):
                if ref not in structs:
                    raise sat.fail(f"{s.name}.{f.name}: no struct {ref!r}")
            if isinstance(f.type, Len) and f.type.of not in names:
                raise sat.fail(f"{s.name}.{f.name}: len of {f.type.of!r}, not a field")
    for i, io in enumerate(spec.ioctls):
        iat = _item(at.key(root, "ioctls"), root.get("ioctls"), i)
        want = (io.dir.ioc << 30) | (io.size << 16) | (io.type << 8) | io.nr
        if io.code != want:
            raise iat.fail(f"{io.name}{abi}: code {io.code:#x} != dir/type/nr/size {want:#x}")
        for ref in _refs(io.arg) if io.arg is not None else []:
            if ref not in structs:
                raise iat.fail(f"{io.name}: no struct {ref!r}")
    names = {io.name for io in spec.ioctls}
    _unique([io.name for io in spec.ioctls], "ioctl", at.key(root, "ioctls"))
    for i, d in enumerate(spec.devices):
        for n in d.ioctls:
            if n not in names:
                dat = _item(at.key(root, "devices"), root.get("devices"), i)
                raise dat.fail(f"{d.path}: no ioctl {n!r}")


def _refs(t: Type) -> list[str]:
    if isinstance(t, StructRef):
        return [t.name]
    if isinstance(t, Ptr):
        return _refs(t.target)
    if isinstance(t, Array):
        return _refs(t.elem)
    return []


# ---------------------------------------------------------------- entry points


def loads(text: str, source: str = "<string>") -> Spec:
    """Parse and validate a spec; errors name `source`, the line and the field."""
    try:
        doc = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{source}{line}: not valid YAML: {getattr(e, 'problem', e)}") from None
    at = _At(source, 1, "")
    keys = (
        "name",
        "words",
        "devices",
        "ioctls",
        "structs",
        "families",
        "files",
        "sources",
        "links",
    )
    root = _map(doc, at, ("rig-spec",), keys)
    version = _int(root["rig-spec"], at.key(root, "rig-spec"))
    if version != SPEC_VERSION:
        raise at.key(root, "rig-spec").fail(f"spec format {version}, this rig reads {SPEC_VERSION}")

    def each(key: str, fn: Callable[[Any, _At], T]) -> tuple[T, ...]:
        return tuple(fn(x, a) for x, a in _seq(root.get(key), at.key(root, key)))

    spec = Spec(
        _str(root.get("name"), at.key(root, "name")),
        each("devices", _device),
        each("ioctls", _ioctl),
        each("structs", _struct),
        each("families", _family),
        each("files", _file),
        _strs(root, "words", at),
        _strs(root, "sources", at),
        each("links", _link),
    )
    _unique([s.name for s in spec.structs], "struct", at.key(root, "structs"))
    _unique([k.kind for k in spec.links], "link kind", at.key(root, "links"))
    _unique([f.name for f in spec.families], "family", at.key(root, "families"))
    _unique(list(spec.paths), "path", at)
    _check_types(spec, root, at)
    return spec


def load(path: Path) -> Spec:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: cannot read spec: {e}") from None
    return loads(text, str(path))


# ---------------------------------------------------------------- writing


class _Hex(int):
    pass


class _Oct(int):
    pass


class _Flow(dict[str, Any]):
    pass


class _FlowList(list[Any]):
    pass


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Hex, lambda d, v: d.represent_scalar("tag:yaml.org,2002:int", hex(v)))
_Dumper.add_representer(
    _Oct, lambda d, v: d.represent_scalar("tag:yaml.org,2002:int", f"0{int(v):o}")
)
_Dumper.add_representer(
    _FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)
_Dumper.add_representer(
    _Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True)
)


def type_obj(t: Type) -> Any:
    """A type in the file's form."""
    if isinstance(t, Int):
        name = f"{'s' if t.signed else 'u'}{t.size * 8}"
        extra = {
            "min": t.min,
            "max": t.max,
            "values": list(t.values) or None,
            "flags": [_Hex(f) for f in t.flags] or None,
            "const": t.const,
        }
        extra = {k: v for k, v in extra.items() if v is not None}
        return _Flow(int=name, **extra) if extra else name
    if isinstance(t, Len):
        obj = _Flow(len=t.of, int=f"u{t.size * 8}")
        if t.unit != "bytes":
            obj["unit"] = t.unit
        return obj
    if isinstance(t, Ptr):
        obj = _Flow(ptr=type_obj(t.target), dir=t.dir.value)
        if t.size != 8:
            obj["size"] = t.size
        return obj
    if isinstance(t, Bytes):
        return "bytes" if (t.min, t.max) == (0, 4096) else _Flow(bytes=[t.min, t.max])
    if isinstance(t, Array):
        obj = _Flow(array=type_obj(t.elem))
        if t.count is not None:
            obj["count"] = t.count
        else:
            obj.update(min=t.min, max=t.max)
        return obj
    if isinstance(t, String):
        obj = _Flow(string=t.size)
        if t.max_len != max(t.size - 1, 0):
            obj["max-len"] = t.max_len
        if t.values:
            obj["values"] = list(t.values)
        return obj
    return _Flow(struct=t.name)


def _grammar_obj(g: Grammar) -> Any:
    if g.kind == "int" and g.min is None and g.max is None:
        return "int"
    if g.kind == "string" and g.max_len is None:
        return "string"
    if g.kind == "int":
        return _Flow(int=[g.min, g.max])
    if g.kind == "enum":
        return _Flow(enum=list(g.values))
    if g.kind == "string":
        return _Flow(string=g.max_len)
    if g.kind == "commands":
        return {
            "commands": [
                _Flow(
                    word=c.word,
                    **({"sep": c.sep} if c.sep != " " else {}),
                    **({"args": [_grammar_obj(a) for a in c.args]} if c.args else {}),
                )
                for c in g.commands
            ]
        }
    return "text"


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != []}


def spec_obj(spec: Spec, with_sources: bool = True) -> dict[str, Any]:
    """The whole spec in the file's form (plain dicts and lists)."""
    obj: dict[str, Any] = {"rig-spec": SPEC_VERSION, "name": spec.name}
    if with_sources and spec.sources:
        obj["sources"] = list(spec.sources)
    obj["words"] = _FlowList(spec.words)
    obj["devices"] = [
        _drop_none(
            {
                "path": d.path,
                "read": d.read,
                "write": d.write,
                "open-flags": _FlowList(d.open_flags),
                "ioctls": list(d.ioctls),
            }
        )
        for d in spec.devices
    ]
    obj["ioctls"] = [
        _Flow(
            _drop_none(
                {
                    "name": io.name,
                    "code": _Hex(io.code),
                    "dir": io.dir.value,
                    "type": _Hex(io.type),
                    "nr": io.nr,
                    "size": io.size,
                    "arg": None if io.arg is None else type_obj(io.arg),
                    "abi32": None if io.abi32 is None else _ioctl32_obj(io, io.abi32),
                }
            )
        )
        for io in spec.ioctls
    ]
    obj["structs"] = [_struct_obj(s) for s in spec.structs]
    obj["families"] = [_family_obj(f) for f in spec.families]
    obj["files"] = [
        _Flow(
            path=f.path,
            mode=_Oct(f.mode),
            kind=f.kind.value,
            grammar=_grammar_obj(f.grammar),
        )
        for f in spec.files
    ]
    if spec.links:  # absent, not empty: older specs keep their hash
        obj["links"] = [_link_obj(k) for k in spec.links]
    return obj


def _link_obj(k: LinkKind) -> dict[str, Any]:
    sets = _family_obj(k.family)["attr-sets"]
    return _drop_none(
        {"kind": k.kind, "data": k.data, "slave-data": k.slave_data, "attr-sets": sets or None}
    )


def _family_obj(f: NlFamily) -> dict[str, Any]:
    return {
        "name": f.name,
        "version": f.version,
        "mcgrps": _FlowList(f.mcgrps),
        "attr-sets": [
            {
                "name": s.name,
                "attrs": [
                    _Flow(
                        _drop_none(
                            {
                                "name": a.name,
                                "id": a.id,
                                "type": a.type,
                                "min": a.min,
                                "max": a.max,
                                "min-len": a.min_len,
                                "max-len": a.max_len,
                                "exact-len": a.exact_len,
                                "nested": a.nested,
                                "values": list(a.values),
                            }
                        )
                    )
                    for a in s.attrs
                ],
            }
            for s in f.attr_sets
        ],
        "commands": [
            _Flow(
                name=c.name,
                id=c.id,
                **{"attr-set": c.attr_set},
                do=c.do,
                dump=c.dump,
                attrs=list(c.attrs),
            )
            for c in f.commands
        ],
    }


def _struct_obj(s: Struct, abi32: bool = False) -> dict[str, Any]:
    obj: dict[str, Any] = {} if abi32 else {"name": s.name}
    obj.update(size=s.size, align=s.align)
    if s.union and not abi32:
        obj["union"] = True
    obj["fields"] = [
        _Flow(
            name=f.name,
            offset=f.offset,
            type=type_obj(f.type),
            **({"out": True} if f.out else {}),
        )
        for f in s.fields
    ]
    if s.abi32 is not None:
        obj["abi32"] = _struct_obj(s.abi32, abi32=True)
    return obj


def _ioctl32_obj(io: Ioctl, io32: Ioctl) -> dict[str, Any]:
    obj: dict[str, Any] = {"code": _Hex(io32.code)}
    if io32.arg != io.arg and io32.arg is not None:
        obj["arg"] = type_obj(io32.arg)
    return obj


def dumps(spec: Spec, header: str = "") -> str:
    """The spec as YAML, preceded by `header` as comment lines."""
    body = yaml.dump(
        spec_obj(spec), Dumper=_Dumper, sort_keys=False, width=4096, default_flow_style=False
    )
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comment + body


def dump(path: Path, spec: Spec, header: str = "") -> None:
    atomic_write(path, dumps(spec, header).encode())


def spec_hash(spec: Spec) -> str:
    """The sha256 of what the spec says (not of its file: comments and order do not count)."""
    canon = json.dumps(spec_obj(spec, with_sources=False), sort_keys=True, default=int)
    return hashlib.sha256(canon.encode()).hexdigest()
