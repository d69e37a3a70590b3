"""Import a generic netlink family from a YNL spec (the format of the kernel's Documentation/netlink/specs).

Understood: `definitions` (const, enum, flags), `attribute-sets` (attribute
values counted from 1 unless `value` says otherwise, `subset-of`, `checks`
with min/max/min-len/max-len/exact-len given as numbers, constant names or
`u32-max`-style limits, `enum` and `enum-as-flags`, `nested-attributes`,
`indexed-array` with a nested `sub-type`), `operations` (ids counted from 1 in
the unified model, `do`/`dump` request attributes, notification-only
operations kept as neither do nor dump) and `mcast-groups`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rig.errors import ConfigError
from rig.spec.types import NL_TYPES, NlAttr, NlAttrSet, NlCommand, NlFamily

_LIMITS = {
    f"{s}{b}-{m}": (
        (-(1 << (b - 1)) if m == "min" else (1 << (b - 1)) - 1)
        if s == "s"
        else (0 if m == "min" else (1 << b) - 1)
    )
    for s in ("u", "s")
    for b in (8, 16, 32, 64)
    for m in ("min", "max")
}


class YnlError(ConfigError):
    """A YNL spec this importer cannot read; names the file and what is wrong."""


class _Ctx:
    def __init__(self, doc: dict[str, Any], source: str) -> None:
        self.doc, self.source = doc, source
        self.consts: dict[str, int] = {}
        self.enums: dict[str, tuple[int, ...]] = {}
        self.flag_sets: set[str] = set()
        for d in doc.get("definitions") or []:
            self._definition(d)

    def fail(self, msg: str) -> YnlError:
        return YnlError(f"{self.source}: {msg}")

    def _definition(self, d: dict[str, Any]) -> None:
        kind, name = d.get("type"), str(d.get("name"))
        if kind == "const":
            self.consts[name] = self.number(d.get("value"), f"definition {name}")
        elif kind in ("enum", "flags"):
            start = int(d.get("value-start", 0))
            values: list[int] = []
            for i, e in enumerate(d.get("entries") or []):
                v = e.get("value", start + i) if isinstance(e, dict) else start + i
                values.append(1 << v if kind == "flags" else v)
            self.enums[name] = tuple(values)
            if kind == "flags":
                self.flag_sets.add(name)

    def number(self, v: Any, what: str) -> int:
        if isinstance(v, bool):
            raise self.fail(f"{what}: {v!r} is not a number")
        if isinstance(v, int):
            return v
        if isinstance(v, str):
            s = v.strip()
            minus_one = s.endswith("- 1")
            s = s.removesuffix("- 1").strip()
            if s in _LIMITS:
                base = _LIMITS[s]
            elif s in self.consts:
                base = self.consts[s]
            else:
                try:
                    base = int(s, 0)
                except ValueError:
                    raise self.fail(f"{what}: unknown constant {v!r}") from None
            return base - 1 if minus_one else base
        raise self.fail(f"{what}: {v!r} is not a number")


def _attr(ctx: _Ctx, a: dict[str, Any], value: int, set_name: str) -> NlAttr:
    name = a.get("name")
    t = a.get("type", "binary")
    what = f"attribute-set {set_name}: attribute {name}"
    if t not in NL_TYPES:
        raise ctx.fail(f"{what}: type {t!r} is not supported")
    checks = a.get("checks") or {}

    def check(key: str) -> int | None:
        return None if key not in checks else ctx.number(checks[key], f"{what}: {key}")

    values: tuple[int, ...] = ()
    if a.get("enum") is not None:
        values = ctx.enums.get(a["enum"], ())
        if a.get("enum-as-flags") and a["enum"] not in ctx.flag_sets:
            values = tuple(1 << v for v in values if 0 <= v < 64)
    nested = a.get("nested-attributes")
    return NlAttr(
        str(name),
        value,
        t,
        check("min"),
        check("max"),
        check("min-len"),
        check("max-len"),
        check("exact-len"),
        None if nested is None else str(nested),
        values,
    )


def _attr_sets(ctx: _Ctx) -> tuple[NlAttrSet, ...]:
    raw = ctx.doc.get("attribute-sets") or []
    by_name = {s.get("name"): s for s in raw}
    out = []
    for s in raw:
        sname = str(s.get("name"))
        parent = by_name.get(s.get("subset-of")) if s.get("subset-of") else None
        parent_attrs = {a.get("name"): a for a in _values(ctx, parent)}
        attrs = []
        for value, a in _numbered(ctx, s):
            base = parent_attrs.get(a.get("name"))
            if base is not None:
                a = {**base, **{k: v for k, v in a.items() if k != "value"}}
                value = int(base["value"])
            attrs.append(_attr(ctx, a, value, sname))
        out.append(NlAttrSet(sname, tuple(attrs)))
    return tuple(out)


def _values(ctx: _Ctx, s: dict[str, Any] | None) -> list[dict[str, Any]]:
    if s is None:
        return []
    return [dict(a, value=v) for v, a in _numbered(ctx, s)]


def _numbered(ctx: _Ctx, s: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    out = []
    nxt = 1
    for a in s.get("attributes") or []:
        if "value" in a:
            nxt = ctx.number(a["value"], f"attribute {a.get('name')}: value")
        out.append((nxt, a))
        nxt += 1
    return out


def _commands(ctx: _Ctx, default_set: str | None) -> tuple[NlCommand, ...]:
    ops = ctx.doc.get("operations") or {}
    out = []
    nxt = 1
    for op in ops.get("list") or []:
        if "value" in op:
            nxt = ctx.number(op["value"], f"operation {op.get('name')}: value")
        attrs: list[str] = []
        for mode in ("do", "dump"):
            req = (op.get(mode) or {}).get("request") or {}
            attrs += [str(a) for a in req.get("attributes") or [] if str(a) not in attrs]
        aset = op.get("attribute-set") or default_set
        if aset is None:
            raise ctx.fail(f"operation {op.get('name')} has no attribute-set")
        out.append(
            NlCommand(str(op.get("name")), nxt, str(aset), "do" in op, "dump" in op, tuple(attrs))
        )
        nxt += 1
    return tuple(out)


def ynl_family(path: Path, version: int = 1) -> NlFamily:
    """The family a YNL spec file describes."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise YnlError(f"{path}: cannot read YNL spec: {e}") from None
    return ynl_family_from(doc, str(path), version)


def ynl_family_from(doc: Any, source: str, version: int = 1) -> NlFamily:
    if not isinstance(doc, dict) or "name" not in doc:
        raise YnlError(f"{source}: not a YNL spec (no top-level 'name')")
    proto = doc.get("protocol", "genetlink")
    if not str(proto).startswith("genetlink"):
        raise YnlError(f"{source}: protocol {proto!r}; only generic netlink families are imported")
    ctx = _Ctx(doc, source)
    sets = _attr_sets(ctx)
    default = sets[0].name if sets else None
    cmds = _commands(ctx, default)
    names = {s.name for s in sets}
    for s in sets:
        for a in s.attrs:
            if a.nested is not None and a.nested not in names:
                raise ctx.fail(f"attribute {s.name}.{a.name}: no attribute set {a.nested!r}")
    for c in cmds:
        aset = next(s for s in sets if s.name == c.attr_set) if c.attr_set in names else None
        if aset is None:
            raise ctx.fail(f"operation {c.name}: no attribute set {c.attr_set!r}")
        for an in c.attrs:
            if aset.by_name(an) is None:
                raise ctx.fail(f"operation {c.name}: attribute {an!r} is not in {aset.name!r}")
    groups = tuple(str(g.get("name")) for g in ((doc.get("mcast-groups") or {}).get("list") or []))
    return NlFamily(str(doc["name"]), version, sets, cmds, groups)
