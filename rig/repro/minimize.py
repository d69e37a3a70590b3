"""Shrink a crashing candidate: drop calls it does not need, then simplify arguments.

Every accepted change was tested and crashed with the same title, so the
result at any moment is a working reproducer; running out of budget only
leaves it less small. Changes are tried in groups first (all zeroable fields
at once, then halves of the group, ...), because a change that keeps the
crash costs a fresh VM while one that loses it usually runs on a VM that is
already up: few, large accepted steps keep the number of boots small.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from rig.prog.program import Program
from rig.repro.oracle import Oracle, OutOfBudget
from rig.repro.search import ddmin
from rig.repro.transform import Edit, edits, normalize, remove_calls

log = logging.getLogger(__name__)

PASSES = ("zero", "shrink", "small")


@dataclass
class Minimized:
    programs: list[Program]
    complete: bool = True  # False: the budget ran out before every pass was done
    removed_calls: int = 0
    accepted_edits: int = 0
    notes: list[str] = field(default_factory=list)


def minimize(programs: Sequence[Program], oracle: Oracle, tries: int) -> Minimized:
    """A smaller candidate that still crashes; `programs` must crash already."""
    out = Minimized([normalize(p) for p in programs])
    try:
        _drop_calls(out, oracle, tries)
        for kind in PASSES:
            _simplify(out, oracle, tries, kind)
    except OutOfBudget as e:
        out.complete = False
        out.notes.append(f"minimisation stopped early: {e}")
        log.info("minimisation stopped early: %s", e)
    return out


def _drop_calls(out: Minimized, oracle: Oracle, tries: int) -> None:
    for pi in reversed(range(len(out.programs))):
        program = out.programs[pi]
        if len(program.calls) < 2:
            continue

        def crashes(keep: list[int], pi: int = pi, program: Program = program) -> bool:
            drop = set(range(len(program.calls))) - set(keep)
            candidate = [*out.programs[:pi], remove_calls(program, drop), *out.programs[pi + 1 :]]
            return oracle.test(candidate, "drop calls", tries)

        keep = ddmin(list(range(len(program.calls))), crashes)
        drop = set(range(len(program.calls))) - set(keep)
        out.programs[pi] = remove_calls(program, drop)
        out.removed_calls += len(drop)


def _apply(programs: list[Program], group: Sequence[Edit]) -> list[Program]:
    current = programs
    for e in group:
        edited = e.apply(current)
        if edited is not None:
            current = edited
    return current


def _simplify(out: Minimized, oracle: Oracle, tries: int, kind: str) -> None:
    """Take the largest groups of one kind of edit that keep the crash (binary splitting)."""
    pending: list[list[Edit]] = [edits(out.programs, kind)]
    while pending:
        group = pending.pop(0)
        if not group:
            continue
        candidate = _apply(out.programs, group)
        if candidate == out.programs:
            continue
        if oracle.test(candidate, f"simplify ({kind})", tries):
            out.programs = candidate
            out.accepted_edits += len(group)
            continue
        if len(group) > 1:
            half = len(group) // 2
            pending[:0] = [group[:half], group[half:]]
