"""The atheris engine: deterministic decoding, feedback to libFuzzer, and a toy target it must solve."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from gen_support import boundary_spec

from rig.gen.atheris_engine import (
    AtherisEngine,
    CoverageFeeder,
    decode,
    dictionary,
    equal_bytes,
    libfuzzer_seed,
)
from rig.gen.feedback import Feedback
from rig.prog import text, wire
from rig.prog.program import Buffer, Ioctl, Program
from rig.spec.types import Device, Dir, Field, Int, Ptr, Spec, Struct, StructRef
from rig.spec.types import Ioctl as IoctlSpec

SPEC = boundary_spec()


def test_decoding_is_deterministic_and_valid() -> None:
    rng = random.Random(5)
    nonempty = 0
    for _ in range(300):
        data = rng.randbytes(rng.randrange(1, 600))
        p = decode(SPEC, data)
        assert decode(SPEC, data) == p
        p.validate()
        assert text.loads(text.dumps(p)).program == p
        assert wire.decode(wire.encode(p)) == p
        nonempty += bool(p.calls)
    assert nonempty > 250
    assert decode(SPEC, b"") == decode(SPEC, b"")


class FakeAtheris:
    def __init__(self) -> None:
        self.next = 0
        self.branches: list[int] = []
        self.cmps: list[tuple[int, int, int, int, bool]] = []

    def _reserve_counter(self) -> int:
        self.next += 1
        return self.next - 1

    def _trace_branch(self, idx: int) -> None:
        self.branches.append(idx)

    def _trace_cmp(self, a: int, b: int, op: int, idx: int, const: bool) -> Any:
        self.cmps.append((a, b, op, idx, const))
        return a == b


def test_feeder() -> None:
    fake = FakeAtheris()
    feeder = CoverageFeeder(fake)
    feeder.feed(Feedback((1, 2, 3), ((7, 0x40, 0xFFFFFFFF_DEADBEEF, 0xBEEF), (1, 0x41, 5, 5))))
    assert len(fake.branches) == 3 + 1  # three edges and one near miss (the equal pair is not)
    assert all(b < feeder.cmp_base for b in fake.branches[:3])
    assert fake.branches[3] >= feeder.cmp_base
    (a, b, _, _, const), (c, d, _, _, _) = fake.cmps
    assert (a, b, const) == (-0x21524111, 0xBEEF, True)  # 8-byte operands, signed for atheris
    assert (c, d) == (5, 5)  # 1-byte operands masked
    fake.branches.clear()
    feeder.feed(Feedback((9,), crashed=True))
    assert fake.branches == []
    assert equal_bytes(0x11223344, 0x11AA3344, 4) == 3


def test_dictionary_has_codes_and_words() -> None:
    d = dictionary(SPEC)
    assert SPEC.ioctls[0].code.to_bytes(4, "little") in d
    assert any(w.encode() in d for w in SPEC.words)


MAGIC = 0x5A17C0DE
CODE = (1 << 30) | (8 << 16) | (0x77 << 8) | 1
TOY = Spec(
    "toy",
    (Device("/dev/toy", ("TOY_SET",)),),
    (IoctlSpec("TOY_SET", CODE, Dir.IN, 0x77, 1, 8, Ptr(StructRef("toy_req"))),),
    (Struct("toy_req", 8, 4, (Field("key", 0, Int(4)), Field("value", 4, Int(4)))),),
)


def toy_execute(p: Program) -> tuple[Feedback, bool]:
    """A driver that compares a field with a magic value it never reveals except through cmps."""
    pcs, cmps, solved = [1], [], False
    for c in p.calls:
        if len(p.calls) > 9:
            return Feedback.crash(), False  # long programs "crash the VM"
        if isinstance(c, Ioctl) and c.cmd == CODE and isinstance(c.arg, Buffer):
            key = int.from_bytes(c.arg.data[:4].ljust(4, b"\0"), "little")
            pcs.append(2)
            cmps.append((1 | (2 << 1), 0x40, MAGIC, key))  # const, 4 bytes
            if key == MAGIC:
                pcs.append(3)
                solved = True
    return Feedback(tuple(pcs), tuple(cmps)), solved


def test_toy_target_is_solved_and_the_corpus_persists(tmp_path: Path) -> None:
    engine = AtherisEngine(TOY, tmp_path, seed=1)
    solved, crashes = False, 0
    start = time.monotonic()
    try:
        while not solved and time.monotonic() - start < 60:
            p = engine.next_program()
            fb, solved = toy_execute(p)
            crashes += fb.crashed
            engine.feedback(p, fb)
        elapsed = time.monotonic() - start
        stats = engine.stats()
    finally:
        engine.close()
    assert solved, f"not solved in {elapsed:.1f}s: {stats}"
    assert stats["restarts"] == 0
    assert engine.proc.poll() is not None  # the child is gone
    corpus = list((tmp_path / "libfuzzer-corpus").iterdir())
    assert corpus
    # The next run starts from that corpus: the solving input is in it, so it is found again fast.
    again = AtherisEngine(TOY, tmp_path, seed=2)
    try:
        for _ in range(len(corpus) + 50):
            p = again.next_program()
            fb, hit = toy_execute(p)
            again.feedback(p, fb)
            if hit:
                break
        else:
            raise AssertionError("the persisted corpus did not reach the magic again")
    finally:
        again.close()


SEEDS = Path(__file__).resolve().parents[3] / "corpora" / "seeds"


def test_a_spelled_seed_decodes_to_itself_and_a_broken_one_falls_back() -> None:
    from rig.gen.atheris_engine import seed_input

    seed = text.load(SEEDS / "ioctl-config-transfer.prog").program
    data = seed_input(seed)
    assert decode(SPEC, data) == seed
    mutated = data.replace(b"0x8038b701", b"0x8038b7q1")  # no longer a program
    assert decode(SPEC, mutated) == decode(SPEC, mutated)  # decoded the ordinary way
    assert decode(SPEC, mutated) != seed


def test_seed_programs_are_fed_to_libfuzzer(tmp_path: Path) -> None:
    seed_dir = tmp_path / "seeds"
    seed_dir.mkdir()
    (seed_dir / "bad.prog").write_bytes(b"\x00not a program")
    wanted = []
    for path in sorted(SEEDS.glob("*.prog")):
        (seed_dir / path.name).write_bytes(path.read_bytes())
        wanted.append(text.load(path).program)
    engine = AtherisEngine(SPEC, tmp_path / "work", seed=1, seeds=[seed_dir])
    seen = []
    try:
        for _ in range(200):
            p = engine.next_program()
            seen.append(p)
            engine.feedback(p, Feedback((len(seen),), ()))
            if all(w in seen for w in wanted):
                break
    finally:
        engine.close()
    assert all(w in seen for w in wanted), "every seed ran as itself"
    assert [s for s in engine.corpus.skipped if "bad.prog" in s], "a corrupt seed is reported"


def test_each_worker_gets_its_own_libfuzzer_seed() -> None:
    # Workers of a campaign run seeds 0, 1, 2...; libFuzzer reads -seed=0 as random.
    seeds = [libfuzzer_seed(s) for s in range(8)]
    assert len(set(seeds)) == 8 and 0 not in seeds
    assert libfuzzer_seed(0xFFFFFFFF - 1) == 0xFFFFFFFF


def test_without_coverage_atheris_hands_over_to_generation(tmp_path: Path) -> None:
    """No PC ever: libFuzzer would mutate a few inputs onto one call; generation spreads out."""
    from collections import Counter

    from rig.config import EngineLimits

    codes = [(1 << 30) | (8 << 16) | (0x77 << 8) | nr for nr in range(1, 5)]
    names = tuple(f"TOY_{nr}" for nr in range(1, 5))
    spec = Spec(
        "toy",
        (Device("/dev/toy", names),),
        tuple(
            IoctlSpec(n, c, Dir.IN, 0x77, c & 0xFF, 8, Ptr(StructRef("toy_req")))
            for n, c in zip(names, codes, strict=True)
        ),
        TOY.structs,
    )
    engine = AtherisEngine(spec, tmp_path, seed=1, limits=EngineLimits(blind_after_programs=40))
    seen: Counter[int] = Counter()
    try:
        for i in range(400):
            p = engine.next_program()
            engine.feedback(p, Feedback((), ()))
            if i >= 40:
                seen.update(c.cmd for c in p.calls if isinstance(c, Ioctl))
        stats = engine.stats()
    finally:
        engine.close()
    assert stats["blind_fallback"] == 1 and stats["execs"] == 400
    assert engine.proc.poll() is not None, "the idle libFuzzer process is stopped"
    total = sum(seen[c] for c in codes)
    assert all(seen[c] / total > 0.15 for c in codes), seen


def test_fuzzer_inputs_decode_to_the_operands_compared_with_their_field() -> None:
    """ "warn:N", N reduced into a range and written as text: the compared value is nowhere
    in the input for libFuzzer to patch; the operands scoped to the field are offered."""
    from rig.gen.hints import Hints
    from rig.spec.types import File, FileKind, Grammar, TextCommand

    magic, key = 0x5A17C, "file:/sys/kernel/debug/toy/inject:warn.0"
    word = Grammar("int", min=0, max=1 << 20)
    g = Grammar("commands", commands=(TextCommand("warn", (word,), ":"),))
    spec = Spec("toy", files=(File("/sys/kernel/debug/toy/inject", 0o200, FileKind.DEBUGFS, g),))
    h = Hints()
    h.start()
    h.place(key, 8, 7)
    h.add([(1 | (2 << 1), 0x40, magic, 7)])  # the driver compared what the field held
    assert h.of_field(key) == [magic]

    def hits(hints: Hints | None) -> int:
        rng = random.Random(1)
        n = 0
        for _ in range(400):
            p = decode(spec, rng.randbytes(rng.randrange(8, 200)), ("debugfs",), hints=hints)
            n += sum(c.data.strip() == f"warn:{magic}".encode() for c in p.calls)  # type: ignore[union-attr]
        return n

    assert hits(None) == 0
    assert hits(h) >= 20


def test_a_spec_with_nothing_for_a_dictionary_still_fuzzes(tmp_path: Path) -> None:
    """libFuzzer exits on an empty -dict file: such a spec restarted it until it gave up."""
    from rig.spec.types import File, FileKind, Grammar

    spec = Spec("toy", files=(File("/sys/x", 0o200, FileKind.SYSFS, Grammar("int", min=0, max=9)),))
    assert dictionary(spec) == []
    engine = AtherisEngine(spec, tmp_path, seed=1, doors=("sysfs",))
    try:
        for _ in range(50):
            p = engine.next_program()
            engine.feedback(p, Feedback((1,), ()))
        assert engine.stats()["restarts"] == 0
    finally:
        engine.close()


def test_typed_mutations_are_spelled_programs_and_the_rest_is_libfuzzers() -> None:
    """The custom mutator: a typed mutation decodes to exactly the program it made, the same
    libFuzzer seed gives the same bytes, and the other seeds go to libFuzzer's own mutator."""
    from rig.gen.atheris_engine import SEED_MAGIC, typed_mutator
    from rig.gen.build import DOORS
    from rig.gen.hints import Hints

    fell_back: list[bytes] = []

    def fallback(data: bytes, max_size: int) -> bytes:
        fell_back.append(data)
        return data[::-1]

    mutate = typed_mutator(SPEC, DOORS, 30, Hints(), (64,), fallback, percent=50)
    rng = random.Random(9)
    typed = 0
    for seed in range(200):
        data = rng.randbytes(300)
        out = mutate(data, 4096, seed)
        if seed % 100 >= 50:
            assert out == data[::-1]
            continue
        if not out.startswith(SEED_MAGIC):
            continue  # an empty program or too long: libFuzzer's mutation instead
        typed += 1
        p = decode(SPEC, out)
        p.validate()
        assert decode(SPEC, out) == p and p.calls
        assert mutate(data, 4096, seed) == out, "deterministic in libFuzzer's seed"
    assert typed > 50 and len(fell_back) >= 100
