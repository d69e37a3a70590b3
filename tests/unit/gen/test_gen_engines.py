"""Engines under a fake executor: they alternate, survive crashes, keep and reload their corpus."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from gen_support import boundary_spec

from rig.errors import ConfigError
from rig.gen.engines import ENGINES, Coverage, make_engine
from rig.gen.feedback import Feedback
from rig.prog.program import FileWrite, Ioctl, NlSend, Program

SPEC = boundary_spec()


def fake_execute(p: Program) -> Feedback:
    """Coverage from what the calls are; a program whose first call is a big write 'crashes'."""
    if p.calls and isinstance(p.calls[0], FileWrite) and len(p.calls[0].data) > 4096:
        return Feedback.crash()
    pcs: list[int] = []
    for c in p.calls:
        if isinstance(c, Ioctl):
            pcs += [0x100, 0x100 + (c.cmd & 0xFF)]
        elif isinstance(c, NlSend):
            pcs += [0x200, 0x200 + (c.msg[16] if len(c.msg) > 16 else 0)]
        else:
            pcs.append(0x300 + len(type(c).__name__))
    return Feedback(tuple(pcs), ((5, 0x400, 7, len(p.calls)),), tuple(0 for _ in p.calls))


@pytest.mark.parametrize("name", ["generate", "random", "hypothesis"])
def test_engine_loop(name: str, tmp_path: Path) -> None:
    engine = make_engine(name, SPEC, tmp_path, seed=3)
    try:
        crashes = 0
        for _ in range(150):
            p = engine.next_program()
            p.validate()
            fb = fake_execute(p)
            crashes += fb.crashed
            engine.feedback(p, fb)
        stats = engine.stats()
        assert stats["execs"] == 150 and stats["crashes"] == crashes
        assert stats["pcs"] > 0
    finally:
        t = time.monotonic()
        engine.close()
        assert time.monotonic() - t < 5


@pytest.mark.parametrize("name", ["generate", "hypothesis"])
def test_corpus_persists_without_crashes(name: str, tmp_path: Path) -> None:
    engine = make_engine(name, SPEC, tmp_path, seed=1)
    for _ in range(100):
        p = engine.next_program()
        engine.feedback(p, fake_execute(p))
    engine.close()
    saved = list((tmp_path / "corpus").glob("*.prog"))
    assert saved
    (tmp_path / "corpus" / "broken.prog").write_text("rig-program 1\ndriver -\nspec -\nbogus(\n")
    again = make_engine(name, SPEC, tmp_path, seed=2)
    try:
        corpus = again.corpus  # type: ignore[attr-defined]
        assert len(corpus) == len(saved)
        assert any("broken.prog" in s for s in corpus.skipped)
        for p in corpus.programs:
            assert not fake_execute(p).crashed
    finally:
        again.close()


def test_unknown_engine_and_doors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown engine 'nope'"):
        make_engine("nope", SPEC, tmp_path)
    with pytest.raises(ConfigError, match="unknown door"):
        make_engine("generate", SPEC, tmp_path, doors=["ioctl", "usb"])
    assert set(ENGINES) == {"atheris", "hypothesis", "generate", "random"}
    make_engine("blind", SPEC, tmp_path).close()


def test_coverage_counts_new_pcs_and_edges() -> None:
    cov = Coverage()
    assert cov.add(Feedback((1, 2, 3))) == 3 + 3
    assert cov.add(Feedback((1, 2, 3))) == 0
    assert cov.add(Feedback((3, 1))) == 2  # edges (0,3) and (3,1)


def test_feedback_from_a_program_result() -> None:
    class Cmp:
        type, pc, arg1, arg2 = 5, 9, 1, 2

    class Call:
        def __init__(self, pcs: tuple[int, ...], errno: int) -> None:
            self.pcs, self.errno, self.cmps = pcs, errno, (Cmp(),)

    class Result:
        calls = (Call((1, 2), 0), Call((3,), 22))

    fb = Feedback.from_program_result(Result())
    assert fb.pcs == (1, 2, 3) and fb.errnos == (0, 22) and fb.cmps == ((5, 9, 1, 2),) * 2
    assert list(fb.edges()) == [(0, 1), (1, 2), (0, 3)]


def test_committed_seeds_load_cleanly() -> None:
    from gen_support import ROOT

    from rig.gen.generate import Corpus

    corpus = Corpus(None).load(ROOT / "corpora/seeds")
    assert len(corpus) >= 4 and corpus.skipped == []


def test_seeds_for_another_driver_never_reach_this_one(tmp_path: Path) -> None:
    """The bundled driver's seed programs open /dev/boundary; a uinput spec must not run them."""
    from rig.gen.generate import Corpus, outside
    from rig.prog import text
    from rig.spec.types import Device, Spec

    seeds = Path(__file__).resolve().parents[3] / "corpora" / "seeds"
    other = Spec("uinput", (Device("/dev/uinput"),))
    corpus = Corpus(None).load(seeds, spec=other)
    assert corpus.programs == [] and corpus.foreign
    assert corpus.skipped == [], "another driver's seeds are not damage worth a warning"
    assert all("/dev/boundary" in s or "'boundary'" in s for s in corpus.foreign)
    mine = Corpus(None).load(seeds)
    assert mine.programs, "without a spec nothing is filtered"
    pf = text.load(sorted(seeds.glob("*.prog"))[0])
    assert outside(pf.program, other) is not None
