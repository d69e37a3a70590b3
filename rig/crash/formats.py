"""The table of kernel report formats: the one source for the console watcher and the parser.

A row names the first line of a report (`start`), what ends it (`end`, None
meaning the report runs to the next quiet period or the end of the log), its
kind, and whether the kernel dies after it (`fatal`). A new report kind is a
new row plus a test file, not new code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rig.crash.kinds import Kind

END_TRACE = re.compile(r"---\[ end (?:trace|Kernel panic)[^\]]*\]---")


@dataclass(frozen=True)
class ReportFormat:
    name: str
    start: re.Pattern[str]
    kind: Kind
    fatal: bool
    end: re.Pattern[str] | None = END_TRACE


def _f(name: str, start: str, kind: Kind, fatal: bool, end: re.Pattern[str] | None = END_TRACE) -> ReportFormat:
    return ReportFormat(name, re.compile(start), kind, fatal, end)


FORMATS: tuple[ReportFormat, ...] = (
    _f("null-deref", r"BUG: kernel NULL pointer dereference", Kind.NULL_DEREF, True),
    _f("paging", r"BUG: unable to handle (?:page fault|kernel paging request)", Kind.PAGE_FAULT, True),
    _f("gpf", r"general protection fault", Kind.GPF, True),
    _f("divide", r"divide error: ", Kind.DIVIDE_ERROR, True),
    _f("kernel-bug", r"kernel BUG at ", Kind.BUG_ON, True),
    _f("usercopy", r"usercopy: Kernel memory (?:overwrite|exposure) attempt", Kind.BAD_USERCOPY, True),
    _f("stack-protector", r"Kernel panic - not syncing: stack-protector", Kind.STACK_PROTECTOR, True),
    _f("soft-lockup", r"watchdog: BUG: soft lockup", Kind.SOFT_LOCKUP, True),
    _f("hung-task", r"INFO: task .{1,64} blocked for more than", Kind.HUNG_TASK, True),
    _f("rcu-stall", r"rcu: INFO: rcu_(?:preempt|sched) (?:self-)?detected", Kind.RCU_STALL, True),
    _f("kasan", r"BUG: KASAN: ", Kind.KASAN, False),
    _f("ubsan", r"UBSAN: ", Kind.UBSAN, False),
    _f("warning", r"WARNING: CPU: \d+ PID: \d+ at ", Kind.WARNING, False),
    _f("list-corruption", r"list_(?:add|del) corruption", Kind.LIST_CORRUPTION, False),
    _f("slub", r"BUG \S+ \([^)]*\): ", Kind.SLUB, False, re.compile(r"FIX \S+: ")),
    _f("oops", r"Oops: ", Kind.BUG, True),
    _f("panic", r"Kernel panic - not syncing: ", Kind.PANIC, True),
)

START_RE = re.compile("|".join(f"(?:{f.start.pattern})" for f in FORMATS))


def classify(line: str) -> ReportFormat | None:
    """The first row whose start pattern occurs in `line`."""
    for f in FORMATS:
        if f.start.search(line):
            return f
    return None
