"""Combine partial specs from several importers (header, YNL, guest listing, overlay) into one."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from rig.spec.import_guest import name_family
from rig.spec.types import Device, File, Ioctl, LinkKind, NlFamily, Spec, Struct


def _family_words(f: NlFamily) -> list[str]:
    names = [f.name, *(c.name for c in f.commands)]
    names += [a.name for s in f.attr_sets for a in s.attrs]
    return [w for n in names for w in re.split(r"[-_]", n.lower()) if len(w) > 1 and w.isalpha()]


def merge_families(ynl: NlFamily | None, kernel: NlFamily | None) -> NlFamily | None:
    """The kernel's policy (what it enforces) named after the YNL spec (what its authors call it)."""
    if kernel is None:
        return ynl
    if ynl is None:
        return kernel
    return name_family(kernel, ynl)


def compose(name: str, parts: Iterable[Spec], sources: Iterable[str] = ()) -> Spec:
    """One spec from partial ones: later parts win for the same path or name.

    A device without ioctls gets every ioctl of the parts (a header describes
    the ioctls of the device node a listing found).
    """
    devices: dict[str, Device] = {}
    files: dict[str, File] = {}
    families: dict[str, NlFamily] = {}
    ioctls: dict[str, Ioctl] = {}
    structs: dict[str, Struct] = {}
    words: dict[str, None] = {}
    links: dict[str, LinkKind] = {}
    for p in parts:
        for d in p.devices:
            old = devices.get(d.path)
            devices[d.path] = d if old is None or d.ioctls else replace(d, ioctls=old.ioctls)
        files.update((f.path, f) for f in p.files)
        families.update((f.name, f) for f in p.families)
        ioctls.update((i.name, i) for i in p.ioctls)
        structs.update((s.name, s) for s in p.structs)
        words.update(dict.fromkeys(p.words))
        links.update((k.kind, k) for k in p.links)
    for f in families.values():
        words.update(dict.fromkeys(_family_words(f)))
    every = tuple(ioctls)
    devs = tuple(d if d.ioctls else replace(d, ioctls=every) for d in devices.values())
    return Spec(
        name,
        devs,
        tuple(ioctls.values()),
        tuple(structs.values()),
        tuple(families.values()),
        tuple(files.values()),
        tuple(words),
        tuple(sources),
        tuple(links.values()),
    )
