"""Seeded random generation and a persistent corpus, for long campaigns without the hypothesis engine.

`Generator` builds programs from a spec with `random.Random(seed)`: the
same seed gives the same sequence. `Corpus` is a directory of program
files in the text form (`<sha1>.prog`); loading skips and reports corrupt
or foreign entries instead of failing, so one bad file never stops a run.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rig.errors import ConfigError
from rig.gen.build import DOORS, Builder
from rig.gen.choose import RandomChooser
from rig.gen.hints import Hints
from rig.gen.mutate import Mutator
from rig.prog import text
from rig.prog.program import FileRead, FileWrite, NlSend, Open, Program, ProgramError
from rig.spec.types import Spec

log = logging.getLogger(__name__)


class Generator:
    """Programs from a spec and a seed; `mutate` derives new ones from old."""

    def __init__(
        self,
        spec: Spec,
        seed: int = 0,
        doors: Iterable[str] = DOORS,
        malformed: int = 30,
        max_calls: int = 12,
        hints: Hints | None = None,
        abis: Sequence[int] = (64,),
    ) -> None:
        self.rng = random.Random(seed)
        self.builder = Builder(
            spec, RandomChooser(rng=self.rng), doors, malformed, max_calls, hints, abis
        )
        self.mutator = Mutator(self.builder)

    def program(self) -> Program:
        return self.builder.program()

    def mutate(self, p: Program, other: Program | None = None) -> Program:
        return self.mutator.mutate(p, other)


def outside(p: Program, spec: Spec) -> str | None:
    """What `p` touches that `spec` does not name (a path or family), or None."""
    paths, families = set(spec.paths), set(spec.family_names)
    for call in p.calls:
        if isinstance(call, Open | FileWrite | FileRead) and call.path not in paths:
            return f"touches {call.path}, which spec {spec.name!r} does not name"
        if isinstance(call, NlSend) and call.family not in families:
            return f"talks to family {call.family!r}, which spec {spec.name!r} does not name"
    return None


@dataclass
class Corpus:
    """Programs worth keeping, stored one per file under `directory`."""

    directory: Path | None
    header: text.Header = field(default_factory=text.Header)
    programs: list[Program] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: reason", for the run's report
    # Seeds of other drivers: left out quietly, since every campaign on a module
    # that is not the bundled driver meets the bundled driver's seeds.
    foreign: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    @staticmethod
    def key(p: Program) -> str:
        return hashlib.sha1(text.dumps(p).encode()).hexdigest()

    def load(self, *dirs: Path, spec: Spec | None = None) -> Corpus:
        """Read this corpus' directory and any seed directories; bad entries are skipped.

        With `spec`, a program that touches a path or family the spec does not
        name is skipped too: seeds written for one driver never reach another.
        """
        for d in (*dirs, *([self.directory] if self.directory else [])):
            if not d.is_dir():
                continue
            for path in sorted(d.glob("*.prog")):
                try:
                    pf = text.load(path)
                    pf.check_target(self.header.driver_hash, self.header.spec_hash)
                    pf.program.validate()
                except (ConfigError, ProgramError) as e:
                    self.skipped.append(f"{path}: {e}")
                    log.warning("corpus entry skipped: %s: %s", path, e)
                    continue
                foreign = outside(pf.program, spec) if spec is not None else None
                if foreign:
                    self.foreign.append(f"{path}: {foreign}")
                    log.debug("seed left out: %s: %s", path, foreign)
                    continue
                self._add(pf.program)
        return self

    def _add(self, p: Program) -> bool:
        k = self.key(p)
        if k in self._seen:
            return False
        self._seen.add(k)
        self.programs.append(p)
        return True

    def add(self, p: Program) -> bool:
        """Keep `p` (and write it out); False when it was already there."""
        if not self._add(p):
            return False
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            text.dump(self.directory / f"{self.key(p)}.prog", p, self.header)
        return True

    def __len__(self) -> int:
        return len(self.programs)
