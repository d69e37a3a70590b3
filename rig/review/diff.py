"""Entry points of a surface, and what changed between two surfaces.

An entry point is what a program can reach on its own: an ioctl, a generic
netlink command, one attribute of a policy, a file, a link kind. Each has a
signature: the text of everything about it a caller depends on (code,
direction, size and the argument's layout for an ioctl; do/dump, flags and
policy for a command; type and bounds for an attribute; mode for a file).
Two revisions' entry points with the same key and different signatures
are "changed".
"""

from __future__ import annotations

from dataclasses import dataclass

from rig.review.surface import Surface
from rig.spec.types import (
    Array,
    Bytes,
    Int,
    Ioctl,
    Len,
    NlAttr,
    Ptr,
    Spec,
    String,
    StructRef,
    Type,
)

KINDS = ("ioctl", "genl", "attr", "file", "link")


@dataclass(frozen=True)
class EntryPoint:
    kind: str  # one of KINDS
    name: str  # ioctl macro, FAMILY/cmdN, FAMILY/SET/attrN, a path, a link kind
    signature: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    status: str  # added, removed, changed
    before: str  # the base's signature ("" when added)
    after: str  # the head's ("" when removed)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


def type_text(t: Type | None, spec: Spec, depth: int = 0) -> str:
    """A type as one line, structs expanded with their fields' offsets (two levels deep)."""
    if t is None:
        return "none"
    if isinstance(t, Int):
        return f"{'s' if t.signed else 'u'}{8 * t.size}"
    if isinstance(t, Len):
        return f"len({t.of})"
    if isinstance(t, Ptr):
        return f"ptr({type_text(t.target, spec, depth)})"
    if isinstance(t, Bytes):
        return f"bytes[{t.min}..{t.max}]"
    if isinstance(t, Array):
        return f"{type_text(t.elem, spec, depth)}[{t.count if t.count is not None else ''}]"
    if isinstance(t, String):
        return f"char[{t.size}]" if t.size else "string"
    assert isinstance(t, StructRef)
    s = spec.struct(t.name)
    if s is None or depth >= 2:
        return f"struct {t.name}"
    fields = ", ".join(
        f"{f.offset}:{f.name} {type_text(f.type, spec, depth + 1)}" for f in s.fields
    )
    return f"struct {t.name} ({s.size} bytes: {fields})"


def ioctl_text(io: Ioctl, spec: Spec) -> str:
    return (
        f"{io.code:#010x} type {io.type:#04x} nr {io.nr:#04x} {io.dir.value} size {io.size} "
        f"arg {type_text(io.arg, spec)}"
    )


def attr_text(a: NlAttr) -> str:
    bits = [a.type]
    for label, v in (
        ("min", a.min),
        ("max", a.max),
        ("min_len", a.min_len),
        ("max_len", a.max_len),
        ("exact_len", a.exact_len),
        ("nested", a.nested),
    ):
        if v is not None:
            bits.append(f"{label} {v}")
    return " ".join(bits)


def entry_points(s: Surface) -> list[EntryPoint]:
    spec = s.spec
    out = [EntryPoint("ioctl", io.name, ioctl_text(io, spec)) for io in spec.ioctls]
    ops = {(op.family, op.cmd): op for op in s.genl_ops}
    for fam in spec.families:
        for c in fam.commands:
            op = ops.get((fam.name, c.id))
            how = "+".join(w for w, on in (("do", c.do), ("dump", c.dump)) if on) or "none"
            sig = f"cmd {c.id} {how} policy {c.attr_set}"
            if op is not None:
                sig += f" flags {op.flags:#04x}" + ("" if op.policy else " (no policy)")
            out.append(EntryPoint("genl", f"{fam.name}/cmd{c.id}", sig))
        for aset in fam.attr_sets:
            for a in aset.attrs:
                out.append(EntryPoint("attr", f"{fam.name}/{aset.name}/{a.name}", attr_text(a)))
    for f in spec.files:
        out.append(EntryPoint("file", f.path, f"{f.kind.value} mode {f.mode:04o}"))
    for k in spec.links:
        attrs = sum(len(x.attrs) for x in k.attr_sets)
        out.append(EntryPoint("link", k.kind, f"data {k.data} slave {k.slave_data} {attrs} attrs"))
    return out


def diff(base: Surface, head: Surface) -> list[Change]:
    """Added, removed and changed entry points, in the head's order (removed ones last)."""
    before = {e.key: e for e in entry_points(base)}
    after = {e.key: e for e in entry_points(head)}
    out = []
    for key, e in after.items():
        old = before.get(key)
        if old is None:
            out.append(Change(e.kind, e.name, "added", "", e.signature))
        elif old.signature != e.signature:
            out.append(Change(e.kind, e.name, "changed", old.signature, e.signature))
    for key, e in before.items():
        if key not in after:
            out.append(Change(e.kind, e.name, "removed", e.signature, ""))
    return out
