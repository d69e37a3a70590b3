"""One revision's attack surface, found the way the rig finds any driver's.

The header gives ioctls and structs (`import_header`), the module gives
generic netlink families, their ops and policies and rtnetlink link kinds
(`import_module`), a live probe gives the files the driver creates with
their modes and the policies the kernel enforces. `Surface` keeps the
composed spec and the facts the rules need beside it: the genl ops' flags
(a spec has no place for them), the module's DWARF declarations and the
header's #define lines, so findings name a file and a line.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rig.errors import ConfigError
from rig.review.dwarf import Location, ModuleDwarf
from rig.review.dwarf import read as read_dwarf
from rig.spec import import_guest, import_header, import_module
from rig.spec.assemble import Sources, _links, _with_abi32
from rig.spec.compose import compose
from rig.spec.types import Spec

log = logging.getLogger(__name__)

GENL_ADMIN_PERM = 0x01
GENL_UNS_ADMIN_PERM = 0x10


@dataclass(frozen=True)
class GenlOp:
    """One generic netlink operation as the module declares it."""

    family: str
    cmd: int
    do: bool
    dump: bool
    flags: int
    policy: str | None  # the op's own policy, else the family's; None: none at all
    ops_var: str  # the array it is an element of (its DWARF line locates the op)


@dataclass
class Surface:
    spec: Spec
    dwarf: ModuleDwarf | None = None
    genl_ops: tuple[GenlOp, ...] = ()
    header: str | None = None  # as findings name it: relative to the driver directory
    defines: dict[str, int] = field(default_factory=dict)  # macro -> header line
    magic: int | None = None  # the ioctl type byte the header declares (or most use)

    def define_at(self, macro: str) -> Location | None:
        line = self.defines.get(macro)
        return Location(self.header, line) if self.header and line else None


def discover(
    name: str,
    driver: Path,
    ko: Path | None,
    header: str | None = None,
    listing: str | None = None,
    policies: dict[str, bytes] | None = None,
    devices: tuple[str, ...] = (),
    say: Callable[[str], None] = log.info,
) -> Surface:
    """The surface of the driver directory `driver`, its built module `ko` and a probe's output."""
    parts: list[Spec] = []
    sources: list[str] = []
    surface = Surface(Spec(name))
    if ko is not None:
        fams = tuple(import_module.genl_families(ko))
        if fams:
            parts.append(Spec(name, families=fams))
        surface.genl_ops = tuple(genl_ops(ko))
        surface.dwarf = read_dwarf(ko)
        sources.append(ko.name)
    devs: tuple[str, ...] = devices
    if listing is not None:
        entries = import_guest.parse_listing(listing, "probe listing")
        found, files = import_guest.files_from_listing(entries, import_guest.DEFAULT_EXCLUDES)
        parts.append(Spec(name, found, files=files))
        devs = devs + tuple(d.path for d in found if d.path not in devs)
        sources.append("probe")
    if header is not None:
        path = driver / header
        if not path.is_file():
            raise ConfigError(f"--header {header}: no such file in {driver}")
        includes = tuple(p for p in (driver / "include",) if p.is_dir())
        part = import_header.header_spec(path, name, devs, includes)
        part, _ = import_header.with_gcc_layout(part, path, includes)
        part = _with_abi32(part, path, Sources(name, devices=devs, includes=includes), say)
        if part.ioctls and not devs:
            raise ConfigError(
                f"{header} declares ioctls but no device node is known: give --device "
                "(or let the probe list the driver's device nodes)"
            )
        parts.append(part)
        sources.append(header)
        surface.header = header
        text = path.read_text(errors="replace")
        defines = import_header.read_defines(text)
        surface.defines = {d.name: d.line for d in defines.values()}
        surface.magic = _magic(defines, part)
    for family, dump in (policies or {}).items():
        try:
            parts.append(Spec(name, families=(import_guest.family_from_replies(dump),)))
        except ConfigError as e:  # the probe's dump is a bonus; the module has the policy too
            say(f"policy of {family} from the probe not used: {e}")
    if ko is not None:
        links = _links(ko)
        if links:
            parts.append(Spec(name, links=links))
    surface.spec = compose(name, parts, sources)
    return surface


def _magic(defines: dict[str, import_header.Define], part: Spec) -> int | None:
    """The ioctl type byte the header names (`*_IOC_MAGIC`), else the one most ioctls use."""
    for d in defines.values():
        if re.search(r"(IOC_)?MAGIC$", d.name):
            try:
                value = int(d.body.strip("() "), 0)
            except ValueError:
                m = re.fullmatch(r"'(.)'", d.body.strip("() "))
                value = ord(m.group(1)) if m else -1
            if 0 <= value <= 0xFF:
                return value
    common = Counter(i.type for i in part.ioctls).most_common(1)
    return common[0][0] if common else None


def genl_ops(ko: Path) -> list[GenlOp]:
    """Every op of the module's genl families with its flags and whether any policy covers it."""
    out: list[GenlOp] = []
    with import_module.ModuleObject(ko) as obj:
        found = obj.variables("genl_family")
        if not found:
            return []
        fam_lay = obj.layout("genl_family").offsets
        for var, _ in found:
            sym = obj.symbols.get(var)
            if sym is None:
                continue
            at, sh = sym.value, sym.shndx
            family = obj.string(sh, at + fam_lay["name"], 16)
            top = obj.pointer(sh, at + fam_lay["policy"]) is not None
            for kind in ("ops", "small_ops"):
                n = obj.read(sh, at + fam_lay[f"n_{kind}"], 1)[0]
                target = obj.pointer(sh, at + fam_lay[kind])
                if target is None or not n:
                    continue
                ops_var = obj.symbol_at(*target) or var
                lay = obj.layout(f"genl_{kind}")
                o = lay.offsets
                for i in range(n):
                    op_sh, op_at = target[0], target[1] + i * lay.size
                    own = None
                    if "policy" in o:
                        ptr = obj.pointer(op_sh, op_at + o["policy"])
                        own = obj.symbol_at(*ptr) if ptr is not None else None
                    fam_policy = obj.pointer(sh, at + fam_lay["policy"])
                    policy = own or (obj.symbol_at(*fam_policy) if top and fam_policy else None)
                    out.append(
                        GenlOp(
                            family,
                            obj.read(op_sh, op_at + o["cmd"], 1)[0],
                            obj.pointer(op_sh, op_at + o["doit"]) is not None,
                            obj.pointer(op_sh, op_at + o["dumpit"]) is not None,
                            obj.read(op_sh, op_at + o["flags"], 1)[0] if "flags" in o else 0,
                            policy,
                            ops_var,
                        )
                    )
    return out
