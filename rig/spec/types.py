"""Frozen dataclasses describing a driver's user-space surface: devices, ioctls, netlink, files.

A `Spec` is what the generators read. It says what a driver accepts, never
what breaks it: every value here comes from the driver's own declarations
(UAPI header, YNL spec, what the running kernel reports), so the same code
fuzzes drivers it has never seen.

Types of ioctl arguments and struct fields form a small tree:

    Int       an integer of `size` bytes with an optional range, enum values,
              flag bits and a constant (reserved fields)
    Len       an integer holding the length of a sibling field's buffer
    Ptr       a user pointer to a `target` type: 8 bytes (a 64-bit pointer, or a
              `__u64` carrying one), 4 in a 32-bit layout
    Bytes     opaque bytes of a size in min..max (what a bare pointer points to)
    Array     `count` elements of `elem` (count None: variable, min..max)
    String    a char array of `size` bytes holding a NUL-terminated string
    StructRef a struct declared in `Spec.structs`

A spec is laid out for 64-bit callers. Where a struct or an ioctl is laid out
differently for 32-bit callers (pointers and `long` are 4 bytes, 64-bit
integers 4-aligned on i386), it carries that layout as `abi32`, and
`Spec.for_abi(32)` is the spec a 32-bit program is built from.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import TypeAlias


class Dir(enum.Enum):
    """Who writes the bytes: user to kernel (in), kernel to user (out), or both."""

    NONE = "none"
    IN = "in"  # _IOW: the kernel reads the argument
    OUT = "out"  # _IOR: the kernel writes the argument
    INOUT = "inout"  # _IOWR

    @classmethod
    def from_ioc(cls, ioc_dir: int) -> Dir:
        return [cls.NONE, cls.IN, cls.OUT, cls.INOUT][ioc_dir & 3]

    @property
    def ioc(self) -> int:
        """The _IOC direction bits (1 write, 2 read) for this direction."""
        return {Dir.NONE: 0, Dir.IN: 1, Dir.OUT: 2, Dir.INOUT: 3}[self]


@dataclass(frozen=True)
class Int:
    size: int = 4
    signed: bool = False
    min: int | None = None
    max: int | None = None
    values: tuple[int, ...] = ()  # enum or otherwise meaningful values
    flags: tuple[int, ...] = ()  # bits that combine
    const: int | None = None  # the only valid value (reserved, must be 0)

    @property
    def lo(self) -> int:
        return -(1 << (8 * self.size - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (8 * self.size - (1 if self.signed else 0))) - 1


@dataclass(frozen=True)
class Len:
    """The length of sibling field `of` (a Ptr or Array), in bytes or elements."""

    of: str
    size: int = 4
    unit: str = "bytes"  # or "elements"


@dataclass(frozen=True)
class Ptr:
    target: Type
    dir: Dir = Dir.IN
    size: int = 8  # bytes the pointer takes in its struct: 4 in a 32-bit layout


@dataclass(frozen=True)
class Bytes:
    min: int = 0
    max: int = 4096


@dataclass(frozen=True)
class Array:
    elem: Type
    count: int | None = None  # fixed count; None: min..max elements
    min: int = 0
    max: int = 16


@dataclass(frozen=True)
class String:
    size: int = 0  # bytes of a fixed char array; 0: a pointed-to string of max_len
    max_len: int = 0
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class StructRef:
    name: str


Type: TypeAlias = Int | Len | Ptr | Bytes | Array | String | StructRef


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    type: Type
    out: bool = False  # written by the kernel; the value sent does not matter


@dataclass(frozen=True)
class Struct:
    name: str
    size: int
    align: int
    fields: tuple[Field, ...] = ()
    union: bool = False
    abi32: Struct | None = None  # the layout 32-bit callers use, where it differs

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class Ioctl:
    """One ioctl command: its full code and the _IOC fields it is made of."""

    name: str
    code: int
    dir: Dir = Dir.NONE
    type: int = 0
    nr: int = 0
    size: int = 0
    arg: Type | None = None  # None: no argument (the agent passes 0)
    abi32: Ioctl | None = None  # code and argument of 32-bit callers, where they differ


@dataclass(frozen=True)
class Device:
    """A device node; `open` on it yields an fd for read, write and the listed ioctls."""

    path: str
    ioctls: tuple[str, ...] = ()
    read: bool = True
    write: bool = True
    open_flags: tuple[int, ...] = (2,)  # O_RDWR; O_RDONLY/O_WRONLY when the mode says so


# ---------------------------------------------------------------- generic netlink

NL_INT_TYPES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "s8": 1, "s16": 2, "s32": 4, "s64": 8}
NL_TYPES = frozenset(
    {*NL_INT_TYPES, "uint", "sint", "flag", "string", "binary", "nest", "indexed-array"}
    | {"pad", "unused", "bitfield32"}
)


@dataclass(frozen=True)
class NlAttr:
    name: str
    id: int
    type: str  # one of NL_TYPES
    min: int | None = None  # integer checks
    max: int | None = None
    min_len: int | None = None  # string / binary checks
    max_len: int | None = None
    exact_len: int | None = None
    nested: str | None = None  # attribute set of a nest or an indexed-array's elements
    values: tuple[int, ...] = ()


@dataclass(frozen=True)
class NlAttrSet:
    name: str
    attrs: tuple[NlAttr, ...] = ()

    def by_name(self, name: str) -> NlAttr | None:
        return next((a for a in self.attrs if a.name == name), None)

    @property
    def max_id(self) -> int:
        return max((a.id for a in self.attrs), default=0)


@dataclass(frozen=True)
class NlCommand:
    name: str
    id: int
    attr_set: str
    do: bool = True
    dump: bool = False
    attrs: tuple[str, ...] = ()  # request attributes; empty: any of the set


@dataclass(frozen=True)
class NlFamily:
    name: str
    version: int = 1
    attr_sets: tuple[NlAttrSet, ...] = ()
    commands: tuple[NlCommand, ...] = ()
    mcgrps: tuple[str, ...] = ()

    def attr_set(self, name: str) -> NlAttrSet | None:
        return next((s for s in self.attr_sets if s.name == name), None)


@dataclass(frozen=True)
class LinkKind:
    """An rtnetlink link kind a module registers (`ip link add type KIND`).

    `data` and `slave_data` name the attribute sets of IFLA_INFO_DATA and
    IFLA_INFO_SLAVE_DATA among `attr_sets`; without them those nests are
    filled with attributes of guessed types.
    """

    kind: str
    data: str | None = None
    slave_data: str | None = None
    attr_sets: tuple[NlAttrSet, ...] = ()

    @property
    def family(self) -> NlFamily:
        """Its attribute sets as a family's, for the netlink attribute builder."""
        return NlFamily(self.kind, 0, self.attr_sets)


ROUTE_FAMILY = "@route"  # the agent's name for raw rtnetlink (rig.prog.program.RAW_FAMILIES)


# ---------------------------------------------------------------- files


class FileKind(enum.Enum):
    SYSFS = "sysfs"
    PROCFS = "procfs"
    DEBUGFS = "debugfs"
    OTHER = "other"

    @classmethod
    def of(cls, path: str) -> FileKind:
        if path.startswith("/sys/kernel/debug/"):
            return cls.DEBUGFS
        if path.startswith("/sys/"):
            return cls.SYSFS
        if path.startswith("/proc/"):
            return cls.PROCFS
        return cls.OTHER


GRAMMAR_KINDS = frozenset(["int", "enum", "string", "commands", "text"])


@dataclass(frozen=True)
class Grammar:
    """What a file (or one argument of a text command) accepts.

    int: a number in min..max; enum: one of `values`; string: up to
    `max_len` characters; text: free text built from the spec's words;
    commands: one of `commands`, a word followed by arguments.
    """

    kind: str = "text"
    min: int | None = None
    max: int | None = None
    values: tuple[str, ...] = ()
    max_len: int | None = None
    commands: tuple[TextCommand, ...] = ()


@dataclass(frozen=True)
class TextCommand:
    """A word and its arguments, joined by `sep` ("mode 3", or "warn:7" with sep ":")."""

    word: str
    args: tuple[Grammar, ...] = ()
    sep: str = " "


@dataclass(frozen=True)
class File:
    path: str
    mode: int = 0o644
    kind: FileKind = FileKind.OTHER
    grammar: Grammar = field(default_factory=Grammar)

    @property
    def readable(self) -> bool:
        return bool(self.mode & 0o444)

    @property
    def writable(self) -> bool:
        return bool(self.mode & 0o222)


# ---------------------------------------------------------------- the whole spec

SPEC_VERSION = 1


@dataclass(frozen=True)
class Spec:
    name: str
    devices: tuple[Device, ...] = ()
    ioctls: tuple[Ioctl, ...] = ()
    structs: tuple[Struct, ...] = ()
    families: tuple[NlFamily, ...] = ()
    files: tuple[File, ...] = ()
    words: tuple[str, ...] = ()  # tokens for free text: names the driver itself declares
    sources: tuple[str, ...] = ()  # what it was imported from (provenance, not hashed)
    links: tuple[LinkKind, ...] = ()  # rtnetlink link kinds the module registers

    def struct(self, name: str) -> Struct | None:
        return next((s for s in self.structs if s.name == name), None)

    def for_abi(self, abi: int) -> Spec:
        """The spec as callers of `abi` (64 or 32) see it: each struct and ioctl in their layout."""
        if abi == 64:
            return self
        if abi != 32:
            raise ValueError(f"abi {abi!r} is not 64 or 32")
        return dataclasses.replace(
            self,
            structs=tuple(s.abi32 or s for s in self.structs),
            ioctls=tuple(i.abi32 or i for i in self.ioctls),
        )

    @property
    def abi_dependent(self) -> bool:
        """Whether any struct or ioctl differs for 32-bit callers."""
        return any(s.abi32 for s in self.structs) or any(i.abi32 for i in self.ioctls)

    def ioctl(self, name: str) -> Ioctl | None:
        return next((i for i in self.ioctls if i.name == name), None)

    def device_ioctls(self, device: Device) -> tuple[Ioctl, ...]:
        by_name = {i.name: i for i in self.ioctls}
        return tuple(by_name[n] for n in device.ioctls if n in by_name)

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path a program may touch (what the agent's allowlist needs)."""
        return tuple(d.path for d in self.devices) + tuple(f.path for f in self.files)

    @property
    def family_names(self) -> tuple[str, ...]:
        """Families a program may talk to: generic netlink ones, and rtnetlink for links."""
        return tuple(f.name for f in self.families) + ((ROUTE_FAMILY,) if self.links else ())


def type_size(t: Type, spec: Spec) -> int:
    """Bytes a type takes inside a struct (a pointed-to type takes its pointer's size)."""
    if isinstance(t, Int | Len):
        return t.size
    if isinstance(t, Ptr):
        return t.size
    if isinstance(t, String):
        return t.size
    if isinstance(t, Array):
        return (t.count or 0) * type_size(t.elem, spec)
    if isinstance(t, StructRef):
        s = spec.struct(t.name)
        return s.size if s else 0
    return t.min
