"""Per-function coverage of the module under test: which of its trace-pc sites a campaign reached.

rigcov records return addresses of `__sanitizer_cov_trace_pc` calls as offsets
from the module's core text base (vmimages/rigcov/rigcov.h), and workers keep
them as the low 32 bits of each edge in `workers/<slot>/edges.bin`. To name
the function of an offset, the core text is laid out as Linux 6.1's module
loader lays it out (kernel/module/main.c, layout_sections): every allocated,
executable section that is not init code, in section header order, each
aligned to its sh_addralign. Debian's kernels have CONFIG_MODULE_UNLOAD, so
.exit.text is core text too.

The module is read from the image the campaign booted (its initramfs holds
lib/modules/NAME.ko), so the layout is that of the very module that ran; an
image that is gone falls back to the newest build under the home's cache.

A site compiled as a tail call (`jmp __sanitizer_cov_trace_pc`, the last
block of a function) records its caller's return address instead of its
own: such PCs land inside the caller, at no site of it, and are counted as
"other PCs" of the caller.
"""

from __future__ import annotations

import bisect
import io
import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

from rig.campaign.directory import read_json
from rig.errors import ConfigError
from rig.image.module import find_built

log = logging.getLogger(__name__)

TRACE_PC: Final = "__sanitizer_cov_trace_pc"
MAX_MODULE_BYTES: Final = 256 * 1024 * 1024  # a .ko with full DWARF stays far below
_CALL, _JMP = 0xE8, 0xE9  # x86 rel32 call and jmp: the opcode before a site's relocation
_SHF_ALLOC, _SHF_EXECINSTR = 0x2, 0x4


@dataclass(frozen=True)
class Function:
    name: str
    section: str
    offset: int  # in the module's core text
    size: int
    sites: int  # trace-pc sites in it (calls and tail calls)
    reached: int  # of its call sites, those whose return address rigcov recorded
    other_pcs: int = 0  # recorded PCs inside it at none of its sites (callees' tail calls)

    @property
    def percent(self) -> float | None:
        calls = self.sites
        return 100.0 * self.reached / calls if calls else None


@dataclass(frozen=True)
class ModuleCoverage:
    module: str
    source: str  # where the .ko came from, for the reader
    functions: tuple[Function, ...]
    pcs: int  # distinct PCs recorded
    sites: int  # trace-pc sites in the module's .text sections
    reached: int  # sites reached
    unmapped: int  # PCs in no function of the table (exit code, or a layout mismatch)


@dataclass
class _Site:
    ret: int  # the return address a call at this site records
    tail: bool


def layout(sections: Iterable[tuple[str, int, int, int]]) -> dict[int, int]:
    """Section index -> offset in the core text, for (name, flags, size, align) in header order.

    What Linux 6.1's layout_sections does for its first mask (executable and
    allocated; init sections go elsewhere). x86-64 prepends nothing.
    """
    want = _SHF_ALLOC | _SHF_EXECINSTR
    out: dict[int, int] = {}
    size = 0
    for index, (name, flags, sh_size, align) in enumerate(sections):
        if flags & want != want or name.startswith(".init"):
            continue
        align = align or 1
        start = (size + align - 1) // align * align
        out[index] = start
        size = start + sh_size
    return out


def analyse(elf_file: BinaryIO, pcs: set[int], module: str, source: str) -> ModuleCoverage:
    """Functions of a module's .text sections, their trace-pc sites and the PCs reached in them."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.relocation import RelocationSection
    from elftools.elf.sections import SymbolTableSection

    try:
        elf = ELFFile(elf_file)
        sections = list(elf.iter_sections())
        base = layout(
            (s.name, int(s["sh_flags"]), int(s["sh_size"]), int(s["sh_addralign"]))
            for s in sections
        )
        symtab = elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            raise ConfigError(f"{source}: no symbol table")
        text = {i for i in base if _is_text(sections[i].name)}
        funcs: list[tuple[int, int, str, str]] = []  # offset, size, name, section
        seen: set[int] = set()
        for sym in symtab.iter_symbols():
            shndx = sym["st_shndx"]
            if sym["st_info"]["type"] != "STT_FUNC" or not isinstance(shndx, int):
                continue
            if shndx not in text:
                continue
            off = base[shndx] + int(sym["st_value"])
            if off in seen:  # an alias of a function already listed
                continue
            seen.add(off)
            funcs.append((off, int(sym["st_size"]), sym.name, sections[shndx].name))
        funcs.sort()
        sites: list[_Site] = []
        for sec in sections:
            if not isinstance(sec, RelocationSection):
                continue
            target = int(sec["sh_info"])
            if target not in text:
                continue
            data = sections[target].data()
            for rel in sec.iter_relocations():
                if symtab.get_symbol(rel["r_info_sym"]).name != TRACE_PC:
                    continue
                at = int(rel["r_offset"])
                tail = at > 0 and data[at - 1] == _JMP
                sites.append(_Site(base[target] + at + 4, tail))
    # pyelftools reports a damaged file by more than ELFError (a short read is a
    # struct.error, a bad index an IndexError): a page must still be made.
    except (ELFError, ValueError, LookupError, struct.error) as e:
        raise ConfigError(f"{source}: not a readable module ({e})") from e
    return _tally(module, source, funcs, sites, pcs)


def _is_text(name: str) -> bool:
    return name == ".text" or name.startswith(".text.")


def _tally(
    module: str,
    source: str,
    funcs: list[tuple[int, int, str, str]],
    sites: list[_Site],
    pcs: set[int],
) -> ModuleCoverage:
    starts = [f[0] for f in funcs]

    def owner(addr: int) -> int | None:
        i = bisect.bisect_right(starts, addr) - 1
        if i >= 0 and addr < funcs[i][0] + max(funcs[i][1], 1):
            return i
        return None

    n_sites = [0] * len(funcs)
    reached = [0] * len(funcs)
    other = [0] * len(funcs)
    call_rets: set[int] = set()
    for s in sites:
        i = owner(s.ret - 5)  # the site's own instruction, not what follows it
        if i is not None:
            n_sites[i] += 1
        if not s.tail:
            call_rets.add(s.ret)
    unmapped = 0
    for pc in pcs:
        i = owner(pc - 1)  # a return address may be the first byte after its function
        if i is None:
            unmapped += 1
        elif pc in call_rets:
            reached[i] += 1
        else:
            other[i] += 1
    functions = tuple(
        Function(name, section, off, size, n_sites[i], reached[i], other[i])
        for i, (off, size, name, section) in enumerate(funcs)
    )
    return ModuleCoverage(
        module,
        source,
        functions,
        len(pcs),
        sum(n_sites),
        sum(reached),
        unmapped,
    )


def cpio_member(archive: Path, name: str, cap: int = MAX_MODULE_BYTES) -> bytes | None:
    """One file of a newc cpio archive (an image's initramfs), or None if it has none."""
    try:
        with archive.open("rb") as f:
            while True:
                head = f.read(110)
                if len(head) < 110 or head[:6] not in (b"070701", b"070702"):
                    return None
                fields = [int(head[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
                filesize, namesize = fields[6], fields[11]
                entry = f.read(namesize)[:-1].decode("utf-8", "replace")
                f.seek((4 - (110 + namesize) % 4) % 4, io.SEEK_CUR)
                if entry == "TRAILER!!!":
                    return None
                if entry.lstrip("./") == name and filesize <= cap:
                    data = f.read(filesize)
                    return data if len(data) == filesize else None
                f.seek(filesize + (4 - filesize % 4) % 4, io.SEEK_CUR)
    except (OSError, ValueError):
        return None


def module_file(home_root: Path, image_id: str, module: str) -> tuple[bytes, str] | None:
    """The .ko of `module` that image `image_id` booted, and where it came from."""
    if image_id and _is_name(image_id):
        initramfs = home_root / "images" / image_id / "initramfs.cpio"
        data = cpio_member(initramfs, f"lib/modules/{module}.ko")
        if data is not None:
            return data, f"image {image_id}"
    try:
        ko = find_built(home_root / "cache" / "build", module)
    except ConfigError:
        return None
    try:
        with ko.open("rb") as f:
            data = f.read(MAX_MODULE_BYTES)
    except OSError:
        return None
    return data, f"{ko} (image {image_id or '?'} is gone: the newest build, which may differ)"


def module_coverage(
    home_root: Path, pcs: set[int], image_id: str, module: str
) -> ModuleCoverage | str:
    """Coverage of `module` (as image `image_id` holds it) by `pcs`, or why there is none."""
    found = module_file(home_root, image_id, module)
    if found is None:
        return f"no module {module}.ko: neither image {image_id or '?'} nor a build of it is here"
    data, source = found
    try:
        return analyse(io.BytesIO(data), pcs, module, source)
    except ConfigError as e:
        return str(e)


def image_manifest(home_root: Path, image_id: str) -> dict[str, Any]:
    """An image's manifest.json ({} if the image or its manifest is gone)."""
    if not image_id or not _is_name(image_id):
        return {}
    return read_json(home_root / "images" / image_id / "manifest.json") or {}


def _is_name(text: str) -> bool:
    return text.replace("-", "").replace("_", "").isalnum() and not text.startswith("-")
