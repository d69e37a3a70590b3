"""The parser on console logs: titles, frames, modules, offsets, contexts, several reports."""

from __future__ import annotations

from pathlib import Path

from rig.crash import casefile
from rig.crash.kinds import Kind
from rig.crash.parse import contains_report, parse, parse_first
from rig.crash.stack import strip_suffixes

GOLDEN = Path(__file__).resolve().parents[2] / "testdata" / "console"


def log_of(name: str) -> bytes:
    return casefile.load(GOLDEN / name, keep_cr=True).log


WARNING = """\
[  301.552870] ------------[ cut here ]------------
[  301.553348] WARNING: CPU: 0 PID: 291 at drivers/misc/boundary.c:62 boundary_inject_warn.constprop.0+0x2b/0x40 [boundary]
[  301.554254] Modules linked in: boundary(OE)
[  301.556338] RIP: 0010:boundary_inject_warn.constprop.0+0x2b/0x40 [boundary]
[  301.562542] Call Trace:
[  301.562726]  <TASK>
[  301.563123]  ? boundary_inject_warn.constprop.0+0x2b/0x40 [boundary]
[  301.564912]  boundary_inject_write+0x71/0xa0 [boundary]
[  301.565264]  full_proxy_write+0x5c/0x90
[  301.565535]  vfs_write+0xcc/0x3f0
[  301.566880]  </TASK>
[  301.567046] ---[ end trace 0000000000000000 ]---
"""


def test_compiler_suffixes_are_stripped_and_module_frames_located() -> None:
    (r,) = parse(WARNING)
    assert r.title == "WARNING in boundary_inject_warn"
    assert r.kind is Kind.WARNING and not r.fatal
    assert r.guilty is not None
    assert r.guilty.function == "boundary_inject_warn"
    assert r.guilty.raw == "boundary_inject_warn.constprop.0"
    assert (r.guilty.module, r.guilty.offset, r.guilty.size) == ("boundary", 0x2B, 0x40)
    assert [f.function for f in r.stack] == [
        "boundary_inject_write",
        "full_proxy_write",
        "vfs_write",
    ]
    assert r.stack[0].module == "boundary"
    assert not r.corrupted and not r.truncated


def test_strip_suffixes() -> None:
    assert strip_suffixes("foo.cold") == "foo"
    assert strip_suffixes("foo.constprop.0") == "foo"
    assert strip_suffixes("foo.isra.12.cold") == "foo"
    assert strip_suffixes("foo.part.3.constprop.1") == "foo"
    assert strip_suffixes("foo_bar") == "foo_bar"


def test_offsets_delimit_the_report() -> None:
    text = "boot line\n" + WARNING + "[  302.0] after the report\n"
    (r,) = parse(text)
    assert text[r.start :].startswith("[  301.552870] ------------[ cut here ]") is False
    assert text[r.start :].startswith("[  301.553348] WARNING:")
    assert text[: r.end].endswith("---[ end trace 0000000000000000 ]---")
    assert r.start < r.end


def test_bytes_offsets_are_byte_offsets() -> None:
    prefix = "héllo wörld ✓\n".encode()
    data = prefix + WARNING.encode()
    (r,) = parse(data)
    assert data[r.start :].startswith(b"[  301.553348] WARNING:")
    (s,) = parse(data.decode("utf-8"))
    assert s.title == r.title


def test_timestamps_off_give_the_same_title() -> None:
    stripped = "\n".join(line.split("] ", 1)[1] for line in WARNING.splitlines()) + "\n"
    assert [r.title for r in parse(stripped)] == ["WARNING in boundary_inject_warn"]


def test_crlf_lone_cr_and_escapes() -> None:
    crlf = WARNING.replace("\n", "\r\n")
    assert parse(crlf)[0].title == "WARNING in boundary_inject_warn"
    # The watcher deletes CRs and escapes from a line; a header they split is a header.
    split = WARNING.replace("WARNING:", "WARN\rING:").replace("RIP:", "\x1b[1mRIP\x1b[0m:")
    assert parse(split)[0].title == "WARNING in boundary_inject_warn"
    coloured = WARNING.replace("WARNING:", "\x1b[1;31mWARNING:").replace("\n", "\x1b[0m\n")
    assert parse(coloured)[0].title == "WARNING in boundary_inject_warn"
    (r,) = parse(log_of("20"))
    assert r.title.endswith("in boundary_crash_hook_call")


def test_continuations_join_the_report_before_them() -> None:
    reports = parse(log_of("27"))  # oops, then "Kernel panic - not syncing: Fatal exception"
    assert len(reports) == 1
    assert reports[0].panicked
    assert reports[0].kind is Kind.NULL_DEREF


def test_several_reports_in_order() -> None:
    oops = log_of("9").decode()
    text = WARNING + "[  310.0] boundary: still running\n" + oops
    reports = parse(text)
    assert [r.title for r in reports] == [
        "WARNING in boundary_inject_warn",
        "divide error in boundary_status_ratio",
    ]
    assert reports[0].end <= reports[1].start
    assert parse_first(text) == reports[0]
    assert contains_report(text)
    assert not contains_report("[    1.0] nothing to see\n")
    assert parse("") == []


def test_caller_ids_separate_interleaved_output() -> None:
    lines = []
    for i, line in enumerate(WARNING.splitlines()):
        stamp, rest = line.split("] ", 1)
        lines.append(f"{stamp}][  T291] {rest}")
        # Another task prints between every line, with frames of its own.
        lines.append(f"[  301.56{i:04d}][  T777]  other_task_function+0x1/0x2")
    (r,) = parse("\n".join(lines) + "\n")
    assert r.title == "WARNING in boundary_inject_warn"
    assert "other_task_function" not in r.text
    assert r.stack[0].function == "boundary_inject_write"


def test_report_text_has_context_lines_and_no_prefixes() -> None:
    (r,) = parse(log_of("25"))
    assert r.text.startswith("list_del corruption.")
    assert "kernel BUG at lib/list_debug.c:59!" in r.text
    assert "[  455." not in r.text
    assert r.title == "BUG: corrupted list in boundary_event_drain"


def test_truncated_and_corrupted_reports() -> None:
    (r,) = parse(log_of("22"))
    assert r.truncated and r.corrupted
    assert r.title == "general protection fault in boundary_event_drain"
    (whole,) = parse(log_of("26"))
    assert not whole.truncated and not whole.corrupted


def test_no_report_in_a_clean_boot() -> None:
    assert parse(log_of("23")) == []


def test_hung_task_with_caller_ids_and_panic() -> None:
    (r,) = parse(log_of("21"))
    assert r.title == "INFO: task hung in boundary_xfer"
    assert r.alt_titles == ("hang in boundary_xfer",)
    assert r.type == "HANG"
    assert r.panicked
