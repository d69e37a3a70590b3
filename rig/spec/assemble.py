"""A spec from everything that describes a driver: UAPI headers, YNL specs, a probe, the module.

`rig spec import` and `rig bench realbugs` both write specs this way: each
source gives a part (`Spec`), checked where a second source can check it
(gcc for a header's layout, the module's DWARF for its structs), and
`compose` merges the parts in a fixed order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rig.errors import ConfigError, InfraError
from rig.image.module import link_aliases
from rig.spec import import_guest, import_header, import_module, import_ynl
from rig.spec.compose import compose, merge_families
from rig.spec.load import load
from rig.spec.types import LinkKind, NlFamily, Spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sources:
    """What a spec is imported from; every part is optional."""

    name: str
    headers: tuple[Path, ...] = ()
    includes: tuple[Path, ...] = ()
    devices: tuple[str, ...] = ()
    ynls: tuple[Path, ...] = ()
    listing: Path | None = None
    excludes: tuple[str, ...] = ()
    policies: tuple[Path, ...] = ()
    module: Path | None = None  # the built .ko
    overlay: Path | None = None


def assemble(src: Sources, say: Callable[[str], None] = log.info) -> Spec:
    """The composed spec; `say` hears one line per source about what it gave."""
    name, module = src.name, src.module
    parts: list[Spec] = []
    sources: list[str] = []
    if module is not None:  # first: a YNL spec or a live policy dump names what it says
        fams = tuple(import_module.genl_families(module))
        if fams:
            parts.append(Spec(name, families=fams))
            sources.append(module.name)  # a build cache's path means nothing elsewhere
            said = [f"{f.name} ({len(f.commands)} commands)" for f in fams]
            say(f"{module}: generic netlink families {', '.join(said)}")
    for h in src.headers:
        part = import_header.header_spec(h, name, src.devices, src.includes)
        part, moved = import_header.with_gcc_layout(part, h, src.includes)
        how = f"gcc's layout taken for {len(moved)} numbers (attributes)" if moved else "gcc agrees"
        say(f"{h}: {len(part.ioctls)} ioctls, {len(part.structs)} structs ({how})")
        for m in moved[:10]:
            say(f"  {m}")
        part = _with_abi32(part, h, src, say)
        if module is not None:
            bad, missing = import_header.check_with_dwarf(part, module)
            if bad:
                raise ConfigError(f"{module}: DWARF disagrees: " + "; ".join(map(str, bad)))
            seen = len(part.structs) - len(missing)
            say(f"{module}: DWARF agrees on {seen} structs ({len(missing)} not in it)")
        parts.append(part)
        sources.append(rel(h))
    if src.listing is not None:
        text = src.listing.read_text(errors="replace")
        entries = import_guest.parse_listing(text, str(src.listing))
        excl = import_guest.DEFAULT_EXCLUDES + src.excludes
        devs, files = import_guest.files_from_listing(entries, excl)
        parts.append(Spec(name, devs, files=files))
        sources.append(rel(src.listing))
        say(f"{src.listing}: {len(devs)} devices, {len(files)} files")
    families = _families(src.ynls, src.policies)
    if families:
        parts.append(Spec(name, families=tuple(families)))
        sources += [rel(p) for p in (*src.ynls, *src.policies)]
    if module is not None:
        links = _links(module)
        if links:
            parts.append(Spec(name, links=links))
            sources += [] if module.name in sources else [module.name]
            said = [f"{k.kind} ({sum(len(s.attrs) for s in k.attr_sets)} attrs)" for k in links]
            say(f"{module}: rtnetlink link kinds {', '.join(said)}")
    if src.overlay is not None:
        parts.append(load(src.overlay))
        sources.append(rel(src.overlay))
    spec = compose(name, parts, sources)
    if not spec.devices and spec.ioctls:
        raise ConfigError("the header has ioctls but no device: give --device or --listing")
    return spec


def rel(p: Path) -> str:
    """`p` relative to the working directory when under it: specs name their sources portably."""
    try:
        return str(p.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def _with_abi32(part: Spec, header: Path, src: Sources, say: Callable[[str], None]) -> Spec:
    """`part` with the layouts 32-bit callers see, where they differ (compat_ioctl paths)."""
    try:
        part32 = import_header.header_spec(header, src.name, src.devices, src.includes, abi=32)
        part32, _ = import_header.with_gcc_layout(part32, header, src.includes, abi=32)
    except (import_header.HeaderError, InfraError) as e:
        say(f"{header}: no 32-bit layouts (gcc -m32: {e}); 32-bit programs use 64-bit ones")
        return part
    part = import_header.with_abi32(part, part32)
    n = sum(1 for s in part.structs if s.abi32) + sum(1 for i in part.ioctls if i.abi32)
    say(f"{header}: {n} structs and ioctls differ for 32-bit callers")
    return part


def _links(ko: Path) -> tuple[LinkKind, ...]:
    """Link kinds with their policies (rtnl_link_ops), and kinds only an alias names."""
    found = {k.kind: k for k in import_module.link_kinds(ko)}
    for kind in link_aliases(ko):
        found.setdefault(kind, LinkKind(kind))
    return tuple(found.values())


def _families(ynls: tuple[Path, ...], policies: tuple[Path, ...]) -> list[NlFamily]:
    from_ynl = {f.name: f for f in (import_ynl.ynl_family(p) for p in ynls)}
    out: dict[str, NlFamily] = dict(from_ynl)
    for p in policies:
        kernel = import_guest.family_from_replies(p.read_bytes())
        merged = merge_families(from_ynl.get(kernel.name), kernel)
        if merged is not None:
            out[kernel.name] = merged
    return list(out.values())
