"""The spec of just the new and changed entry points, and what a campaign did to each.

A focused campaign fuzzes only what the patch touched: the head's spec cut
down to the added and changed ioctls (with the device that opens them), the
generic netlink commands (a changed attribute brings every command of its
family that takes that attribute set), the files and the link kinds. Structs
stay: an argument may refer to any of them.

What a campaign did per entry point is counted from its programs logs (each
call's text names an ioctl code, a path, or a netlink message whose genl
command is byte 16) and from its buckets' programs. Edges are counted per
door by the workers, so an entry point shows its door's edges.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rig.review.diff import Change
from rig.spec.types import FileKind, NlFamily, Spec


def focus(head: Spec, changes: Iterable[Change]) -> Spec:
    """`head` with only the added and changed entry points (and what they need)."""
    wanted = [c for c in changes if c.status in ("added", "changed")]
    ioctls = {c.name for c in wanted if c.kind == "ioctl"}
    cmds = {c.name for c in wanted if c.kind == "genl"}
    attr_sets = {tuple(c.name.split("/")[:2]) for c in wanted if c.kind == "attr"}
    files = {c.name for c in wanted if c.kind == "file"}
    links = {c.name for c in wanted if c.kind == "link"}
    devices = tuple(
        dataclasses.replace(d, ioctls=tuple(n for n in d.ioctls if n in ioctls))
        for d in head.devices
        if any(n in ioctls for n in d.ioctls)
    )
    families: list[NlFamily] = []
    for fam in head.families:
        keep = tuple(
            c
            for c in fam.commands
            if f"{fam.name}/cmd{c.id}" in cmds or (fam.name, c.attr_set) in attr_sets
        )
        if keep:
            families.append(dataclasses.replace(fam, commands=keep))
    return dataclasses.replace(
        head,
        devices=devices,
        ioctls=tuple(i for i in head.ioctls if i.name in ioctls),
        families=tuple(families),
        files=tuple(f for f in head.files if f.path in files),
        links=tuple(k for k in head.links if k.kind in links),
    )


def doors(spec: Spec) -> tuple[str, ...]:
    """The campaign doors a spec has something behind."""
    out = []
    if spec.ioctls:
        out.append("ioctl")
    if spec.families or spec.links:
        out.append("netlink")
    kinds = {f.kind for f in spec.files}
    for kind in (FileKind.SYSFS, FileKind.PROCFS, FileKind.DEBUGFS):
        if kind in kinds:
            out.append(kind.value)
    return tuple(out)


def door_of(kind: str, name: str) -> str:
    if kind == "ioctl":
        return "ioctl"
    if kind == "file":
        k = FileKind.of(name)
        return k.value if k != FileKind.OTHER else "sysfs"
    return "netlink"


@dataclass
class EntryStats:
    key: str
    door: str
    calls: int = 0
    edges: int = 0  # the door's: workers count edges per door
    crashes: list[str] = field(default_factory=list)  # bucket ids whose programs call it


_NL = re.compile(r'nl_send\(\w+, "([^"]+)", x"([0-9a-fA-F]+)"')


def _hits(
    text: str, patterns: dict[str, re.Pattern[str]], genl: dict[str, tuple[str, int]]
) -> dict[str, int]:
    out = {k: len(p.findall(text)) for k, p in patterns.items()}
    for fam, hexmsg in _NL.findall(text):
        msg = bytes.fromhex(hexmsg[: 2 * 17]) if len(hexmsg) >= 34 else b""
        if len(msg) < 17:
            continue
        for key, (f, cmd) in genl.items():
            if f == fam and msg[16] == cmd:
                out[key] = out.get(key, 0) + 1
    return out


def matchers(
    spec: Spec, changes: Iterable[Change]
) -> tuple[dict[str, re.Pattern[str]], dict[str, tuple[str, int]]]:
    """Per focused entry point: a regex of its calls' text, or (family, cmd) of its messages."""
    patterns: dict[str, re.Pattern[str]] = {}
    genl: dict[str, tuple[str, int]] = {}
    for c in changes:
        if c.status == "removed":
            continue
        if c.kind == "ioctl":
            io = spec.ioctl(c.name)
            if io is not None:
                codes = {io.code} | ({io.abi32.code} if io.abi32 else set())
                alt = "|".join(f"{x:#x}" for x in sorted(codes))
                patterns[c.key] = re.compile(rf"ioctl\(\w+, (?:{alt})\b")
        elif c.kind == "file":
            patterns[c.key] = re.compile(rf'file_\w+\("{re.escape(c.name)}"')
        elif c.kind == "genl":
            fam, cmd = c.name.split("/", 1)
            genl[c.key] = (fam, int(cmd.removeprefix("cmd")))
    return patterns, genl


def count(
    camp_dir: Path,
    spec: Spec,
    changes: list[Change],
    door_stats: dict[str, dict[str, int]],
    bucket_programs: dict[str, str],
) -> list[EntryStats]:
    """Calls, edges and crashes per added or changed entry point of a finished campaign."""
    patterns, genl = matchers(spec, changes)
    stats = {
        c.key: EntryStats(c.key, door_of(c.kind, c.name)) for c in changes if c.status != "removed"
    }
    for log in sorted(camp_dir.glob("boots/*/programs.log*")):
        got = _hits(log.read_text(errors="replace"), patterns, genl)
        for key, n in got.items():
            stats[key].calls += n
    for s in stats.values():
        s.edges = int(door_stats.get(s.door, {}).get("edges", 0))
    for bucket, text in bucket_programs.items():
        for key, n in _hits(text, patterns, genl).items():
            if n:
                stats[key].crashes.append(bucket)
    return list(stats.values())
