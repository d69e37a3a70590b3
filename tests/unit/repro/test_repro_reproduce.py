"""reproduce() end to end over a fake runner: outputs, stored status, `rig crashes`, honesty."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from repro_support import TITLE, FakeRunner, make_image, record

from rig.cli.main import cli as rig_cli
from rig.config import Home
from rig.context import RunContext
from rig.crash.store import CrashStore, ReproStatus
from rig.prog import text
from rig.prog.program import BAD_FD, Buffer, Call, FileWrite, Ioctl, Open, Program
from rig.repro import inputs
from rig.repro.reproduce import reproduce

XFER, GET_INFO = 0xC018B703, 0x8038B701
NOISE = Program((Open("/dev/boundary"), Ioctl(0, GET_INFO, Buffer.of(size=56))))
TRIGGER = Program(
    (
        Open("/dev/boundary"),
        Ioctl(0, GET_INFO, Buffer.of(size=56)),
        FileWrite("/sys/class/misc/boundary/label", b"noise"),
        Ioctl(0, XFER, Buffer.of(b"\x01\x02", size=24)),
    )
)


def unconfigured(calls: list[Call]) -> str | None:
    """An XFER on a valid fd that no SET_CONFIG configured."""
    for c in calls:
        if (
            isinstance(c, Ioctl)
            and c.cmd == XFER
            and c.fd != BAD_FD
            and isinstance(calls[c.fd], Open)
        ):
            return TITLE
    return None


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home").ensure()


def test_reproduced_minimised_written_and_recorded(home: Home) -> None:
    bid = record(home, make_image(home), [NOISE, NOISE, TRIGGER])
    runner = FakeRunner(unconfigured)
    res = reproduce(RunContext(home), bid, 60, runs=3, replayer=runner)
    assert res.reproduced and res.c_verified
    assert res.status == ReproStatus("reproduced", 3, 3)
    assert res.found_by == "last program" and res.minimized
    assert res.title == TITLE and res.time_to_verified_s is not None
    (p,) = res.programs
    assert [type(c).__name__ for c in p.calls] == ["Open", "Ioctl"]
    bdir = home.root / "crashes" / bid
    assert res.files == {
        "prog": bdir / "repro.prog",
        "c": bdir / "repro.c",
        "md": bdir / "repro.md",
    }
    assert text.load(bdir / "repro.prog").program == p
    assert "Reproducer for: " + TITLE in (bdir / "repro.c").read_text()
    md = (bdir / "repro.md").read_text()
    assert md.startswith(f"# {TITLE}") and "**3 of 3**" in md and "6.1.0-56-amd64" in md
    assert json.loads((bdir / "manifest.json").read_text())["image_id"] == "img0"
    assert len(runner.binaries) == 3
    with CrashStore.open(home.root) as store:
        b = store.bucket(bid)
        assert b is not None and b.repro == ReproStatus("reproduced", 3, 3)
    out = CliRunner().invoke(rig_cli, ["--home", str(home.root), "crashes", "--json"])
    assert out.exit_code == 0
    row = json.loads(out.output)[0]
    assert row["repro"] == "reproduced 3/3"
    assert row["repro_files"]["c"] == str(bdir / "repro.c")
    out = CliRunner().invoke(rig_cli, ["--home", str(home.root), "crashes"])
    assert "reproduced 3/3" in out.output
    out = CliRunner().invoke(rig_cli, ["--home", str(home.root), "crashes", "show", bid[:8]])
    assert "repro reproduced 3/3" in out.output
    assert "reproducer repro.prog  repro.c  repro.md" in out.output


def test_a_crash_that_does_not_come_back_is_not_a_success(home: Home) -> None:
    bid = record(home, make_image(home), [NOISE, TRIGGER])
    res = reproduce(RunContext(home), bid, 60, replayer=FakeRunner(lambda calls: None))
    assert not res.reproduced and not res.c_verified
    assert res.status.state == "failed" and res.files == {}
    assert res.message.startswith("not reproduced")
    with CrashStore.open(home.root) as store:
        b = store.bucket(bid)
        assert b is not None and b.repro.state == "failed"


def test_a_c_reproducer_that_does_not_crash_is_reported(home: Home) -> None:
    bid = record(home, make_image(home), [TRIGGER])
    res = reproduce(
        RunContext(home), bid, 60, runs=2, replayer=FakeRunner(unconfigured, c_crashes=False)
    )
    assert res.reproduced and not res.c_verified
    assert res.status == ReproStatus("failed", 0, 2)
    assert "none of 2" in res.message


def test_a_flaky_c_reproducer_is_flaky(home: Home) -> None:
    bid = record(home, make_image(home), [TRIGGER])
    runner = FakeRunner(unconfigured)
    flips = itertools.cycle([True, False])
    real = runner.run_binary

    def sometimes(binary: bytes, args: tuple[str, ...], timeout_s: float):  # type: ignore[no-untyped-def]
        v = real(binary, args, timeout_s)
        return v if next(flips) else type(v)(None, v.seconds)

    runner.run_binary = sometimes  # type: ignore[method-assign]
    res = reproduce(RunContext(home), bid, 60, runs=3, replayer=runner)
    assert res.status == ReproStatus("flaky", 2, 3)


def test_state_over_two_programs_gives_a_joined_reproducer(home: Home) -> None:
    setup = Program((FileWrite("/sys/class/misc/boundary/threshold", b"0"),))
    fire = Program((Open("/dev/boundary"), Ioctl(0, XFER, Buffer.of(size=24))))

    def needs_both(calls: list[Call]) -> str | None:
        has_setup = any(isinstance(c, FileWrite) and c.data == b"0" for c in calls)
        return unconfigured(calls) if has_setup else None

    bid = record(home, make_image(home), [NOISE, setup, NOISE, fire])
    res = reproduce(RunContext(home), bid, 60, runs=1, replayer=FakeRunner(needs_both))
    assert res.reproduced and res.found_by == "joined"
    (p,) = res.programs
    assert len(p.calls) == 3
    read_back = inputs.read_programs(home.root / "crashes" / bid / "repro.prog")
    assert [e.file.program for e in read_back] == [p]


def test_out_of_budget_before_a_crash_is_not_reproduced(home: Home) -> None:
    bid = record(home, make_image(home), [TRIGGER])
    res = reproduce(RunContext(home), bid, 0, replayer=FakeRunner(unconfigured))
    assert not res.reproduced and "budget" in res.message


def test_background_reproducer_takes_new_buckets_once(home: Home) -> None:
    from rig.repro.background import BackgroundReproducer

    image = make_image(home)
    bid = record(home, image, [TRIGGER])
    worker = BackgroundReproducer(
        RunContext(home), 60, runs=1, runner=lambda: FakeRunner(unconfigured)
    )
    worker.start()
    assert worker.submit(bid)
    assert not worker.submit(bid), "a bucket is reproduced once"
    worker.wait_idle()
    worker.stop(5)
    assert worker.results[bid].status == ReproStatus("reproduced", 1, 1)
    fresh = BackgroundReproducer(RunContext(home), 60, runner=lambda: FakeRunner(unconfigured))
    assert not fresh.submit(bid), "a bucket with a status is left alone"


def test_a_reproduction_stopped_by_its_caller_leaves_the_status_alone(home: Home) -> None:
    import threading

    bid = record(home, make_image(home), [NOISE, TRIGGER])
    stop = threading.Event()
    stop.set()
    res = reproduce(RunContext(home), bid, 60, replayer=FakeRunner(unconfigured), stop=stop)
    assert not res.reproduced and res.message.startswith("stopped on request")
    with CrashStore.open(home.root) as store:
        b = store.bucket(bid)
        assert b is not None and b.repro.state == "none"


def test_a_spec_sets_what_the_replayed_programs_may_touch(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rig repro --spec: a loose program for /dev/video0 is allowed it, not only module paths."""
    from rig.repro import reproduce as reproduce_mod
    from rig.spec.types import Device, Spec

    seen = {}

    class Stop(Exception):
        pass

    def fake_replayer(host: object, image: object, **kw: object) -> None:
        seen.update(kw)
        raise Stop

    monkeypatch.setattr(reproduce_mod, "VmReplayer", fake_replayer)
    img = make_image(home)
    prog = home.root / "video.prog"
    text.dump(prog, Program((Open("/dev/video0"),)))
    spec = Spec("uvcvideo", (Device("/dev/video0"),))
    with pytest.raises(Stop):
        reproduce(RunContext(home), prog, 60, image=img.id, host=object(), spec=spec)  # type: ignore[arg-type]
    assert "/dev/video0" in seen["config"].allow_paths  # type: ignore[attr-defined]
