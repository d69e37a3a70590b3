"""The engines a campaign drives: one small pull interface over four ways of choosing programs.

    engine = make_engine("atheris", spec, workdir, seed=1, doors=DOORS, seeds=[seed_dir])
    while campaign_runs:
        program = engine.next_program()          # blocks until the engine has one
        result = vm.run(program)
        engine.feedback(program, Feedback.from_program_result(result, crashed=vm_died))
    engine.close()                                # stops threads and child processes

One engine per worker (per VM); `next_program` and `feedback` alternate,
from one thread. Engines never raise for a crash: a crashed program is
reported with `Feedback(crashed=True)`, kept out of the corpus, and the
search goes on. Every engine keeps its state under `workdir`, so a resumed
campaign continues from it.

- `generate`: seeded random generation from the spec plus mutation of a
  corpus of programs that found new driver coverage (`workdir/corpus`).
- `hypothesis`: hypothesis strategies from the spec, run as a long-lived
  search in a thread of this process: example database in
  `workdir/hypothesis`, no deadline, no shrinking, `target()` fed with newly
  seen coverage; programs with new coverage are also kept as text in
  `workdir/corpus` and replayed as explicit examples next time.
- `atheris`: libFuzzer through atheris in a child process (see
  `rig.gen.atheris_engine`); its corpus is `workdir/libfuzzer-corpus`.
- `random` (alias `blind`): the blind baseline, paths and family names only.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from rig.errors import ConfigError, RigBug
from rig.gen.blind import BlindGenerator
from rig.gen.build import DOORS, check_doors
from rig.gen.feedback import Feedback
from rig.gen.generate import Corpus, Generator
from rig.gen.hints import Hints
from rig.prog.program import Program
from rig.prog.text import Header
from rig.spec.types import FileKind, Spec

log = logging.getLogger(__name__)

ENGINES = ("atheris", "hypothesis", "generate", "random")
ALIASES = {"blind": "random"}


class Engine(Protocol):
    name: str

    def next_program(self) -> Program: ...

    def feedback(self, program: Program, result: Feedback) -> None: ...

    def stats(self) -> dict[str, int]: ...

    def close(self) -> None: ...


class Coverage:
    """Driver PCs and edges seen so far; `add` says how many are new."""

    def __init__(self) -> None:
        self.pcs: set[int] = set()
        self.edges: set[tuple[int, int]] = set()

    def add(self, fb: Feedback) -> int:
        before = len(self.pcs) + len(self.edges)
        self.pcs.update(fb.pcs)
        self.edges.update(fb.edges())
        return len(self.pcs) + len(self.edges) - before


class _Counting:
    """Counters every engine reports in `stats`."""

    def __init__(self) -> None:
        self.coverage = Coverage()
        self.execs = 0
        self.crashes = 0

    def count(self, fb: Feedback) -> int:
        self.execs += 1
        if fb.crashed:
            self.crashes += 1
            return 0
        return self.coverage.add(fb)

    def base_stats(self) -> dict[str, int]:
        return {
            "execs": self.execs,
            "crashes": self.crashes,
            "pcs": len(self.coverage.pcs),
            "edges": len(self.coverage.edges),
        }


class GenerateEngine(_Counting):
    """Seeded generation plus mutation of coverage-increasing programs."""

    name = "generate"

    def __init__(
        self,
        spec: Spec,
        workdir: Path,
        seed: int = 0,
        doors: Iterable[str] = DOORS,
        seeds: Sequence[Path] = (),
        header: Header | None = None,
        malformed: int = 30,
        abis: Sequence[int] = (64,),
    ) -> None:
        super().__init__()
        self.hints = Hints()
        self.gen = Generator(spec, seed, doors, malformed, hints=self.hints, abis=abis)
        self.corpus = Corpus(workdir / "corpus", header or Header()).load(*seeds, spec=spec)

    def next_program(self) -> Program:
        rng = self.gen.rng
        self.hints.start()  # a mutant notes only the values its new calls place
        progs = self.corpus.programs
        if progs and rng.random() < 0.7:
            return self.gen.mutate(rng.choice(progs), rng.choice(progs))
        return self.gen.program()

    def feedback(self, program: Program, result: Feedback) -> None:
        if self.count(result):
            self.corpus.add(program)
        if result.cmps and not result.crashed:
            ops = [a for _, _, a1, a2 in result.cmps[:256] for a in (a1, a2)]
            self.gen.mutator.hint(ops)
            self.hints.add(result.cmps[:256])
        self.hints.add_returned(result.returned)

    def stats(self) -> dict[str, int]:
        return {**self.base_stats(), "corpus": len(self.corpus)}

    def close(self) -> None:
        pass


class BlindEngine(_Counting):
    """Random calls and bytes; it never looks at feedback beyond counting."""

    name = "random"

    def __init__(
        self, spec: Spec, seed: int = 0, doors: Iterable[str] = DOORS, abis: Sequence[int] = (64,)
    ) -> None:
        super().__init__()
        doors = check_doors(doors)
        kinds = {"sysfs": FileKind.SYSFS, "procfs": FileKind.PROCFS, "debugfs": FileKind.DEBUGFS}
        want = {kinds[d] for d in doors if d in kinds} | {FileKind.OTHER}
        self.gen = BlindGenerator(
            [d.path for d in spec.devices] if "ioctl" in doors else [],
            [f.path for f in spec.files if f.kind in want],
            [f.name for f in spec.families] if "netlink" in doors else [],
            seed,
            abis=abis,
        )

    def next_program(self) -> Program:
        return self.gen.program()

    def feedback(self, program: Program, result: Feedback) -> None:
        self.count(result)

    def stats(self) -> dict[str, int]:
        return self.base_stats()

    def close(self) -> None:
        pass


class _Stop(BaseException):
    """Ends the hypothesis run from inside the test body (not an Exception, so not a failure)."""


class HypothesisEngine(_Counting):
    """Hypothesis as a long-lived search, running in a thread, pulled one program at a time."""

    name = "hypothesis"

    def __init__(
        self,
        spec: Spec,
        workdir: Path,
        seed: int = 0,
        doors: Iterable[str] = DOORS,
        seeds: Sequence[Path] = (),
        header: Header | None = None,
        malformed: int = 30,
        abis: Sequence[int] = (64,),
    ) -> None:
        super().__init__()
        self.spec, self.seed, self.doors = spec, seed, check_doors(doors)
        self.abis = tuple(abis)
        self.malformed = malformed
        self.hints = Hints()  # filled here, read by the search thread's draws
        self.db_dir = workdir / "hypothesis"
        self.corpus = Corpus(workdir / "corpus", header or Header()).load(*seeds, spec=spec)
        self._programs: queue.Queue[Program] = queue.Queue(maxsize=1)
        self._results: queue.Queue[tuple[Feedback, int]] = queue.Queue(maxsize=1)
        self._stopping = threading.Event()
        self._pending = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hypothesis-engine", daemon=True)
        self._thread.start()

    def _test(self) -> Any:
        from hypothesis import HealthCheck, Phase, Verbosity, example, given, settings
        from hypothesis import seed as hseed
        from hypothesis.database import DirectoryBasedExampleDatabase

        from rig.gen.strategies import programs

        @settings(
            database=DirectoryBasedExampleDatabase(str(self.db_dir)),
            max_examples=1 << 30,
            deadline=None,
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
            print_blob=False,
            verbosity=Verbosity.quiet,
        )
        @hseed(self.seed)
        @given(programs(self.spec, self.malformed, self.doors, hints=self.hints, abis=self.abis))
        def search(program: Program) -> None:
            self._body(program)

        test: Any = search
        for p in self.corpus.programs[-200:]:
            test = example(p)(test)
        return test

    def _body(self, program: Program) -> None:
        from hypothesis import target

        if not program.calls:
            return
        self._exchange(self._programs, program)
        got = None
        while got is None:
            try:
                got = self._results.get(timeout=0.5)
            except queue.Empty:
                if self._stopping.is_set():
                    raise _Stop from None
        fb, new = got
        target(float(new), label="new coverage")
        target(float(len(set(fb.pcs))), label="pcs")
        if new:
            self.corpus.add(program)

    def _exchange(self, q: queue.Queue[Program], program: Program) -> None:
        # Raises _Stop at once after close(), also when hypothesis replays an example.
        while not self._stopping.is_set():
            try:
                q.put(program, timeout=0.5)
                return
            except queue.Full:
                continue
        raise _Stop

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._test()()
            except _Stop:
                return
            except BaseException as e:  # a bug of ours or of hypothesis: surface it
                self._error = e
                log.exception("hypothesis engine stopped")
                return

    def next_program(self) -> Program:
        if self._pending:
            raise RigBug("next_program() called again before feedback() for the last program")
        while True:
            try:
                program = self._programs.get(timeout=0.5)
                self._pending = True
                return program
            except queue.Empty:
                if not self._thread.is_alive():
                    raise RigBug(f"hypothesis engine thread ended: {self._error!r}") from None

    def feedback(self, program: Program, result: Feedback) -> None:
        self._pending = False
        if result.cmps and not result.crashed:
            self.hints.add(result.cmps[:256])
        self.hints.add_returned(result.returned)
        self._results.put((result, self.count(result)))

    def stats(self) -> dict[str, int]:
        return {**self.base_stats(), "corpus": len(self.corpus)}

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)


def make_engine(
    name: str,
    spec: Spec,
    workdir: Path,
    seed: int = 0,
    doors: Iterable[str] = DOORS,
    seeds: Sequence[Path] = (),
    header: Header | None = None,
    abis: Sequence[int] = (64,),
) -> Engine:
    """An engine by name (`ENGINES` or an alias); raises ConfigError for an unknown one.

    `abis`: the processes its programs run in, 64- and/or 32-bit (compat paths).
    """
    name = ALIASES.get(name, name)
    try:
        doors = check_doors(doors)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    workdir.mkdir(parents=True, exist_ok=True)
    if name == "generate":
        return GenerateEngine(spec, workdir, seed, doors, seeds, header, abis=abis)
    if name == "hypothesis":
        return HypothesisEngine(spec, workdir, seed, doors, seeds, header, abis=abis)
    if name == "random":
        return BlindEngine(spec, seed, doors, abis)
    if name == "atheris":
        from rig.gen.atheris_engine import AtherisEngine

        return AtherisEngine(spec, workdir, seed, doors, seeds=seeds, header=header, abis=abis)
    raise ConfigError(f"unknown engine {name!r}; engines are {', '.join(ENGINES)}")
