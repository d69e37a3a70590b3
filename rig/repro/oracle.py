"""Does a candidate still crash with the same title? Tries, a cache, a time budget and a record.

A `Replayer` runs candidates (a list of programs, run in order, each as the
agent runs a program) and says what came of one try; the VM replayer lives
in `rig.repro.replay`, the unit tests use fakes. The `Oracle` on top is what
search and minimisation ask: it tries a candidate up to N times, stops at
the first try that shows the target title, remembers every answer, and
raises `OutOfBudget` once the budget is spent, so that a search can stop
cleanly with the best it has.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rig.deadline import Deadline
from rig.guest.protocol import AgentConfig
from rig.prog.program import Program

log = logging.getLogger(__name__)

Candidate = tuple[Program, ...]


@dataclass(frozen=True)
class Verdict:
    """One try: the title the kernel (or the rig) gave the ending, None if nothing happened."""

    title: str | None
    seconds: float = 0.0
    fresh: bool = True  # the try ran on a freshly booted VM
    detail: str = ""


class Replayer(Protocol):
    """Runs one try of a candidate. A report it returns must come from a fresh VM."""

    def replay(self, programs: Sequence[Program]) -> Verdict: ...


class Runner(Replayer, Protocol):
    """What a whole reproduction needs: replays, binaries on fresh VMs, the agent's config."""

    boots: int

    @property
    def agent_config(self) -> AgentConfig: ...

    def run_binary(self, binary: bytes, args: tuple[str, ...], timeout_s: float) -> Verdict: ...

    def discard(self) -> None: ...

    def close(self) -> None: ...


class OutOfBudget(Exception):
    """The time budget is spent (or the caller asked to stop); keep what was found so far."""


@dataclass
class Attempts:
    tries: int = 0
    hits: int = 0
    seconds: float = 0.0
    hit_seconds: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One candidate's tries, for the record in repro.md and the benchmark."""

    phase: str
    programs: int
    calls: int
    tries: int
    hits: int
    seconds: float


@dataclass
class Oracle:
    """Asks a replayer whether candidates crash with `title` (None: with any title at all)."""

    replayer: Replayer
    title: str | None
    deadline: Deadline
    tries: int = 3
    stop: threading.Event | None = None
    cache: dict[Candidate, Attempts] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    other_titles: Counter[str] = field(default_factory=Counter)
    runs: int = 0

    def check_budget(self) -> None:
        if self.deadline.expired():
            raise OutOfBudget(f"time budget of {self.deadline.seconds:.0f}s spent")
        if self.stop is not None and self.stop.is_set():
            raise OutOfBudget("asked to stop")

    def attempts(self, programs: Sequence[Program]) -> Attempts:
        return self.cache.setdefault(tuple(programs), Attempts())

    def test(self, programs: Sequence[Program], phase: str, tries: int | None = None) -> bool:
        """True once a try shows the title; up to `tries` tries in all, answers cached."""
        want = self.tries if tries is None else tries
        seen = self.attempts(programs)
        if seen.hits:
            return True
        made = hits = 0
        t0 = time.monotonic()
        try:
            while seen.tries < want:
                self.check_budget()
                v = self.replayer.replay(programs)
                self.runs += 1
                made += 1
                seen.tries += 1
                seen.seconds += v.seconds
                if v.title is not None and self.title is None:
                    log.info(
                        "the candidate crashed with %r: that is the title to reproduce", v.title
                    )
                    self.title = v.title
                if v.title is not None and v.title == self.title:
                    seen.hits += 1
                    seen.hit_seconds.append(v.seconds)
                    hits += 1
                    break
                if v.title is not None:
                    self.other_titles[v.title] += 1
                    log.info("%s: another title: %s", phase, v.title)
        finally:
            if made:
                calls = sum(len(p.calls) for p in programs)
                self.steps.append(
                    Step(phase, len(programs), calls, made, hits, time.monotonic() - t0)
                )
                log.info(
                    "%s: %d program(s), %d call(s): %s after %d tr%s",
                    phase,
                    len(programs),
                    calls,
                    "crashed" if hits else "no crash",
                    made,
                    "y" if made == 1 else "ies",
                )
        return seen.hits > 0
