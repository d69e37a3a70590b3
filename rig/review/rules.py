"""Static rules over one revision's surface: a table of rows, each naming its check function.

A rule is data (id, severity, one line of what it means, the name of the
function that checks it), so reports, SARIF's rule list and the tests all
read the same table. A check sees the whole surface and returns findings;
the review keeps those the base revision did not already have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rig.review.dwarf import Function, Location
from rig.review.surface import GENL_ADMIN_PERM, GENL_UNS_ADMIN_PERM, Surface
from rig.spec.types import Dir, Ioctl, Len, Ptr, StructRef, Type

SEVERITIES = ("high", "medium", "low")

# Kernel symbols a handler's code calls to read or write user memory (x86-64 6.1:
# copy_*_user inline down to these; get_user/put_user to the sized helpers).
COPY_IN = frozenset(
    {"_copy_from_user", "copy_from_user", "__copy_from_user", "memdup_user", "vmemdup_user"}
    | {f"__get_user_{n}" for n in (1, 2, 4, 8)}
    | {f"__get_user_nocheck_{n}" for n in (1, 2, 4, 8)}
)
COPY_OUT = frozenset(
    {"_copy_to_user", "copy_to_user", "__copy_to_user"}
    | {f"__put_user_{n}" for n in (1, 2, 4, 8)}
    | {f"__put_user_nocheck_{n}" for n in (1, 2, 4, 8)}
)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str  # the usual one; a check may say "high" or "medium" for one finding
    description: str
    check: str  # name of the function in CHECKS


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    entry: str  # the entry point's key (`ioctl:NAME`, `genl:F/cmdN`, `file:PATH`, ...)
    message: str
    location: Location | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.entry)


RULES: tuple[Rule, ...] = (
    Rule(
        "ioctl-size",
        "high",
        "The ioctl number's size field disagrees with the struct the driver copies the argument into.",
        "check_ioctl_size",
    ),
    Rule(
        "ioctl-dir",
        "medium",
        "The ioctl number's direction disagrees with what its handler copies (from or to user memory).",
        "check_ioctl_dir",
    ),
    Rule(
        "ioctl-magic",
        "medium",
        "An ioctl code's type byte is not the magic the driver declares for its ioctls.",
        "check_ioctl_magic",
    ),
    Rule(
        "ioctl-user-length",
        "low",
        "An ioctl argument carries a user pointer with a length the caller chooses: the handler "
        "must bound it before it copies.",
        "check_ioctl_user_length",
    ),
    Rule(
        "genl-no-policy",
        "high",
        "A generic netlink command has no attribute policy: nothing validates what it is sent.",
        "check_genl_policy",
    ),
    Rule(
        "nla-unbounded",
        "medium",
        "A string or binary netlink attribute has no length bound (len 0).",
        "check_nla_unbounded",
    ),
    Rule(
        "genl-no-perm",
        "medium",
        "A generic netlink do-command (no dump: it changes state) needs no CAP_NET_ADMIN "
        "(neither GENL_ADMIN_PERM nor GENL_UNS_ADMIN_PERM).",
        "check_genl_perm",
    ),
    Rule(
        "file-writable",
        "high",
        "A sysfs, procfs or debugfs file is writable by users other than root.",
        "check_file_writable",
    ),
)


def rule(rule_id: str) -> Rule:
    return next(r for r in RULES if r.id == rule_id)


def _finding(
    rule_id: str, entry: str, message: str, loc: Location | None, sev: str = ""
) -> Finding:
    return Finding(rule_id, sev or rule(rule_id).severity, entry, message, loc)


def _ioctl_loc(s: Surface, io: Ioctl, fn: Function | None) -> Location | None:
    return s.define_at(io.name) or (fn.location if fn else None)


def check_ioctl_size(s: Surface) -> list[Finding]:
    out = []
    dwarf = s.dwarf
    for io in s.spec.ioctls:
        arg = io.arg.target if isinstance(io.arg, Ptr) else io.arg
        arg_struct = arg.name if isinstance(arg, StructRef) else None
        if dwarf is not None and arg_struct and arg_struct in dwarf.struct_sizes:
            header = s.spec.struct(arg_struct)
            got = dwarf.struct_sizes[arg_struct]
            if header is not None and header.size != got:
                out.append(
                    _finding(
                        "ioctl-size",
                        f"ioctl:{io.name}",
                        f"{io.name} passes struct {arg_struct}, {header.size} bytes as the header "
                        f"lays it out, but the module was built with {got} bytes",
                        s.define_at(io.name),
                    )
                )
                continue
        fn = dwarf.handler(io.name) if dwarf is not None else None
        if fn is None or not fn.locals:
            continue
        same = [v for v in fn.locals if v.struct == arg_struct]
        candidates = same or (list(fn.locals) if len(fn.locals) == 1 else [])
        for v in candidates:
            if v.size != io.size:
                out.append(
                    _finding(
                        "ioctl-size",
                        f"ioctl:{io.name}",
                        f"{io.name} encodes a {io.size}-byte argument, but its handler {fn.name} "
                        f"copies it into {v.name} (struct {v.struct}, {v.size} bytes)",
                        fn.location or s.define_at(io.name),
                    )
                )
                break
    return out


def check_ioctl_dir(s: Surface) -> list[Finding]:
    out: list[Finding] = []
    if s.dwarf is None:
        return out
    for io in s.spec.ioctls:
        fn = s.dwarf.handler(io.name)
        if fn is None:
            continue
        reads, writes = bool(fn.calls & COPY_IN), bool(fn.calls & COPY_OUT)
        wrong = ""
        if io.dir == Dir.NONE and (reads or writes):
            wrong = "is _IO (no argument) but its handler copies user memory"
        elif io.dir == Dir.IN and writes and not reads:
            wrong = "is _IOW (the kernel reads the argument) but its handler only copies to user"
        elif io.dir == Dir.OUT and reads and not writes:
            wrong = "is _IOR (the kernel writes the argument) but its handler only copies from user"
        if wrong:
            out.append(
                _finding(
                    "ioctl-dir",
                    f"ioctl:{io.name}",
                    f"{io.name} {wrong} ({fn.name})",
                    _ioctl_loc(s, io, fn),
                )
            )
    return out


def check_ioctl_magic(s: Surface) -> list[Finding]:
    if s.magic is None:
        return []
    return [
        _finding(
            "ioctl-magic",
            f"ioctl:{io.name}",
            f"{io.name} has type byte {io.type:#04x}, not the driver's magic {s.magic:#04x}: "
            "it may collide with another driver's ioctl numbers",
            s.define_at(io.name),
        )
        for io in s.spec.ioctls
        if io.type != s.magic
    ]


def _user_lengths(s: Surface, t: Type | None, depth: int = 0) -> list[str]:
    """Length fields (struct.field) of a user buffer inside an ioctl's argument, two levels deep."""
    target = t.target if isinstance(t, Ptr) else t
    if not isinstance(target, StructRef) or depth > 1:
        return []
    st = s.spec.struct(target.name)
    if st is None:
        return []
    out = []
    for f in st.fields:
        if isinstance(f.type, Len):
            out.append(f"{st.name}.{f.name}")
        elif isinstance(f.type, Ptr):
            out += _user_lengths(s, f.type, depth + 1)
    return out


def check_ioctl_user_length(s: Surface) -> list[Finding]:
    out = []
    for io in s.spec.ioctls:
        lengths = _user_lengths(s, io.arg)
        if lengths:
            out.append(
                _finding(
                    "ioctl-user-length",
                    f"ioctl:{io.name}",
                    f"{io.name} passes a user buffer whose length the caller sets "
                    f"({', '.join(lengths)}): check that its handler bounds it against the "
                    "kernel buffer it copies to or from",
                    s.define_at(io.name),
                )
            )
    return out


def _op_loc(s: Surface, var: str) -> Location | None:
    return s.dwarf.variables.get(var) if s.dwarf is not None else None


def check_genl_policy(s: Surface) -> list[Finding]:
    return [
        _finding(
            "genl-no-policy",
            f"genl:{op.family}/cmd{op.cmd}",
            f"command {op.cmd} of family {op.family} has neither its own policy nor the family's: "
            "its attributes reach the handler unvalidated",
            _op_loc(s, op.ops_var),
        )
        for op in s.genl_ops
        if op.policy is None and op.do
    ]


def check_nla_unbounded(s: Surface) -> list[Finding]:
    out = []
    for fam in s.spec.families:
        for aset in fam.attr_sets:
            for a in aset.attrs:
                if a.type not in ("string", "binary"):
                    continue
                if a.max_len is not None or a.exact_len is not None:
                    continue
                out.append(
                    _finding(
                        "nla-unbounded",
                        f"attr:{fam.name}/{aset.name}/{a.name}",
                        f"attribute {a.id} ({a.name}) of {aset.name} is {a.type} without a maximum "
                        "length: a handler copying it into a fixed buffer must bound it itself",
                        _op_loc(s, aset.name),
                    )
                )
    return out


def check_genl_perm(s: Surface) -> list[Finding]:
    return [
        _finding(
            "genl-no-perm",
            f"genl:{op.family}/cmd{op.cmd}",
            f"command {op.cmd} of family {op.family} has a doit and no dumpit, so it likely "
            f"changes state, yet its flags {op.flags:#04x} need no CAP_NET_ADMIN",
            _op_loc(s, op.ops_var),
        )
        for op in s.genl_ops
        if op.do and not op.dump and not op.flags & (GENL_ADMIN_PERM | GENL_UNS_ADMIN_PERM)
    ]


def check_file_writable(s: Surface) -> list[Finding]:
    out = []
    for f in s.spec.files:
        if not f.mode & 0o022:
            continue
        who = "anyone" if f.mode & 0o002 else "its group"
        base = f.path.rsplit("/", 1)[-1]
        loc = None
        if s.dwarf is not None:
            for var in (f"dev_attr_{base}", f"{base}_fops", f"{base}_attr", base):
                loc = s.dwarf.variables.get(var)
                if loc is not None:
                    break
        out.append(
            _finding(
                "file-writable",
                f"file:{f.path}",
                f"{f.path} has mode {f.mode:04o}: {who} may write it, not only root",
                loc,
                "high" if f.mode & 0o002 else "medium",
            )
        )
    return out


CHECKS: dict[str, Callable[[Surface], list[Finding]]] = {
    f.__name__: f
    for f in (
        check_ioctl_size,
        check_ioctl_dir,
        check_ioctl_magic,
        check_ioctl_user_length,
        check_genl_policy,
        check_nla_unbounded,
        check_genl_perm,
        check_file_writable,
    )
}


def findings(s: Surface) -> list[Finding]:
    """Every rule's findings on `s`, in the table's order."""
    out: list[Finding] = []
    for r in RULES:
        out += CHECKS[r.check](s)
    return out


def new_findings(base: Surface, head: Surface) -> list[Finding]:
    """The head's findings the base did not have (same rule, same entry point)."""
    old = {f.key for f in findings(base)}
    return [f for f in findings(head) if f.key not in old]
