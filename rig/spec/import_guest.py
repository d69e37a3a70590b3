"""Import what a running guest kernel reports about a module: its files and its netlink policy.

Both importers take recorded output, so they are tested without a VM; the
guest side only has to run a command and hand the bytes back.

Files. `listing_script(module)` is a busybox sh script; run in the guest
after the module loaded, it prints one line per file or directory below the
module's device node, class device, procfs and debugfs entries:

    rig-listing 1
    <stat %f: raw mode in hex> <stat %a: octal permissions> <path> [<hex of the first bytes>]

`parse_listing` reads that text (stray lines such as a shell prompt are
skipped) and `files_from_listing` turns it into devices (character nodes) and
files (regular files, with a grammar guessed from what reading them gave:
a number means `int`, a `[a] b c` choice list `enum`, other text `string`).

Netlink. `policy_program(family)` is a program for the agent that asks
`nlctrl` for the family (CTRL_CMD_GETFAMILY: id, version, operations and
their flags, multicast groups) and for its policies (CTRL_CMD_GETPOLICY dump:
every attribute's type, ranges and lengths, and which policy each operation
uses). `family_from_replies` decodes the replies. The kernel reports no
names, so attributes are `attr<N>` and commands `cmd<N>` unless `names`
(a family imported from YNL or a header) supplies them by number.
"""

from __future__ import annotations

import fnmatch
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, replace

from rig.errors import ConfigError
from rig.prog.program import NlSend, NlSocket, Program
from rig.spec import netlink as nl
from rig.spec.types import (
    Device,
    File,
    FileKind,
    Grammar,
    NlAttr,
    NlAttrSet,
    NlCommand,
    NlFamily,
)

LISTING_MAGIC = "rig-listing 1"
SAMPLE_BYTES = 128

# Attributes every device or module directory has; they belong to the driver core.
DEFAULT_EXCLUDES = (
    "*/uevent",
    "*/dev",
    "*/power",
    "*/power/*",
    "*/subsystem",
    "*/subsystem/*",
    "*/driver",
    "*/driver/*",
    "*/device",
    "*/modalias",
    "/sys/module/*",
)


class ListingError(ConfigError):
    """Guest output that is not a listing or a policy dump."""


def listing_script(module: str) -> str:
    """The busybox sh script that prints a module's listing (run as `sh -c SCRIPT`)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", module):
        raise ConfigError(f"module name {module!r} must be letters, digits, - or _")
    return f"""
m={module}
echo "{LISTING_MAGIC}"
for r in /dev/$m /dev/$m[0-9]* /sys/class/*/$m /sys/class/*/$m[0-9]* /proc/$m /proc/driver/$m \\
         /sys/kernel/debug/$m $(cat /run/rig/added 2>/dev/null); do
  [ -e "$r" ] || continue
  r=$(readlink -f "$r")
  find "$r" 2>/dev/null
done | sort -u | while read -r p; do
  set -- $(stat -c '%f %a' "$p" 2>/dev/null) || continue
  s=""
  if [ -f "$p" ] && [ -r "$p" ]; then
    s=$(timeout 1 head -c {SAMPLE_BYTES} "$p" 2>/dev/null | od -An -v -tx1 | tr -d ' \\n')
  fi
  echo "$1 $2 $p $s"
done
""".lstrip()


@dataclass(frozen=True)
class Entry:
    path: str
    raw_mode: int  # st_mode: type bits and permissions
    perms: int
    sample: bytes | None  # the first bytes read, None when not read

    @property
    def is_char(self) -> bool:
        return (self.raw_mode & 0o170000) == 0o020000

    @property
    def is_file(self) -> bool:
        return (self.raw_mode & 0o170000) == 0o100000


_LINE = re.compile(r"^([0-9a-fA-F]+) ([0-7]{1,4}) (/\S*)(?: ([0-9a-fA-F]*))?$")


def parse_listing(text: str, source: str = "<listing>") -> list[Entry]:
    lines = text.replace("\r", "").splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip() == LISTING_MAGIC)
    except StopIteration:
        raise ListingError(f"{source}: no '{LISTING_MAGIC}' line: not a rig listing") from None
    out = []
    for ln in lines[start + 1 :]:
        m = _LINE.match(ln.strip())
        if not m:
            continue
        sample = bytes.fromhex(m.group(4)) if m.group(4) else None
        out.append(Entry(m.group(3), int(m.group(1), 16), int(m.group(2), 8), sample))
    return out


def guess_grammar(sample: bytes | None) -> Grammar:
    """What a file accepts, guessed from what reading it gave."""
    if sample is None:
        return Grammar()
    text = sample.decode("ascii", "replace").strip()
    if re.fullmatch(r"-?(0x[0-9a-fA-F]+|\d+)", text):
        return Grammar("int")
    choices = text.split()
    if len(choices) > 1 and sum(c.startswith("[") and c.endswith("]") for c in choices) == 1:
        return Grammar("enum", values=tuple(c.strip("[]") for c in choices))
    if text and "\n" not in text and len(text) < 64:
        return Grammar("string")
    return Grammar()


def files_from_listing(
    entries: Iterable[Entry], excludes: Iterable[str] = DEFAULT_EXCLUDES
) -> tuple[tuple[Device, ...], tuple[File, ...]]:
    """Character devices and regular files of a listing, without the excluded paths."""
    excl = tuple(excludes)
    devices: list[Device] = []
    files: list[File] = []
    for e in entries:
        if any(fnmatch.fnmatchcase(e.path, pat) for pat in excl):
            continue
        if e.is_char:
            flags = _open_flags(e.perms)
            devices.append(Device(e.path, (), bool(e.perms & 0o444), bool(e.perms & 0o222), flags))
        elif e.is_file and e.perms & 0o666:
            files.append(File(e.path, e.perms, FileKind.of(e.path), guess_grammar(e.sample)))
    return tuple(devices), tuple(files)


def _open_flags(perms: int) -> tuple[int, ...]:
    r, w = bool(perms & 0o444), bool(perms & 0o222)
    return (2,) if r and w else (0,) if r else (1,)


# ---------------------------------------------------------------- generic netlink policy

CTRL_CMD_GETFAMILY = 3
CTRL_CMD_GETPOLICY = 10
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_VERSION = 3
CTRL_ATTR_OPS = 6
CTRL_ATTR_MCAST_GROUPS = 7
CTRL_ATTR_POLICY = 8
CTRL_ATTR_OP_POLICY = 9
CTRL_ATTR_OP = 10
CTRL_ATTR_OP_ID = 1
CTRL_ATTR_OP_FLAGS = 2
CTRL_ATTR_MCAST_GRP_NAME = 1
CTRL_ATTR_POLICY_DO = 1
CTRL_ATTR_POLICY_DUMP = 2
GENL_CMD_CAP_DO = 2
GENL_CMD_CAP_DUMP = 4

# enum netlink_attribute_type -> YNL type names
_NL_ATTR_TYPES = {
    1: "flag",
    2: "u8",
    3: "u16",
    4: "u32",
    5: "u64",
    6: "s8",
    7: "s16",
    8: "s32",
    9: "s64",
    10: "binary",
    11: "string",
    12: "string",
    13: "nest",
    14: "indexed-array",
    15: "bitfield32",
    16: "sint",
    17: "uint",
}
(
    NL_POLICY_TYPE_ATTR_TYPE,
    NL_POLICY_TYPE_ATTR_MIN_VALUE_S,
    NL_POLICY_TYPE_ATTR_MAX_VALUE_S,
    NL_POLICY_TYPE_ATTR_MIN_VALUE_U,
    NL_POLICY_TYPE_ATTR_MAX_VALUE_U,
    NL_POLICY_TYPE_ATTR_MIN_LENGTH,
    NL_POLICY_TYPE_ATTR_MAX_LENGTH,
    NL_POLICY_TYPE_ATTR_POLICY_IDX,
) = range(1, 9)


def policy_requests(family: str, seq: int = 1) -> tuple[bytes, bytes]:
    """The CTRL_CMD_GETFAMILY and CTRL_CMD_GETPOLICY (dump) requests for `family`."""
    name = nl.nla(CTRL_ATTR_FAMILY_NAME, family.encode() + b"\0")
    get = nl.nlmsg(nl.GENL_ID_CTRL, nl.NLM_F_REQUEST, nl.genl(CTRL_CMD_GETFAMILY, 1, name), seq)
    pol = nl.nlmsg(
        nl.GENL_ID_CTRL,
        nl.NLM_F_REQUEST | nl.NLM_F_DUMP,
        nl.genl(CTRL_CMD_GETPOLICY, 1, name),
        seq + 1,
    )
    return get, pol


def policy_program(family: str) -> Program:
    """A program whose two nl_send outputs, concatenated, feed `family_from_replies`."""
    get, pol = policy_requests(family)
    return Program((NlSocket(), NlSend(0, "nlctrl", get), NlSend(0, "nlctrl", pol)))


@dataclass
class _Policy:
    attrs: dict[int, dict[int, bytes]]


def family_from_replies(replies: bytes, names: NlFamily | None = None) -> NlFamily:
    """The family described by nlctrl's replies to `policy_requests` (errors raise)."""
    fam_name, version = "", 1
    ops: dict[int, int] = {}
    groups: list[str] = []
    policies: dict[int, dict[int, dict[int, bytes]]] = {}
    op_policy: dict[int, tuple[int | None, int | None]] = {}
    for kind, _flags, payload in nl.messages(replies):
        if kind == nl.NLMSG_ERROR:
            err = struct.unpack_from("<i", payload)[0] if len(payload) >= 4 else 0
            if err:
                raise ListingError(f"nlctrl answered error {err} (family missing or no policy?)")
            continue
        if kind != nl.GENL_ID_CTRL or len(payload) < nl.GENL_HDRLEN:
            continue
        for t, v in nl.attrs(payload[nl.GENL_HDRLEN :]):
            if t == CTRL_ATTR_FAMILY_NAME:
                fam_name = v.rstrip(b"\0").decode("ascii", "replace")
            elif t == CTRL_ATTR_VERSION:
                version = nl.u(v)
            elif t == CTRL_ATTR_OPS:
                for _, op in nl.attrs(v):
                    a = dict(nl.attrs(op))
                    ops[nl.u(a.get(CTRL_ATTR_OP_ID, b""))] = nl.u(a.get(CTRL_ATTR_OP_FLAGS, b""))
            elif t == CTRL_ATTR_MCAST_GROUPS:
                for _, g in nl.attrs(v):
                    gname = dict(nl.attrs(g)).get(CTRL_ATTR_MCAST_GRP_NAME, b"")
                    groups.append(gname.rstrip(b"\0").decode("ascii", "replace"))
            elif t == CTRL_ATTR_POLICY:
                for idx, pol in nl.attrs(v):
                    for attr_id, desc in nl.attrs(pol):
                        policies.setdefault(idx, {})[attr_id] = dict(nl.attrs(desc))
            elif t == CTRL_ATTR_OP_POLICY:
                for op_id, desc in nl.attrs(v):
                    a = dict(nl.attrs(desc))
                    do = nl.u(a[CTRL_ATTR_POLICY_DO]) if CTRL_ATTR_POLICY_DO in a else None
                    dump = nl.u(a[CTRL_ATTR_POLICY_DUMP]) if CTRL_ATTR_POLICY_DUMP in a else None
                    op_policy[op_id] = (do, dump)
    if not fam_name:
        raise ListingError("no CTRL_CMD_GETFAMILY reply in the guest's output")
    return _build_family(fam_name, version, ops, groups, policies, op_policy, names)


def _build_family(
    name: str,
    version: int,
    ops: dict[int, int],
    groups: list[str],
    policies: dict[int, dict[int, dict[int, bytes]]],
    op_policy: dict[int, tuple[int | None, int | None]],
    names: NlFamily | None,
) -> NlFamily:
    set_names = {idx: name if idx == 0 else f"policy{idx}" for idx in policies}
    sets = [
        NlAttrSet(set_names[idx], tuple(_attr(i, d, set_names) for i, d in sorted(attrs.items())))
        for idx, attrs in sorted(policies.items())
    ]
    if not sets:
        sets.append(NlAttrSet(name))
    cmds = []
    for op_id, flags in sorted(ops.items()):
        do, dump = op_policy.get(op_id, (None, None))
        idx = do if do is not None else dump if dump is not None else 0
        cmds.append(
            NlCommand(
                f"cmd{op_id}",
                op_id,
                set_names.get(idx, sets[0].name),
                bool(flags & GENL_CMD_CAP_DO),
                bool(flags & GENL_CMD_CAP_DUMP),
            )
        )
    fam = NlFamily(name, version, tuple(sets), tuple(cmds), tuple(groups))
    return name_family(fam, names) if names is not None else fam


def _attr(attr_id: int, d: dict[int, bytes], set_names: dict[int, str]) -> NlAttr:
    kind = _NL_ATTR_TYPES.get(nl.u(d.get(NL_POLICY_TYPE_ATTR_TYPE, b"")), "binary")
    lo = hi = None
    if NL_POLICY_TYPE_ATTR_MIN_VALUE_U in d:
        lo, hi = nl.u(d[NL_POLICY_TYPE_ATTR_MIN_VALUE_U]), nl.u(d[NL_POLICY_TYPE_ATTR_MAX_VALUE_U])
    elif NL_POLICY_TYPE_ATTR_MIN_VALUE_S in d:
        lo, hi = nl.s(d[NL_POLICY_TYPE_ATTR_MIN_VALUE_S]), nl.s(d[NL_POLICY_TYPE_ATTR_MAX_VALUE_S])
    min_len = (
        nl.u(d[NL_POLICY_TYPE_ATTR_MIN_LENGTH]) if NL_POLICY_TYPE_ATTR_MIN_LENGTH in d else None
    )
    max_len = (
        nl.u(d[NL_POLICY_TYPE_ATTR_MAX_LENGTH]) if NL_POLICY_TYPE_ATTR_MAX_LENGTH in d else None
    )
    nested = None
    if NL_POLICY_TYPE_ATTR_POLICY_IDX in d:
        nested = set_names.get(nl.u(d[NL_POLICY_TYPE_ATTR_POLICY_IDX]))
    if kind in ("nest", "indexed-array") and nested is None:
        kind = "binary"  # a nest without a reported policy accepts anything
    return NlAttr(f"attr{attr_id}", attr_id, kind, lo, hi, min_len, max_len, None, nested)


def name_family(fam: NlFamily, names: NlFamily) -> NlFamily:
    """`fam` with attribute, set and command names taken from `names` where the numbers agree."""
    root = names.attr_sets[0] if names.attr_sets else None
    set_map: dict[str, str] = {}
    if root is not None and fam.attr_sets:
        set_map[fam.attr_sets[0].name] = root.name
    for s in fam.attr_sets:  # nests: named after the attribute that points to them
        ref = names.attr_set(set_map.get(s.name, ""))
        for a in s.attrs:
            theirs = next((b for b in ref.attrs if b.id == a.id), None) if ref else None
            if a.nested and theirs and theirs.nested:
                set_map.setdefault(a.nested, theirs.nested)
    sets = []
    for s in fam.attr_sets:
        ref = names.attr_set(set_map.get(s.name, ""))
        attrs = []
        for a in s.attrs:
            theirs = next((b for b in ref.attrs if b.id == a.id), None) if ref else None
            nested = set_map.get(a.nested, a.nested) if a.nested else None
            attrs.append(replace(a, name=theirs.name if theirs else a.name, nested=nested))
        sets.append(NlAttrSet(set_map.get(s.name, s.name), tuple(attrs)))
    cmds = []
    for c in fam.commands:
        cmd = next((d for d in names.commands if d.id == c.id), None)
        same_set = cmd is not None and cmd.attr_set == set_map.get(c.attr_set)
        cmds.append(
            replace(
                c,
                name=cmd.name if cmd else c.name,
                attr_set=set_map.get(c.attr_set, c.attr_set),
                attrs=cmd.attrs if cmd and same_set else (),
            )
        )
    return NlFamily(fam.name, fam.version, tuple(sets), tuple(cmds), fam.mcgrps)
