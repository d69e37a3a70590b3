"""The durable program log and the readable form of results."""

from __future__ import annotations

import struct
from pathlib import Path

from agent_support import call_record, result_payload
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.guest import proglog
from rig.guest.display import format_result
from rig.guest.protocol import decode_result
from rig.prog import text
from rig.prog.arbitrary import programs
from rig.prog.program import FileRead, NlSend, NlSocket, Program


@settings(max_examples=30, deadline=None)
@given(st.lists(programs(max_calls=4), min_size=1, max_size=5))
def test_log_reads_back_what_was_appended(tmp_path_factory: object, progs: list[Program]) -> None:
    path = Path(str(tmp_path_factory.mktemp("log"))) / "programs.log"  # type: ignore[attr-defined]
    header = text.Header("ab" * 32, None)
    with proglog.ProgramLog(path, header) as log:
        for seq, p in enumerate(progs, 100):
            log.append(seq, p)
    got = proglog.read_log(path)
    assert [(g.seq, g.file.program) for g in got] == list(enumerate(progs, 100))
    assert all(g.file.header == header for g in got)


def test_torn_record_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "programs.log"
    with proglog.ProgramLog(path) as log:
        log.append(1, Program((FileRead("/proc/version", 5),)))
        log.append(2, Program((FileRead("/proc/version", 6),)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])  # the writer died mid-record
    assert [p.seq for p in proglog.read_log(path)] == [1]
    assert proglog.find(path, 1) is not None and proglog.find(path, 2) is None


def test_a_log_stays_bounded_and_its_tail_spans_the_rotation(tmp_path: Path) -> None:
    path = tmp_path / "programs.log"
    big = Program((FileRead("/proc/version", 5),) * 40)  # about 1 KiB as text
    with proglog.ProgramLog(path, max_bytes=16 * 1024) as log:
        for seq in range(1000):
            log.append(seq, big)
    older = proglog.previous(path)
    assert path.stat().st_size <= 16 * 1024 and older.stat().st_size <= 16 * 1024
    # What ran last is whole and in order, also across the two files.
    tail = [p.seq for p in proglog.read_log(path, 24 * 1024)]
    assert tail == list(range(tail[0], 1000)) and len(tail) > 16
    whole = [p.seq for p in proglog.read_log(path)]
    assert whole == list(range(whole[0], 1000))
    assert proglog.find(path, whole[0]) is not None


def test_a_reopened_log_counts_what_it_already_holds(tmp_path: Path) -> None:
    path = tmp_path / "programs.log"
    prog = Program((FileRead("/proc/version", 5),) * 40)
    for _ in range(3):
        with proglog.ProgramLog(path, max_bytes=8 * 1024) as log:
            for seq in range(6):
                log.append(seq, prog)
    assert path.stat().st_size <= 8 * 1024


def test_format_result() -> None:
    msg = struct.pack("<IHHII", 36, 2, 0, 1, 0) + struct.pack("<i", -22) + bytes(16)
    prog = Program((FileRead("/proc/version", 5), NlSocket(), NlSend(1, "boundary", b"x" * 300)))
    calls = [call_record(ret=5, out=b"Linux"), call_record(ret=3), call_record(ret=36, out=msg)]
    lines = format_result(prog, decode_result(result_payload(7, calls), 7, 3, 4096))
    assert lines[0].startswith('  0 file_read("/proc/version", 5) = 5  [')
    assert lines[1] == '      out "Linux"'
    assert lines[3].endswith("...") is False and "..." in lines[3]
    assert "netlink EINVAL" in "\n".join(lines)
    assert lines[-1] == "program 7: ok"
