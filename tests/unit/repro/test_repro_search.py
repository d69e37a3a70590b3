"""Search and minimisation against fake replay oracles: no VM, deterministic or seeded-flaky."""

from __future__ import annotations

import random
import struct
from collections.abc import Callable, Sequence

import pytest

from rig.deadline import Deadline
from rig.guest.proglog import LoggedProgram
from rig.prog import text
from rig.prog.program import (
    BAD_FD,
    Buffer,
    Call,
    Close,
    FileRead,
    FileWrite,
    Ioctl,
    NlSend,
    NlSocket,
    Open,
    Program,
    Read,
    Reloc,
    Write,
)
from rig.repro.minimize import minimize
from rig.repro.oracle import Oracle, OutOfBudget, Verdict
from rig.repro.search import ddmin, extract
from rig.repro.transform import concatenate, drop_attr, normalize, remove_calls

TITLE = "BUG: bad usercopy in boundary_xfer_in_unchecked"
SET_CONFIG, XFER = 0x4028B702, 0xC018B703


class FakeReplayer:
    """Crashes when the flat call list satisfies `bug`; may miss crashes at a seeded rate."""

    def __init__(self, bug: Callable[[list[Call]], str | None], miss: float = 0.0) -> None:
        self.bug = bug
        self.miss = miss
        self.rng = random.Random(7)
        self.runs: list[tuple[Program, ...]] = []

    def replay(self, programs: Sequence[Program]) -> Verdict:
        self.runs.append(tuple(programs))
        for p in programs:
            p.validate()
        title = self.bug(_flat(programs))
        if title is not None and self.rng.random() < self.miss:
            title = None
        return Verdict(title, seconds=1.0)


def _flat(programs: Sequence[Program]) -> list[Call]:
    joined = concatenate(programs)
    assert joined is not None
    return list(joined.calls)


def xfer(length: int, op: int = 0, data: bytes = b"X" * 128) -> Buffer:
    return Buffer.of(
        struct.pack("<QIIII", 0, length, op, 0, 0), ptrs=(Reloc(0, Buffer.of(data, size=256)),)
    )


def config(size: int) -> Buffer:
    return Buffer.of(struct.pack("<II32s", 0, size, b"trigger"))


def overflow_bug(calls: list[Call]) -> str | None:
    """A configured fd, then an XFER copy-in longer than the configured size."""
    sizes: dict[int, int] = {}
    for i, c in enumerate(calls):
        if isinstance(c, Ioctl) and c.cmd == SET_CONFIG and isinstance(c.arg, Buffer):
            data = c.arg.data.ljust(8, b"\0")
            size = struct.unpack_from("<I", data, 4)[0]
            if size and isinstance(calls[c.fd], Open):
                sizes[c.fd] = size
        if isinstance(c, Ioctl) and c.cmd == XFER and c.fd in sizes and isinstance(c.arg, Buffer):
            data = c.arg.data.ljust(16, b"\0")
            length, op = struct.unpack_from("<II", data, 8)
            if op == 0 and length > sizes[c.fd] and c.arg.ptrs:
                return TITLE
        del i
    return None


def noise(n: int) -> Program:
    return Program(
        (
            Open("/dev/boundary"),
            Ioctl(0, 0x8038B701, Buffer.of(size=56)),
            Write(0, b"noise %d" % n),
            Read(0, 16),
            Close(0),
        )
    )


TRIGGER = Program(
    (
        Open("/dev/boundary", 0x2, 0o644),
        Ioctl(0, 0x8038B701, Buffer.of(size=56)),
        FileRead("/proc/boundary/status", 4096),
        Ioctl(0, SET_CONFIG, config(64)),
        NlSocket(),
        Ioctl(0, XFER, xfer(65)),
        Close(4),
    )
)


def logged(programs: list[Program]) -> list[LoggedProgram]:
    return [LoggedProgram(i + 1, text.ProgramFile(p)) for i, p in enumerate(programs)]


def make_oracle(replayer: FakeReplayer, title: str | None = TITLE, seconds: float = 1e6) -> Oracle:
    return Oracle(replayer, title, Deadline(seconds))


def test_the_last_program_on_the_console_is_tried_alone_first() -> None:
    entries = logged([noise(1), noise(2), TRIGGER, noise(3), noise(4)])
    fake = FakeReplayer(overflow_bug)
    found = extract(entries, 3, make_oracle(fake))
    assert found is not None and found.programs == [TRIGGER] and found.phase == "last program"
    assert fake.runs == [(TRIGGER,)], "programs logged after the marker never ran"
    assert found.first_try


def test_state_spread_over_programs_is_found_by_suffix_bisection_and_joined() -> None:
    setup = Program((Open("/dev/boundary"), Ioctl(0, SET_CONFIG, config(64))))
    # The fd does not survive the program in a real VM; the fake keeps the call list flat,
    # so the split trigger works only when the programs run together.
    fire = Program((Open("/dev/boundary"), Ioctl(0, XFER, xfer(65))))

    def split_bug(calls: list[Call]) -> str | None:
        kinds = [type(c).__name__ + (hex(c.cmd) if isinstance(c, Ioctl) else "") for c in calls]
        s = " ".join(kinds)
        return TITLE if f"Ioctl{SET_CONFIG:#x}" in s and f"Ioctl{XFER:#x}" in s else None

    entries = logged([noise(1), setup, noise(2), noise(3), noise(4), fire])
    t = make_oracle(FakeReplayer(split_bug))
    found = extract(entries, 6, t)
    assert found is not None
    assert found.phase == "joined" and len(found.programs) == 1
    assert found.programs[0] == concatenate([setup, fire])
    phases = [s.phase for s in t.steps]
    assert phases[0] == "last program" and "suffix of 2" in phases and "bisection" in phases


def test_nothing_found_when_no_suffix_crashes() -> None:
    t = make_oracle(FakeReplayer(lambda calls: None))
    assert extract(logged([noise(1), noise(2), noise(3)]), 3, t) is None
    # Each candidate was tried three times: last alone, suffix of 2, the whole log.
    assert [(s.phase, s.tries) for s in t.steps] == [
        ("last program", 3),
        ("suffix of 2", 3),
        ("suffix of 3", 3),
    ]


def test_a_flaky_crash_is_caught_by_retries() -> None:
    fake = FakeReplayer(overflow_bug, miss=0.6)
    t = make_oracle(fake)
    found = extract(logged([noise(1), TRIGGER]), 2, t)
    assert found is not None and found.programs == [TRIGGER]
    assert t.attempts([TRIGGER]).tries >= 1


def test_another_title_is_not_a_reproduction() -> None:
    t = make_oracle(FakeReplayer(lambda calls: "WARNING in something_else"))
    assert extract(logged([TRIGGER]), 1, t) is None
    assert t.other_titles["WARNING in something_else"] == 3


def test_without_a_title_the_first_crash_sets_it() -> None:
    t = make_oracle(FakeReplayer(overflow_bug), title=None)
    assert extract(logged([TRIGGER]), None, t) is not None
    assert t.title == TITLE


def test_minimise_drops_unneeded_calls_and_simplifies_arguments() -> None:
    fake = FakeReplayer(overflow_bug)
    t = make_oracle(fake)
    out = minimize([TRIGGER], t, tries=1)
    assert out.complete
    (p,) = out.programs
    assert [type(c).__name__ for c in p.calls] == ["Open", "Ioctl", "Ioctl"]
    assert overflow_bug(list(p.calls)) == TITLE
    opened, cfg, xf = p.calls
    assert isinstance(opened, Open) and opened.mode == 0
    assert isinstance(cfg, Ioctl) and isinstance(cfg.arg, Buffer)
    # The name is zeroed, the size the smallest that still works (1), flags were zero already.
    assert cfg.arg.data == struct.pack("<II", 0, 1).rstrip(b"\0")
    assert isinstance(xf, Ioctl) and isinstance(xf.arg, Buffer)
    length = struct.unpack_from("<I", xf.arg.data.ljust(16, b"\0"), 8)[0]
    assert length == 65, "a smaller length no longer overflows the configured size"
    inner = xf.arg.ptrs[0].target
    assert isinstance(inner, Buffer) and inner.data == b"" and inner.size == 0
    # The oracle saw a crash for every accepted step, and the result still crashes.
    assert t.test(out.programs, "check", 1)


def test_minimise_keeps_the_best_so_far_when_the_budget_runs_out() -> None:
    fake = FakeReplayer(overflow_bug)
    t = make_oracle(fake, seconds=0.0)
    out = minimize([TRIGGER], t, tries=1)
    assert not out.complete and out.programs == [normalize(TRIGGER)]
    assert "stopped early" in out.notes[0]


def test_budget_stops_the_search() -> None:
    t = make_oracle(FakeReplayer(overflow_bug), seconds=0.0)
    with pytest.raises(OutOfBudget):
        extract(logged([TRIGGER]), 1, t)


def test_minimise_with_a_flaky_bug_never_accepts_a_non_crashing_step() -> None:
    fake = FakeReplayer(overflow_bug, miss=0.3)
    out = minimize([TRIGGER], make_oracle(fake), tries=3)
    assert overflow_bug(list(out.programs[0].calls)) == TITLE


def test_ddmin_finds_the_needed_items() -> None:
    calls: list[list[int]] = []

    def crashes(items: list[int]) -> bool:
        calls.append(items)
        return 3 in items and 7 in items

    assert ddmin(list(range(10)), crashes) == [3, 7]
    assert len(calls) < 40


def test_remove_calls_turns_references_to_dropped_calls_into_badfd() -> None:
    p = Program((Open("/a"), NlSocket(), Read(0, 1), NlSend(1, "f", b""), Close(0)))
    q = remove_calls(p, {0})
    assert q.calls == (NlSocket(), Read(BAD_FD, 1), NlSend(0, "f", b""), Close(BAD_FD))
    q.validate()


def test_drop_attr_fixes_the_message_length() -> None:
    attr1 = struct.pack("<HHI", 8, 1, 1)
    attr2 = struct.pack("<HH", 5, 2) + b"x\0\0\0"
    body = struct.pack("<BBH", 2, 1, 0) + attr1 + attr2
    msg = struct.pack("<IHHII", 16 + len(body), 0, 5, 1, 0) + body
    out = drop_attr(msg, 0, 1)
    assert out is not None and len(out) == len(msg) - 8
    assert struct.unpack_from("<I", out)[0] == len(out)
    assert out.endswith(attr1)
    assert drop_attr(msg, 0, 5) is None and drop_attr(b"junk", 0, 0) is None


def test_minimise_drops_netlink_attributes_and_halves_writes() -> None:
    attr_mode = struct.pack("<HHI", 8, 1, 1)
    attr_label = struct.pack("<HH", 8, 2) + b"abc\0"
    body = struct.pack("<BBH", 2, 1, 0) + attr_label + attr_mode
    msg = struct.pack("<IHHII", 16 + len(body), 0, 5, 1, 0) + body

    def nl_bug(calls: list[Call]) -> str | None:
        for c in calls:
            if isinstance(c, NlSend) and c.sock != BAD_FD and attr_mode in c.msg:
                return "BUG: unable to handle kernel NULL pointer dereference in x"
        return None

    prog = Program(
        (
            NlSocket(),
            FileWrite("/sys/class/misc/boundary/label", b"A" * 48),
            NlSend(0, "boundary", msg),
        )
    )
    fake = FakeReplayer(nl_bug)
    out = minimize([prog], Oracle(fake, None, Deadline(1e6)), tries=1)
    (p,) = out.programs
    assert len(p.calls) == 2
    send = p.calls[1]
    assert isinstance(send, NlSend) and attr_label not in send.msg and attr_mode in send.msg
