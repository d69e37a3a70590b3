"""What a module's DWARF says about where things are declared and what its functions hold.

Findings point at source lines: the DW_AT_decl_file/DW_AT_decl_line of the
variable or function they are about. Handlers are matched to ioctls by name
(`*_ioctl_echo2` for `*_IOC_ECHO2`), and a handler's local struct variables
are what it copies an ioctl's argument into: their sizes are what the ioctl
number's size field should say. The relocations inside a function's code
name the kernel functions it calls (a .ko is not linked), which tells
whether it copies from or to user memory.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Location:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Local:
    """A local variable of struct type in a function."""

    name: str
    struct: str
    size: int


@dataclass(frozen=True)
class Function:
    name: str
    location: Location | None
    locals: tuple[Local, ...] = ()
    calls: frozenset[str] = frozenset()  # symbols its code refers to (relocations)


@dataclass
class ModuleDwarf:
    """Declarations of one module: variables and functions with their lines, struct sizes."""

    variables: dict[str, Location] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    struct_sizes: dict[str, int] = field(default_factory=dict)
    calls: dict[str, set[str]] = field(default_factory=dict)  # function -> callees (call sites)

    def handler(self, ioctl: str) -> Function | None:
        """The function that handles ioctl macro `ioctl`, by the kernel's naming habit."""
        if "_IOC_" not in ioctl:
            return None
        suffix = ioctl.split("_IOC_", 1)[1].lower()
        named = [f for n, f in self.functions.items() if n.endswith(f"_{suffix}")]
        named.sort(key=lambda f: ("ioctl" not in f.name, len(f.name)))
        return named[0] if named else None


def read(ko: Path) -> ModuleDwarf:
    """The declarations of `ko` (a .ko or any relocatable object built with -g)."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    out = ModuleDwarf()
    try:
        with ko.open("rb") as f:
            elf = ELFFile(f)
            if not elf.has_dwarf_info():
                raise ConfigError(f"{ko}: no DWARF (build the module with debug info)")
            dwarf = elf.get_dwarf_info()
            code = _code_refs(elf)
            for cu in dwarf.iter_CUs():
                files = _file_names(dwarf, cu)
                for die in cu.iter_DIEs():
                    _visit(die, files, out, code)
            for name, fn in out.functions.items():
                more = out.calls.get(name)
                if more:
                    out.functions[name] = dataclasses.replace(fn, calls=fn.calls | more)
    except (OSError, ELFError) as e:
        raise ConfigError(f"{ko}: not a readable ELF module: {e}") from None
    return out


def _visit(die: Any, files: dict[int, str], out: ModuleDwarf, code: dict[str, set[str]]) -> None:
    if die.tag in ("DW_TAG_call_site", "DW_TAG_GNU_call_site"):
        _call_site(die, out)
        return
    name = _name(die)
    if die.tag == "DW_TAG_structure_type" and name and "DW_AT_byte_size" in die.attributes:
        out.struct_sizes.setdefault(name, int(die.attributes["DW_AT_byte_size"].value))
    elif die.tag == "DW_TAG_variable" and name and _at_file_scope(die):
        loc = _location(die, files)
        if loc is not None:
            out.variables.setdefault(name, loc)
    elif die.tag == "DW_TAG_subprogram" and name and "DW_AT_declaration" not in die.attributes:
        if name in out.functions:
            return
        out.functions[name] = Function(
            name,
            _location(die, files),
            tuple(_locals(die)),
            frozenset(code.get(name, ())),
        )


def _call_site(die: Any, out: ModuleDwarf) -> None:
    """Credit a call to every function it sits in, inlined ones included.

    `copy_from_user` is inlined into a handler that is itself often inlined
    into the ioctl dispatcher: the call to `_copy_from_user` belongs to each.
    """
    origin = None
    for attr in ("DW_AT_call_origin", "DW_AT_abstract_origin"):
        if attr in die.attributes:
            try:
                origin = die.get_DIE_from_attribute(attr)
            except Exception:  # a form pyelftools cannot follow: no callee to name
                return
            break
    callee = _origin_name(origin) if origin is not None else ""
    if not callee:
        return
    scope = die.get_parent()
    while scope is not None and scope.tag != "DW_TAG_compile_unit":
        if scope.tag in ("DW_TAG_subprogram", "DW_TAG_inlined_subroutine"):
            name = _origin_name(scope)
            if name:
                out.calls.setdefault(name, set()).add(callee)
        scope = scope.get_parent()


def _origin_name(die: Any) -> str:
    """A DIE's name, or that of the abstract DIE it is an instance of."""
    for _ in range(4):
        name = _name(die)
        if name:
            return name
        attr = (
            "DW_AT_abstract_origin"
            if "DW_AT_abstract_origin" in die.attributes
            else "DW_AT_specification"
        )
        if attr not in die.attributes:
            return ""
        die = die.get_DIE_from_attribute(attr)
    return ""


def _at_file_scope(die: Any) -> bool:
    parent = die.get_parent()
    return parent is None or parent.tag == "DW_TAG_compile_unit"


def _locals(die: Any) -> list[Local]:
    out = []
    for child in die.iter_children():
        if child.tag == "DW_TAG_lexical_block":
            out += _locals(child)
        elif child.tag == "DW_TAG_variable" and "DW_AT_type" in child.attributes:
            t = _strip(child.get_DIE_from_attribute("DW_AT_type"))
            if t.tag == "DW_TAG_structure_type" and "DW_AT_byte_size" in t.attributes:
                out.append(
                    Local(_name(child), _name(t), int(t.attributes["DW_AT_byte_size"].value))
                )
    return out


def _strip(t: Any) -> Any:
    while t.tag in ("DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_typedef"):
        if "DW_AT_type" not in t.attributes:
            break
        t = t.get_DIE_from_attribute("DW_AT_type")
    return t


def _name(die: Any) -> str:
    a = die.attributes.get("DW_AT_name")
    return a.value.decode("utf-8", "replace") if a is not None else ""


def _file_names(dwarf: Any, cu: Any) -> dict[int, str]:
    """decl_file index -> file name, as the CU's line program numbers them."""
    lp = dwarf.line_program_for_CU(cu)
    if lp is None:
        return {}
    entries = lp["file_entry"]
    dirs = lp["include_directory"]
    # DWARF 5 numbers files from 0; earlier versions from 1.
    base = 0 if lp.header["version"] >= 5 else 1
    out = {}
    for i, e in enumerate(entries):
        name = e.name.decode("utf-8", "replace")
        d = e.dir_index
        if not name.startswith("/") and 0 < d < len(dirs) + (0 if base else 1):
            sub = dirs[d if base == 0 else d - 1].decode("utf-8", "replace")
            if not sub.startswith("/"):
                name = f"{sub}/{name}"
        out[i + base] = name
    return out


def _location(die: Any, files: dict[int, str]) -> Location | None:
    f = die.attributes.get("DW_AT_decl_file")
    ln = die.attributes.get("DW_AT_decl_line")
    if f is None or ln is None or int(f.value) not in files:
        return None
    return Location(files[int(f.value)], int(ln.value))


def _code_refs(elf: Any) -> dict[str, set[str]]:
    """Function name -> symbols the relocations inside its code name (calls, mostly)."""
    from elftools.elf.relocation import RelocationSection
    from elftools.elf.sections import SymbolTableSection

    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection):
        return {}
    syms = list(symtab.iter_symbols())
    funcs: dict[int, list[tuple[int, int, str]]] = {}
    for s in syms:
        if s["st_info"]["type"] == "STT_FUNC" and isinstance(s["st_shndx"], int):
            funcs.setdefault(s["st_shndx"], []).append((s["st_value"], s["st_size"], s.name))
    out: dict[str, set[str]] = {}
    for sec in elf.iter_sections():
        if not isinstance(sec, RelocationSection) or sec["sh_info"] not in funcs:
            continue
        spans = funcs[sec["sh_info"]]
        for r in sec.iter_relocations():
            target = syms[r["r_info_sym"]].name if r["r_info_sym"] < len(syms) else ""
            if not target:
                continue
            at = r["r_offset"]
            for start, size, fname in spans:
                if start <= at < start + size:
                    out.setdefault(fname, set()).add(target)
    return out
