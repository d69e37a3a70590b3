"""Coverage-guided search with atheris/libFuzzer: fuzzer bytes decode into programs through the spec.

Process model. `atheris.Fuzz()` takes over its process and never returns,
so the fuzzer runs in a child process: `python -m rig.gen.atheris_engine FD`,
a fresh interpreter (no threads, locks or main module of the runner are
inherited) talking over a socketpair with pickled messages. The campaign
side keeps the pull interface of every engine; the child's fuzz target is
the other end:

    runner (parent)                       child (libFuzzer drives)
    next_program() -- ("next",) -------->  TestOneInput(data): program = decode(data)
                   <-- ("program", p) ---
    feedback(p, fb) -- ("feedback", fb) ->  feed fb to libFuzzer, return
    close()        -- ("stop",) -------->  os._exit(0) (the corpus is already on disk)

Feedback reaches libFuzzer in two ways. Driver PCs become edges (previous
PC, PC) hashed onto a block of counters reserved with
`atheris._reserve_counter()` and bumped with `atheris._trace_branch()`, so
an input that reaches new driver code is kept. Each comparison operand pair
goes to `atheris._trace_cmp()` (libFuzzer's table of recent comparisons:
the mutator writes the other operand where it finds one in the input) and
also bumps a counter for (PC, number of equal bytes), so getting closer to
a magic value byte by byte is progress. A crashed program feeds nothing:
libFuzzer sees no new feature and keeps the input out of the corpus, and
the search goes on. Decoding is `rig.gen.build` on a FuzzedDataProvider
(`FdpChooser`): decisions from the input's tail, values raw from its head.

The corpus directory persists (libFuzzer writes each new input there at
once) and is loaded again at the next start; a libFuzzer dictionary built
from the spec (ioctl codes, constants, words) is passed with -dict. If the
child dies, the parent starts a new one on the same corpus.

Seed programs (corpora/seeds, or any directory of .prog files) cannot be
expressed as FuzzedDataProvider decisions, so they enter libFuzzer as
their text form behind SEED_MAGIC, in a second corpus directory that
libFuzzer runs at start-up. `decode()` parses such an input as the program
it spells; libFuzzer's mutations of it (a digit changed in an ioctl
argument, a line spliced from another seed) are programs too as long as
they still parse, and fall back to the ordinary decoding of the same bytes
when they do not.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rig.config import EngineLimits
from rig.errors import ConfigError, InfraError
from rig.gen.build import DOORS, Builder, check_doors
from rig.gen.choose import FdpChooser
from rig.gen.engines import _Counting
from rig.gen.feedback import Feedback
from rig.gen.generate import Corpus, Generator
from rig.gen.hints import Hints
from rig.gen.nlgen import message_ints
from rig.prog import text
from rig.prog.program import Program, ProgramError
from rig.spec.types import Int, Spec

log = logging.getLogger(__name__)

EDGE_COUNTERS = 1 << 16
CMP_COUNTERS = 1 << 14
MAX_CMPS_FED = 4096
MAX_LEN = 4096
SEEDS_DIR = "seed-inputs"
MAX_SEED_CALLS = 64  # a mutated seed stays a program of sensible length
PY_EQ = 2 << 4 if sys.version_info >= (3, 12) else 2  # atheris shifts the op on 3.12+


SEED_MAGIC = b"rig-seed\n"


def libfuzzer_seed(seed: int) -> int:
    """libFuzzer's -seed for a rig seed: distinct for distinct seeds, never 0 (random)."""
    return (seed % 0xFFFFFFFF) + 1


def seed_input(program: Program) -> bytes:
    """The libFuzzer input that decodes to `program` (see the module docstring)."""
    return SEED_MAGIC + text.dumps(program).encode()


def _spelled(data: bytes) -> Program | None:
    if not data.startswith(SEED_MAGIC):
        return None
    try:
        p = text.loads(data[len(SEED_MAGIC) :].decode("utf-8"), "<seed>").program
        p.validate()
    except (UnicodeDecodeError, ConfigError, ProgramError):
        return None
    return p if len(p.calls) <= MAX_SEED_CALLS else None


def decode(
    spec: Spec,
    data: bytes,
    doors: Iterable[str] = DOORS,
    malformed: int = 30,
    max_calls: int = 12,
    hints: Hints | None = None,
    abis: Sequence[int] = (64,),
) -> Program:
    """The program fuzzer input `data` stands for.

    The same bytes give the same program under the same `hints`. libFuzzer's
    own comparison table only helps when the compared value sits in the
    input as it is; a value that is formatted (a number written as text),
    reduced into a range or a length computed from a buffer does not, and
    for those the driver's operands are offered as the generate engine
    offers them, scoped to the field they were compared with.
    """
    spelled = _spelled(data)
    if spelled is not None:
        return spelled
    b = Builder(spec, FdpChooser(data), doors, malformed, max_calls, hints, abis)
    try:
        p = b.program()
        p.validate()
    except ProgramError:
        return Program()
    return p


TYPED_MUTATIONS = 20  # percent of libFuzzer's mutations that are the rig's typed ones


def typed_mutator(
    spec: Spec,
    doors: Sequence[str],
    malformed: int,
    hints: Hints,
    abis: Sequence[int],
    fallback: Callable[[bytes, int], bytes],
    percent: int = TYPED_MUTATIONS,
) -> Callable[[bytes, int, int], bytes]:
    """libFuzzer's custom mutator: now and then the rig's typed mutation, else libFuzzer's own.

    Byte mutations of a decoded input move every later decision, so they
    cannot change one field of a struct and keep the rest. Here the input
    is decoded, mutated as a program (`rig.gen.mutate`: one field anew from
    its type, calls inserted, removed, spliced) and spelled as text behind
    SEED_MAGIC, which decodes to exactly that program. Deterministic in
    libFuzzer's `seed`, as libFuzzer wants.
    """
    gen = Generator(spec, 0, doors, malformed, hints=hints, abis=abis)

    def mutate(data: bytes, max_size: int, seed: int) -> bytes:
        if seed % 100 < percent:
            program = decode(spec, data, doors, malformed, hints=hints, abis=abis)
            if program.calls:
                gen.rng.seed(seed)
                out = seed_input(gen.mutate(program))
                if len(out) <= max_size:
                    return out
        return fallback(data, max_size)

    return mutate


def _mix(a: int, b: int = 0) -> int:
    h = (a * 0x9E3779B1 ^ (b + 0x7F4A7C15) * 0x85EBCA77) & 0xFFFFFFFF
    return h ^ (h >> 15)


def equal_bytes(a: int, b: int, size: int) -> int:
    return sum(((a >> (8 * i)) & 0xFF) == ((b >> (8 * i)) & 0xFF) for i in range(size))


def _signed64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


class CoverageFeeder:
    """Turns driver feedback into libFuzzer features inside the fuzzing process."""

    def __init__(self, atheris: Any) -> None:
        self.atheris = atheris
        self.edge_base = self._reserve(EDGE_COUNTERS)
        self.cmp_base = self._reserve(CMP_COUNTERS)

    def _reserve(self, n: int) -> int:
        base = int(self.atheris._reserve_counter())
        for _ in range(n - 1):
            self.atheris._reserve_counter()
        return base

    def feed(self, fb: Feedback) -> None:
        if fb.crashed:
            return  # nothing new: libFuzzer keeps the input out of the corpus
        branch = self.atheris._trace_branch
        for prev, pc in fb.edges():
            branch(self.edge_base + (_mix(prev, pc) & (EDGE_COUNTERS - 1)))
        trace_cmp = self.atheris._trace_cmp
        for kind, pc, a1, a2 in fb.cmps[:MAX_CMPS_FED]:
            size = 1 << ((kind >> 1) & 3)
            m = (1 << (8 * size)) - 1
            a1, a2 = a1 & m, a2 & m
            trace_cmp(_signed64(a1), _signed64(a2), PY_EQ, pc & 0xFFFFF, bool(kind & 1))
            if a1 != a2:
                level = equal_bytes(a1, a2, size)
                branch(self.cmp_base + ((_mix(pc) * 9 + level) & (CMP_COUNTERS - 1)))


def dictionary(spec: Spec) -> list[bytes]:
    """Byte strings worth inserting: ioctl codes, constants and enum values, words."""
    ints: set[int] = set()
    for io in spec.ioctls:
        ints.add(io.code)
    for s in spec.structs:
        for f in s.fields:
            t = f.type
            if isinstance(t, Int):
                ints |= set(t.values) | set(t.flags)
                ints |= {v for v in (t.min, t.max, t.const) if v is not None}
    for fam in spec.families:
        ints |= set(message_ints(fam))
    out = [v.to_bytes(4, "little") for v in sorted(ints) if 0 <= v < 1 << 32]
    out += [w.encode() for w in spec.words if w.isascii()]
    out += [k.kind.encode() for k in spec.links if k.kind.isascii()]
    return out


def _dict_line(entry: bytes) -> str:
    return '"' + "".join(f"\\x{b:02x}" for b in entry) + '"'


@dataclass(frozen=True)
class _ChildArgs:
    spec: Spec
    workdir: str
    seed: int
    doors: tuple[str, ...]
    malformed: int
    extra_args: tuple[str, ...]
    abis: tuple[int, ...] = (64,)


def _child_main(conn: Connection) -> None:
    """The fuzzing process: libFuzzer calls `one_input`, which asks the parent to run it."""
    import atheris

    args: _ChildArgs = conn.recv()
    workdir = Path(args.workdir)
    log_fd = os.open(workdir / "libfuzzer.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    feeder = CoverageFeeder(atheris)
    hints = Hints()

    def one_input(data: bytes) -> None:
        program = decode(args.spec, data, args.doors, args.malformed, hints=hints, abis=args.abis)
        if not program.calls:
            return
        try:
            msg = conn.recv()
            if msg[0] != "next":
                os._exit(0)
            conn.send(("program", program))
            msg = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        if msg[0] != "feedback":
            os._exit(0)
        fb: Feedback = msg[1]
        feeder.feed(fb)
        if not fb.crashed:
            hints.add(fb.cmps[:256])  # as the generate engine: bounded per program
        hints.add_returned(fb.returned)

    corpus = workdir / "libfuzzer-corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    seeds = workdir / SEEDS_DIR
    dict_path = workdir / "spec.dict"
    entries = dictionary(args.spec)
    dict_path.write_text("".join(_dict_line(e) + "\n" for e in entries))
    argv = [
        "rig-atheris",
        str(corpus),  # the first directory gets the new inputs
        *([str(seeds)] if seeds.is_dir() else []),
        # libFuzzer exits at once on an empty dictionary (a spec of link kinds only)
        *([f"-dict={dict_path}"] if entries else []),
        # libFuzzer takes 0 as "pick one at random"; seeds 0 and 1 (the workers of a
        # default campaign) once both became 1 and ran byte-identical programs.
        f"-seed={libfuzzer_seed(args.seed)}",
        f"-max_len={MAX_LEN}",
        # atheris reads 0 as "zero seconds", not "off"; a VM reboot between two
        # inputs takes seconds, so the per-input limit is a day.
        "-timeout=86400",
        "-rss_limit_mb=0",
        "-use_value_profile=1",
        "-detect_leaks=0",
        "-print_final_stats=1",
        f"-artifact_prefix={workdir}/",
        *args.extra_args,
    ]
    # atheris.Mutate is looked up at each call: until Fuzz() runs it is a stub that refuses.
    mutator = typed_mutator(
        args.spec, args.doors, args.malformed, hints, args.abis, lambda d, n: atheris.Mutate(d, n)
    )
    atheris.Setup(argv, one_input, custom_mutator=mutator)
    atheris.Fuzz()
    os._exit(0)


class AtherisEngine(_Counting):
    """The campaign side of the atheris child process."""

    name = "atheris"

    def __init__(
        self,
        spec: Spec,
        workdir: Path,
        seed: int = 0,
        doors: Iterable[str] = DOORS,
        malformed: int = 30,
        extra_args: Iterable[str] = (),
        seeds: Sequence[Path] = (),
        header: text.Header | None = None,
        limits: EngineLimits | None = None,
        abis: Sequence[int] = (64,),
    ) -> None:
        super().__init__()
        workdir.mkdir(parents=True, exist_ok=True)
        self.args = _ChildArgs(
            spec, str(workdir), seed, check_doors(doors), malformed, tuple(extra_args), tuple(abis)
        )
        # Corrupt seed files are skipped with a warning and reported (`corpus.skipped`).
        self.corpus = Corpus(None, header or text.Header()).load(*seeds, spec=spec)
        self._write_seeds(workdir / SEEDS_DIR, self.corpus.programs)
        self.workdir = workdir
        self.restarts = -1
        self.limits = limits or EngineLimits()
        self.fallback: Generator | None = None  # set once atheris proved blind
        self._recent: deque[float] = deque(maxlen=self.limits.max_restarts)
        self._start()

    @staticmethod
    def _write_seeds(directory: Path, programs: list[Program]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.iterdir():
            old.unlink()
        for p in programs:
            (directory / f"{Corpus.key(p)}.seed").write_bytes(seed_input(p))

    def _start(self) -> None:
        self.restarts += 1
        now = time.monotonic()
        self._recent.append(now)
        lim = self.limits
        if len(self._recent) == lim.max_restarts and now - self._recent[0] < lim.restart_window_s:
            raise InfraError(
                f"the atheris process died {lim.max_restarts} times in "
                f"{lim.restart_window_s:.0f}s; see {self.workdir}"
            )
        mine, theirs = socket.socketpair()
        cmd = [sys.executable, "-m", "rig.gen.atheris_engine", str(theirs.fileno())]
        self.proc = subprocess.Popen(cmd, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        self.conn = Connection(mine.detach())
        self.conn.send(self.args)

    def next_program(self) -> Program:
        if self.fallback is None and self._blind():
            log.warning(
                "atheris: no driver coverage in %d programs, so libFuzzer would keep "
                "mutating a handful of inputs onto one call; generating programs "
                "from the spec instead (is the module built with coverage?)",
                self.execs,
            )
            a = self.args
            self.fallback = Generator(a.spec, a.seed, a.doors, a.malformed, abis=a.abis)
            with contextlib.suppress(OSError, BrokenPipeError):
                self.conn.send(("stop",))
            self._reap()
        if self.fallback is not None:
            return self.fallback.program()
        while True:
            try:
                self.conn.send(("next",))
                kind, program = self.conn.recv()
                if kind == "program" and isinstance(program, Program):
                    return program
            except (EOFError, OSError, BrokenPipeError):
                pass
            log.warning("atheris process ended (exit %s); starting a new one", self.proc.poll())
            self._reap()
            self._start()

    def _blind(self) -> bool:
        return self.execs >= self.limits.blind_after_programs and not self.coverage.pcs

    def feedback(self, program: Program, result: Feedback) -> None:
        self.count(result)
        if self.fallback is not None:
            return
        # If the child is gone, the next next_program notices and restarts it.
        with contextlib.suppress(OSError):
            self.conn.send(("feedback", result))

    def stats(self) -> dict[str, int]:
        corpus = self.workdir / "libfuzzer-corpus"
        n = sum(1 for _ in corpus.iterdir()) if corpus.is_dir() else 0
        return {
            **self.base_stats(),
            "corpus": n,
            "restarts": self.restarts,
            "blind_fallback": int(self.fallback is not None),
        }

    def _reap(self) -> None:
        self.conn.close()
        for stop in (None, self.proc.terminate, self.proc.kill):
            if stop is not None:
                stop()
            try:
                self.proc.wait(timeout=5)
                return
            except subprocess.TimeoutExpired:
                continue

    def close(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(("stop",))
        self._reap()


if __name__ == "__main__":
    _child_main(Connection(int(sys.argv[1])))
