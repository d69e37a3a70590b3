"""The format table: its invariants, and classify()/START_RE on real first lines."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.crash import formats
from rig.crash.formats import FORMATS, GROUPS, HEADERS, START_RE, classify
from rig.crash.kinds import Kind, crash_type
from rig.crash.parse import PROBES


def test_names_are_unique() -> None:
    names = [f.name for f in FORMATS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_title_patterns_start_with_their_header(fmt: formats.ReportFormat) -> None:
    # The parser only tries title patterns where the header occurs; this makes it sound.
    if fmt.title is None:
        return
    unescaped = re.sub(r"\\(.)", r"\1", fmt.title.pattern.removeprefix("^"))
    assert unescaped.startswith(fmt.header.rstrip(".")), fmt.name


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_templates_use_only_available_arguments(fmt: formats.ReportFormat) -> None:
    pattern = fmt.report or fmt.title
    if pattern is None:
        return
    sections = 0 if fmt.stack is None else sum(p is formats.STACK for p in fmt.stack.parts) or 1
    available = pattern.groups + sections
    for template in (fmt.template, *fmt.alt):
        for n in re.findall(r"\{(\d+)\}", template):
            assert 1 <= int(n) <= available, (fmt.name, template)


def test_every_group_has_a_row_to_fall_back_on() -> None:
    for header in HEADERS:
        assert formats.fallback(header).header == header
        assert GROUPS[header]


# First lines as a Debian 6.1 kernel prints them, and the row each must select.
FIRST_LINES = [
    ("BUG: kernel NULL pointer dereference, address: 0000000000000008", "null-deref"),
    ("BUG: unable to handle page fault for address: ffffb0b9c0a35000", "paging"),
    (
        "general protection fault, probably for non-canonical address 0xdead000000000122: "
        "0000 [#1] PREEMPT SMP NOPTI",
        "gpf",
    ),
    ("divide error: 0000 [#1] PREEMPT SMP NOPTI", "divide-error"),
    ("kernel BUG at drivers/misc/boundary.c:41!", "kernel-bug"),
    ("kernel BUG at mm/usercopy.c:102!", "usercopy"),
    ("kernel BUG at lib/list_debug.c:59!", "list-corruption"),
    (
        "Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: "
        "label_store+0xb1/0xc0 [boundary]",
        "stack-protector",
    ),
    ("watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [rig-agent:291]", "soft-lockup"),
    ("INFO: task rig-agent:302 blocked for more than 120 seconds.", "hung-task"),
    ("rcu: INFO: rcu_sched self-detected stall on CPU", "rcu-stall"),
    (
        "WARNING: CPU: 0 PID: 291 at /build/driver/boundary_debugfs.c:62 "
        "boundary_inject_warn+0x2b/0x40 [boundary]",
        "warning",
    ),
    ("BUG kmalloc-64 (Tainted: G           OE     ): Object already free", "slub-double-free"),
    ("BUG kmalloc-64 (Not tainted): Redzone overwritten", "slub"),
    ("BUG: KASAN: use-after-free in boundary_status_owner+0x3c/0x90 [boundary]", "kasan"),
    ("UBSAN: array-index-out-of-bounds in drivers/misc/boundary.c:12:3", "ubsan-array-index"),
    ("Kernel panic - not syncing: Fatal exception", "fatal-exception"),
]


@pytest.mark.parametrize(("line", "name"), FIRST_LINES)
def test_classify_first_lines(line: str, name: str) -> None:
    for prefix in ("", "[  112.482913] ", "[  370.114823][   T31] ", "<4>[    1.5] "):
        assert START_RE.search(prefix + line)
        fmt = classify(prefix + line)
        assert fmt is not None and fmt.name == name


@pytest.mark.parametrize(
    "line",
    [
        "ODEBUG: selftest passed",
        "INFO: lockdep is turned off.",
        "WARNING: /etc/ssh/moduli does not exist, using fixed modulus",
        "EXT4-fs (vda): WARNING: mounting fs with errors",
        "boundary: ready, 13 planted bugs compiled in",
        "Oops: 0000 [#1] PREEMPT SMP NOPTI",
        "",
    ],
)
def test_lines_that_are_not_reports(line: str) -> None:
    assert START_RE.search(line) is None
    assert classify(line) is None


def test_kinds_and_fatality_of_the_drivers_reports() -> None:
    assert formats.BY_NAME["null-deref"].kind is Kind.NULL_DEREF
    assert formats.BY_NAME["null-deref"].fatal
    assert not formats.BY_NAME["warning"].fatal
    assert not formats.BY_NAME["slub-double-free"].fatal
    assert formats.BY_NAME["warning"].end is formats.END_TRACE
    assert formats.BY_NAME["slub-double-free"].end is formats.END_SLUB
    assert formats.BY_NAME["kasan"].end is formats.END_SANITIZER


def test_end_patterns_match_what_ends_reports() -> None:
    assert formats.END_TRACE.search("[  1.0] ---[ end trace 0000000000000000 ]---")
    assert formats.END_TRACE.search(
        "---[ end Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: "
        "label_store+0xb1/0xc0 [boundary] ]---"
    )
    assert formats.END_SLUB.search("FIX kmalloc-64: Object at 0xffff9c0a81286a80 not freed")
    assert formats.END_SANITIZER.search("=" * 66)


def test_crash_types_follow_syzkaller() -> None:
    assert crash_type("KASAN: slab-out-of-bounds Write in foo") == "KASAN-WRITE"
    assert crash_type("WARNING in foo") == "WARNING"
    assert crash_type("INFO: task hung in foo") == "HANG"
    assert crash_type("BUG: unable to handle kernel NULL pointer dereference in f") == (
        "NULL-POINTER-DEREFERENCE"
    )
    assert crash_type("something else") == ""


@given(st.text(max_size=200))
def test_start_re_agrees_with_classify(line: str) -> None:
    line = line.replace("\n", " ")
    assert (START_RE.search(line) is not None) == (classify(line) is not None)


@given(
    st.sampled_from(HEADERS),
    st.text(max_size=40).map(lambda s: s.replace("\n", " ")),
    st.text(max_size=40).map(lambda s: s.replace("\n", " ")),
)
def test_start_re_agrees_with_classify_around_headers(header: str, a: str, b: str) -> None:
    line = a + header + b
    assert (START_RE.search(line) is not None) == (classify(line) is not None)


def test_every_header_contains_a_probe_of_the_scanner() -> None:
    for header in HEADERS:
        assert any(p in header for p in PROBES), header
