"""Netlink attribute policies, and the link kinds they belong to, read from a module's object file.

rtnetlink has no policy dump, and a module's generic netlink policy is only
dumped once it is loaded; the arrays themselves sit in the .ko. Every
`struct nla_policy` array is found by its DWARF type, read from its section
by the struct's DWARF layout (pyelftools; the kernel's NLA_* numbers come
from the module's own enumerators where it has them), and pointers out of
an entry (a nested policy, a range) are followed through the section's
relocations, since a .ko is not linked. `rtnl_link_ops` variables then say
which policy is a link kind's IFLA_INFO_DATA and which its slave data, and
`genl_family` variables which is a family's top-level policy.

Bounds are those the kernel enforces (nla_get_range_unsigned/signed and
the length checks of lib/nlattr.c), so an attribute set read here and the
one a loaded module's CTRL_CMD_GETPOLICY dump gives agree.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rig.errors import ConfigError
from rig.spec.types import LinkKind, NlAttr, NlAttrSet, NlCommand, NlFamily

log = logging.getLogger(__name__)

# enum netlink types, include/net/netlink.h of 6.1 (read from DWARF when the module has it)
NLA_TYPES = [
    "NLA_UNSPEC",
    "NLA_U8",
    "NLA_U16",
    "NLA_U32",
    "NLA_U64",
    "NLA_STRING",
    "NLA_FLAG",
    "NLA_MSECS",
    "NLA_NESTED",
    "NLA_NESTED_ARRAY",
    "NLA_NUL_STRING",
    "NLA_BINARY",
    "NLA_S8",
    "NLA_S16",
    "NLA_S32",
    "NLA_S64",
    "NLA_BITFIELD32",
    "NLA_REJECT",
    "NLA_BE16",
    "NLA_BE32",
]
NLA_VALIDATE = [
    "NLA_VALIDATE_NONE",
    "NLA_VALIDATE_RANGE",
    "NLA_VALIDATE_RANGE_WARN_TOO_LONG",
    "NLA_VALIDATE_MIN",
    "NLA_VALIDATE_MAX",
    "NLA_VALIDATE_MASK",
    "NLA_VALIDATE_RANGE_PTR",
    "NLA_VALIDATE_FUNCTION",
]
# NLA_* -> the spec's attribute type, and the integer limits the kernel starts from
_KINDS = {
    "NLA_U8": ("u8", 0, 0xFF),
    "NLA_U16": ("u16", 0, 0xFFFF),
    "NLA_U32": ("u32", 0, 0xFFFFFFFF),
    "NLA_U64": ("u64", 0, (1 << 64) - 1),
    "NLA_MSECS": ("u64", 0, (1 << 64) - 1),
    "NLA_BE16": ("u16", 0, 0xFFFF),
    "NLA_BE32": ("u32", 0, 0xFFFFFFFF),
    "NLA_S8": ("s8", -(1 << 7), (1 << 7) - 1),
    "NLA_S16": ("s16", -(1 << 15), (1 << 15) - 1),
    "NLA_S32": ("s32", -(1 << 31), (1 << 31) - 1),
    "NLA_S64": ("s64", -(1 << 63), (1 << 63) - 1),
}
_TEXT = {"NLA_STRING": "string", "NLA_NUL_STRING": "string", "NLA_BINARY": "binary"}


@dataclass(frozen=True)
class _Sym:
    name: str
    shndx: int
    value: int
    size: int


@dataclass
class _Layout:
    """Member offsets of one struct, by name (anonymous members' members included)."""

    size: int
    offsets: dict[str, int] = field(default_factory=dict)


class ModuleObject:
    """The parts of a relocatable ELF module that policies are read from."""

    def __init__(self, ko: Path) -> None:
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile

        self.path = ko
        try:
            self._file = ko.open("rb")
            self.elf = ELFFile(self._file)
        except (OSError, ELFError) as e:
            raise ConfigError(f"{ko}: not a readable ELF module: {e}") from None
        if not self.elf.has_dwarf_info():
            raise ConfigError(f"{ko}: no DWARF (build the module with debug info)")
        self.symbols: dict[str, _Sym] = {}
        self._by_index: list[_Sym | None] = []
        self._section_syms: dict[int, int] = {}  # symbol index -> section index (STT_SECTION)
        from elftools.elf.sections import SymbolTableSection

        symtab = self.elf.get_section_by_name(".symtab")
        syms = symtab.iter_symbols() if isinstance(symtab, SymbolTableSection) else ()
        for i, s in enumerate(syms):
            shndx = s["st_shndx"] if isinstance(s["st_shndx"], int) else -1
            sym = _Sym(s.name, shndx, s["st_value"], s["st_size"])
            self._by_index.append(sym)
            if s["st_info"]["type"] == "STT_SECTION":
                self._section_syms[i] = shndx
            elif s["st_info"]["type"] == "STT_OBJECT" and shndx >= 0:
                self.symbols.setdefault(s.name, sym)
        self._relocs: dict[int, dict[int, tuple[int, int]]] = {}
        self._types: dict[str, Any] = {}  # struct name -> DIE
        self._vars: list[tuple[str, Any]] = []  # (variable name, type DIE)
        self._enums: dict[str, int] = {}
        self._read_dwarf()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ModuleObject:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------ DWARF

    def _read_dwarf(self) -> None:
        for cu in self.elf.get_dwarf_info().iter_CUs():
            for die in cu.iter_DIEs():
                name = _name(die)
                if die.tag == "DW_TAG_variable" and name and "DW_AT_type" in die.attributes:
                    self._vars.append((name, die.get_DIE_from_attribute("DW_AT_type")))
                elif (
                    die.tag == "DW_TAG_structure_type"
                    and name
                    and "DW_AT_byte_size" in die.attributes
                ):
                    self._types.setdefault(name, die)
                elif die.tag == "DW_TAG_enumerator" and name:
                    self._enums.setdefault(name, int(die.attributes["DW_AT_const_value"].value))

    @property
    def struct_names(self) -> set[str]:
        return set(self._types)

    def layout(self, struct_name: str) -> _Layout:
        die = self._types.get(struct_name)
        if die is None:
            raise ConfigError(f"{self.path}: no DWARF for struct {struct_name}")
        out = _Layout(int(die.attributes["DW_AT_byte_size"].value))
        _members(die, 0, out.offsets)
        return out

    def variables(self, struct_name: str) -> list[tuple[str, int]]:
        """Variables of `struct_name` or arrays of it: (name, element count; 1 if no array)."""
        out = []
        for name, t in self._vars:
            count, t = 1, _strip(t)
            if t.tag == "DW_TAG_array_type":
                count = _array_count(t)
                t = _strip(t.get_DIE_from_attribute("DW_AT_type"))
            if t.tag == "DW_TAG_structure_type" and _name(t) == struct_name:
                out.append((name, count))
        return out

    def enum(self, names: list[str]) -> dict[int, str]:
        """Value -> name for enumerators, from DWARF, else their position in `names`."""
        return {self._enums.get(n, i): n for i, n in enumerate(names)}

    # ------------------------------------------------------------ data

    def _relocations(self, shndx: int) -> dict[int, tuple[int, int]]:
        """Offset in section `shndx` -> (symbol index, addend), from its .rela section."""
        if shndx not in self._relocs:
            from elftools.elf.relocation import RelocationSection

            got: dict[int, tuple[int, int]] = {}
            for sec in self.elf.iter_sections():
                if isinstance(sec, RelocationSection) and sec["sh_info"] == shndx:
                    for r in sec.iter_relocations():
                        got[r["r_offset"]] = (r["r_info_sym"], r["r_addend"] if r.is_RELA() else 0)
            self._relocs[shndx] = got
        return self._relocs[shndx]

    def read(self, shndx: int, offset: int, n: int) -> bytes:
        sec = self.elf.get_section(shndx)
        if sec["sh_type"] == "SHT_NOBITS":
            return bytes(n)
        return bytes(sec.data()[offset : offset + n])

    def pointer(self, shndx: int, offset: int) -> tuple[int, int] | None:
        """Where the pointer stored at (section, offset) points: (section, offset), or None."""
        rel = self._relocations(shndx).get(offset)
        if rel is None:
            return None
        index, addend = rel
        if index in self._section_syms:
            return self._section_syms[index], addend
        sym = self._by_index[index] if index < len(self._by_index) else None
        if sym is None or sym.shndx < 0:
            return None  # outside the module: a kernel symbol
        return sym.shndx, sym.value + addend

    def target_name(self, shndx: int, offset: int) -> str | None:
        """The symbol the pointer stored at (section, offset) names, in the module or the kernel."""
        rel = self._relocations(shndx).get(offset)
        if rel is None:
            return None
        index, addend = rel
        if index in self._section_syms:  # a static function: section + offset
            sec = self._section_syms[index]
            return next(
                (s.name for s in self._by_index if s and s.shndx == sec and s.value == addend),
                None,
            )
        sym = self._by_index[index] if index < len(self._by_index) else None
        return sym.name if sym is not None and sym.name else None

    def symbol_at(self, shndx: int, offset: int) -> str | None:
        return next(
            (s.name for s in self.symbols.values() if s.shndx == shndx and s.value == offset),
            None,
        )

    def string(self, shndx: int, offset: int, limit: int = 64) -> str:
        raw = self.read(shndx, offset, limit)
        return raw.split(b"\0", 1)[0].decode("ascii", "replace")


def _name(die: Any) -> str:
    a = die.attributes.get("DW_AT_name")
    return a.value.decode("utf-8", "replace") if a is not None else ""


def _strip(t: Any) -> Any:
    while t.tag in ("DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_typedef"):
        if "DW_AT_type" not in t.attributes:
            break
        t = t.get_DIE_from_attribute("DW_AT_type")
    return t


def _array_count(t: Any) -> int:
    for child in t.iter_children():
        if child.tag == "DW_TAG_subrange_type":
            if "DW_AT_count" in child.attributes:
                return int(child.attributes["DW_AT_count"].value)
            if "DW_AT_upper_bound" in child.attributes:
                return int(child.attributes["DW_AT_upper_bound"].value) + 1
    return 0


def _members(die: Any, base: int, out: dict[str, int]) -> None:
    for m in die.iter_children():
        if m.tag != "DW_TAG_member":
            continue
        loc = m.attributes.get("DW_AT_data_member_location")
        off = base + (int(loc.value) if loc is not None and isinstance(loc.value, int) else 0)
        name = _name(m)
        if name:
            out.setdefault(name, off)
        else:  # an anonymous union or struct: its members are the enclosing struct's
            _members(_strip(m.get_DIE_from_attribute("DW_AT_type")), off, out)


# ---------------------------------------------------------------- policies


@dataclass
class _Reader:
    obj: ModuleObject
    sets: dict[str, NlAttrSet] = field(default_factory=dict)  # by policy variable name
    _types: dict[int, str] = field(default_factory=dict)
    _validate: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A module whose DWARF has no nla_policy has no policy to read: an empty layout.
        has = "nla_policy" in self.obj.struct_names
        self.pol = self.obj.layout("nla_policy") if has else _Layout(0)
        self._types = self.obj.enum(NLA_TYPES)
        self._validate = self.obj.enum(NLA_VALIDATE)

    def policy(self, name: str, count: int | None = None) -> NlAttrSet | None:
        """The attribute set of policy array `name` (read once; nested ones follow)."""
        if name in self.sets:
            return self.sets[name]
        sym = self.obj.symbols.get(name)
        if sym is None or not self.pol.size:
            return None
        size = self.pol.size
        n = count if count is not None else sym.size // size
        self.sets[name] = NlAttrSet(name)  # a nest that contains itself stops here
        attrs = []
        for i in range(1, n):  # entry 0 is never an attribute
            a = self._entry(sym.shndx, sym.value + i * size, i)
            if a is not None:
                attrs.append(a)
        self.sets[name] = NlAttrSet(name, tuple(attrs))
        return self.sets[name]

    def _entry(self, shndx: int, at: int, attr_id: int) -> NlAttr | None:
        o = self.pol.offsets
        raw = self.obj.read(shndx, at, self.pol.size)
        kind = self._types.get(raw[o["type"]], "NLA_UNSPEC")
        check = self._validate.get(raw[o["validation_type"]], "NLA_VALIDATE_NONE")
        length = struct.unpack_from("<H", raw, o["len"])[0]
        lo16, hi16 = struct.unpack_from("<hh", raw, o.get("min", 8))
        name = f"attr{attr_id}"
        if kind in _KINDS:
            t, lo, hi = _KINDS[kind]
            if check in ("NLA_VALIDATE_RANGE", "NLA_VALIDATE_RANGE_WARN_TOO_LONG"):
                lo, hi = lo16, hi16
            elif check == "NLA_VALIDATE_MIN":
                lo = lo16
            elif check == "NLA_VALIDATE_MAX":
                hi = hi16
            elif check == "NLA_VALIDATE_RANGE_PTR":
                lo, hi = self._range(shndx, at + o.get("range", 8), t.startswith("s"), lo, hi)
            elif check == "NLA_VALIDATE_MASK":
                return NlAttr(name, attr_id, t)  # bits, not a range: the dump gives none either
            return NlAttr(name, attr_id, t, lo, hi)
        if kind in _TEXT:
            if check in ("NLA_VALIDATE_RANGE", "NLA_VALIDATE_RANGE_WARN_TOO_LONG"):
                return NlAttr(name, attr_id, _TEXT[kind], min_len=lo16, max_len=hi16)
            return NlAttr(name, attr_id, _TEXT[kind], max_len=length or None)
        if kind == "NLA_FLAG":
            return NlAttr(name, attr_id, "flag")
        if kind == "NLA_BITFIELD32":
            return NlAttr(name, attr_id, "bitfield32")
        if kind in ("NLA_NESTED", "NLA_NESTED_ARRAY"):
            nested = self.policy_at(shndx, at + o.get("nested_policy", 8), length)
            if nested is None:
                return NlAttr(name, attr_id, "binary")  # any nest: no policy to follow
            t = "nest" if kind == "NLA_NESTED" else "indexed-array"
            return NlAttr(name, attr_id, t, nested=nested)
        if kind == "NLA_UNSPEC" and length:
            return NlAttr(name, attr_id, "binary", min_len=length)  # a minimum length only
        return None  # unused, or NLA_REJECT: nothing a request may carry

    def policy_at(self, shndx: int, at: int, maxtype: int) -> str | None:
        """The policy array a pointer at (section, offset) names, read up to `maxtype`
        (0: the whole array); None if it names none in this module."""
        target = self.obj.pointer(shndx, at)
        name = self.obj.symbol_at(*target) if target is not None else None
        if name is not None:
            self.policy(name, maxtype + 1 if maxtype else None)
        return name

    def u32(self, shndx: int, at: int) -> int:
        return int(struct.unpack("<I", self.obj.read(shndx, at, 4))[0])

    def _range(self, shndx: int, at: int, signed: bool, lo: int, hi: int) -> tuple[int, int]:
        target = self.obj.pointer(shndx, at)
        if target is None:
            return lo, hi
        got = struct.unpack("<qq" if signed else "<QQ", self.obj.read(*target, 16))
        return int(got[0]), int(got[1])


def policies(ko: Path) -> dict[str, NlAttrSet]:
    """Every `struct nla_policy` array of the module, as attribute sets named after it."""
    with ModuleObject(ko) as obj:
        r = _Reader(obj)
        for name, count in obj.variables("nla_policy"):
            r.policy(name, count or None)
        return dict(r.sets)


def link_kinds(ko: Path) -> list[LinkKind]:
    """The module's `rtnl_link_ops`: each kind with its data and slave-data policies."""
    with ModuleObject(ko) as obj:
        found = obj.variables("rtnl_link_ops")
        if not found:
            return []
        r = _Reader(obj)
        lay = obj.layout("rtnl_link_ops").offsets
        out = []
        for var, _ in found:
            sym = obj.symbols.get(var)
            if sym is None:
                continue
            kind_at = obj.pointer(sym.shndx, sym.value + lay["kind"])
            if kind_at is None:
                continue
            kind = obj.string(*kind_at)
            sets: dict[str, NlAttrSet] = {}
            names: dict[str, str | None] = {}
            for member, maxtype in (("policy", "maxtype"), ("slave_policy", "slave_maxtype")):
                top = r.u32(sym.shndx, sym.value + lay[maxtype])
                names[member] = r.policy_at(sym.shndx, sym.value + lay[member], top)
            if names["policy"] is None:
                # Some drivers set ops->policy at run time (macvlan_link_register for
                # macvlan and macvtap): take the one array named after the kind.
                named = [
                    n for n, _ in obj.variables("nla_policy") if kind in n and "slave" not in n
                ]
                if len(named) == 1:
                    names["policy"] = named[0]
                    r.policy(named[0])
            for s in r.sets.values():
                sets[s.name] = s
            wanted = _closure(sets, [n for n in names.values() if n])
            out.append(
                LinkKind(
                    kind,
                    names["policy"],
                    names["slave_policy"],
                    tuple(sets[n] for n in wanted),
                )
            )
        return out


def genl_families(ko: Path) -> list[NlFamily]:
    """The module's generic netlink families: name, version, commands, policies, groups.

    A command's policy is its own (genl_ops.policy) or the family's; it can
    do what has a doit and dump what has a dumpit. Names of commands and
    attributes are not in the binary (`cmd3`, `attr2`); a YNL spec or the
    header names them where one exists.
    """
    with ModuleObject(ko) as obj:
        found = obj.variables("genl_family")
        if not found:
            return []  # most modules have none, nor the struct's DWARF
        fam_lay = obj.layout("genl_family").offsets
        r = _Reader(obj)
        out = []
        for var, _ in found:
            sym = obj.symbols.get(var)
            if sym is None:
                continue
            at, sh = sym.value, sym.shndx
            name = obj.string(sh, at + fam_lay["name"], 16)
            version, maxattr = struct.unpack("<II", obj.read(sh, at + fam_lay["version"], 8))
            top = r.policy_at(sh, at + fam_lay["policy"], maxattr)
            cmds: list[NlCommand] = []
            for kind in ("ops", "small_ops"):
                n = obj.read(sh, at + fam_lay[f"n_{kind}"], 1)[0]
                target = obj.pointer(sh, at + fam_lay[kind])
                if target is None or not n:
                    continue
                lay = obj.layout(f"genl_{kind}")
                for i in range(n):
                    op_sh, op_at = target[0], target[1] + i * lay.size
                    o = lay.offsets
                    own = None
                    if "policy" in o:
                        own_max = r.u32(op_sh, op_at + o["maxattr"])
                        own = r.policy_at(op_sh, op_at + o["policy"], own_max)
                    cmd = obj.read(op_sh, op_at + o["cmd"], 1)[0]
                    policy = own or top or name
                    do = obj.pointer(op_sh, op_at + o["doit"]) is not None
                    dump = obj.pointer(op_sh, op_at + o["dumpit"]) is not None
                    cmds.append(NlCommand(f"cmd{cmd}", cmd, policy, do, dump))
            groups: list[str] = []
            n = obj.read(sh, at + fam_lay["n_mcgrps"], 1)[0]
            target = obj.pointer(sh, at + fam_lay["mcgrps"])
            if target is not None:
                size = obj.layout("genl_multicast_group").size
                groups = [obj.string(target[0], target[1] + i * size, 16) for i in range(n)]
            roots = [c.attr_set for c in cmds] + ([top] if top else [])
            sets = {s.name: s for s in r.sets.values()}
            wanted = _closure(sets, list(dict.fromkeys(roots)))
            attr_sets = tuple(sets[w] for w in wanted) or (NlAttrSet(name),)
            cmds = [
                c if c.attr_set in sets else replace(c, attr_set=attr_sets[0].name) for c in cmds
            ]
            out.append(NlFamily(name, version, attr_sets, tuple(cmds), tuple(groups)))
        return out


def family_policy(ko: Path, family: str) -> NlAttrSet | None:
    """The top-level policy of generic netlink family `family`, with `maxattr` applied."""
    with ModuleObject(ko) as obj:
        found = obj.variables("genl_family")
        if not found:
            return None
        lay = obj.layout("genl_family").offsets
        r = _Reader(obj)
        for var, _ in found:
            sym = obj.symbols.get(var)
            if sym is None:
                continue
            if obj.string(sym.shndx, sym.value + lay["name"], 16) != family:
                continue
            top = r.u32(sym.shndx, sym.value + lay["maxattr"])
            pname = r.policy_at(sym.shndx, sym.value + lay["policy"], top)
            return r.sets.get(pname) if pname is not None else None
        return None


def _closure(sets: dict[str, NlAttrSet], roots: list[str]) -> list[str]:
    """`roots` and every set they nest, in order."""
    seen: list[str] = []
    todo = list(roots)
    while todo:
        n = todo.pop(0)
        if n in seen or n not in sets:
            continue
        seen.append(n)
        todo += [a.nested for a in sets[n].attrs if a.nested]
    return seen


# The kernel's own compat_ioctl for drivers whose structs are the same for
# 32-bit callers: it only converts the argument pointer.
GENERIC_COMPAT = frozenset({"compat_ptr_ioctl"})


def compat_ioctls(ko: Path) -> list[str]:
    """Functions the module's file operations run for ioctls of 32-bit processes.

    A name other than compat_ptr_ioctl is the driver's own translation of
    32-bit structs: code only 32-bit callers reach.
    """
    out: list[str] = []
    with ModuleObject(ko) as obj:
        for struct_name, member in (
            ("file_operations", "compat_ioctl"),
            ("proc_ops", "proc_compat_ioctl"),
        ):
            if struct_name not in obj.struct_names:
                continue
            lay = obj.layout(struct_name)
            if member not in lay.offsets:
                continue
            for var, count in obj.variables(struct_name):
                sym = obj.symbols.get(var)
                if sym is None:
                    continue
                for k in range(count):
                    at = sym.value + k * lay.size + lay.offsets[member]
                    name = obj.target_name(sym.shndx, at)
                    if name and name not in out:
                        out.append(name)
    return out
