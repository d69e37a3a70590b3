"""What an engine learns from running one program: driver coverage, comparisons, errnos, a crash."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# A comparison the driver made: (type, pc, arg1, arg2); type bit 0 = one operand is
# a constant (arg1), bits 1-2 = log2 of the operand size (rigcov.h, KCOV's layout).
Cmp = tuple[int, int, int, int]


@dataclass(frozen=True)
class Feedback:
    """The runner fills one per executed program from the agent's per-call results."""

    pcs: tuple[int, ...] = ()  # driver PC offsets, in execution order, all calls
    cmps: tuple[Cmp, ...] = ()
    errnos: tuple[int, ...] = ()  # one per call (0: success or not run)
    crashed: bool = False  # the VM died, hung or lost its agent during this program
    call_pcs: tuple[tuple[int, ...], ...] = ()  # pcs split by call, when known (edges)
    returned: tuple[tuple[str, int, int], ...] = ()  # (field, size, value): rig.gen.returned

    @classmethod
    def crash(cls) -> Feedback:
        return cls(crashed=True)

    @classmethod
    def from_program_result(cls, result: Any, crashed: bool = False) -> Feedback:
        """From a `rig.guest.protocol.ProgramResult` (duck-typed: calls with pcs, cmps, errno)."""
        calls = list(getattr(result, "calls", ()))
        per_call = tuple(tuple(int(p) for p in getattr(c, "pcs", ())) for c in calls)
        cmps: list[Cmp] = []
        for c in calls:
            for m in getattr(c, "cmps", ()):
                cmps.append((int(m.type), int(m.pc), int(m.arg1), int(m.arg2)))
        return cls(
            tuple(p for pcs in per_call for p in pcs),
            tuple(cmps),
            tuple(int(getattr(c, "errno", 0)) for c in calls),
            crashed,
            per_call,
        )

    def edges(self) -> Iterable[tuple[int, int]]:
        """(previous pc, pc) pairs within each call; a call starts from 0."""
        for pcs in self.call_pcs or (self.pcs,):
            prev = 0
            for pc in pcs:
                yield prev, pc
                prev = pc
