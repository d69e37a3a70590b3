"""Find the programs that crash: the last one on the console alone, growing suffixes, bisection.

The order follows syzkaller's pkg/repro. The program whose marker was last
on the console was running when the kernel reported, so it goes first, on
its own. Programs logged after it never ran (the host queues ahead), so the
suffixes of the log end with it. If only a suffix crashes, bisection drops
the programs it does not need, and a last try joins the rest into one
program.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from rig.guest.proglog import LoggedProgram
from rig.prog.program import Program
from rig.repro.oracle import Oracle
from rig.repro.transform import concatenate

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Found:
    programs: list[Program]
    phase: str  # how it was found: "last program", "suffix of N", "bisection", "joined"
    first_try: bool  # the crash came on the candidate's first try: likely deterministic


def ddmin(items: Sequence[T], crashes: Callable[[list[T]], bool]) -> list[T]:
    """A smallest sublist (order kept) that still crashes, removing chunks of halving size.

    `crashes(items)` is assumed true; only removals that keep the crash are taken.
    """
    current = list(items)
    n = 2
    while len(current) >= 2:
        size = -(-len(current) // n)
        chunks = [current[i : i + size] for i in range(0, len(current), size)]
        for k in range(len(chunks)):  # oldest first: the crashing part tends to come last
            rest = [x for j, c in enumerate(chunks) if j != k for x in c]
            if rest and crashes(rest):
                current = rest
                n = max(n - 1, 2)
                break
        else:
            if n >= len(current):
                break
            n = min(len(current), n * 2)
    return current


def _suffix_sizes(total: int) -> list[int]:
    sizes = []
    n = 2
    while n < total:
        sizes.append(n)
        n *= 2
    if total > 1:
        sizes.append(total)
    return sizes


def last_index(entries: Sequence[LoggedProgram], last_seq: int | None) -> int:
    """Index of the program that was running: the console's last marker, else the log's end."""
    if last_seq is not None:
        for i in reversed(range(len(entries))):
            if entries[i].seq == last_seq:
                return i
        log.info(
            "program %d of the console is not in the program log; using the log's end", last_seq
        )
    return len(entries) - 1


def extract(entries: Sequence[LoggedProgram], last_seq: int | None, oracle: Oracle) -> Found | None:
    """The programs that crash with the oracle's title, or None (OutOfBudget may escape)."""
    if not entries:
        return None
    idx = last_index(entries, last_seq)
    ran = [e.file.program for e in entries[: idx + 1]]
    if oracle.test([ran[-1]], "last program"):
        return Found([ran[-1]], "last program", _first_try(oracle, [ran[-1]]))
    for n in _suffix_sizes(len(ran)):
        suffix = ran[-n:]
        if not oracle.test(suffix, f"suffix of {n}"):
            continue
        first = _first_try(oracle, suffix)
        needed = ddmin(suffix, lambda c: oracle.test(c, "bisection"))
        phase = "bisection" if len(needed) < len(suffix) else f"suffix of {n}"
        if len(needed) > 1:
            joined = concatenate(needed)
            if joined is not None and oracle.test([joined], "joined"):
                return Found([joined], "joined", first)
        return Found(needed, phase, first)
    return None


def _first_try(oracle: Oracle, programs: Sequence[Program]) -> bool:
    seen = oracle.attempts(programs)
    return seen.hits > 0 and seen.tries == 1
