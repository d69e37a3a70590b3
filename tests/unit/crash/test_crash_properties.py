"""Properties of the parser on any input, and its cost on pathological input.

The properties are syzkaller's self-checks (pkg/report/fuzz.go) as hypothesis
tests: parsing never raises, every line the watcher takes for a report start
is inside a report, titles are never empty, and start < end. The 200 MB cases
are cheap by design (linear scans, bounded windows); their caps are generous
so a slow CI machine passes, while a quadratic regression would not.
"""

from __future__ import annotations

import os
import re
import resource
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.crash.formats import START_RE
from rig.crash.lines import MAX_LINE
from rig.crash.parse import Report, parse

MB = 1024 * 1024

REPORT_LINES = [
    "BUG: kernel NULL pointer dereference, address: 0000000000000008",
    "general protection fault, probably for non-canonical address 0xdead000000000122: 0000",
    "WARNING: CPU: 0 PID: 1 at drivers/x.c:1 foo+0x1/0x2 [boundary]",
    "WARNING: CPU: 0 PID: 1 at",
    "kernel BUG at lib/list_debug.c:59!",
    "invalid opcode: 0000 [#1] PREEMPT SMP NOPTI",
    "Kernel panic - not syncing: Fatal exception",
    "INFO: task a:1 blocked for more than 120 seconds.",
    "watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [a:1]",
    "BUG kmalloc-64 (Not tainted): Object already free",
    "BUG: KASAN: use-after-free in foo+0x1/0x2",
    "BUG: KASAN:",
    "UBSAN: shift-out-of-bounds in x.c:1:2",
    "divide error: 0000 [#1] SMP",
    "INFO:",
    "BUG:",
    "ODEBUG: not a report",
    "---[ end trace 0000000000000000 ]---",
    "Call Trace:",
    " <TASK>",
    " foo+0x1/0x2 [boundary]",
    " ? bar.cold+0x1/0x2",
    "RIP: 0010:foo+0x1/0x2",
    "==================================================================",
    "Read of size 8 at addr ffff888000000000 by task a/1",
]
PREFIXES = ["", "[   12.345678] ", "[   12.345678][  T123] ", "[   12.3][    C1] ", "<4>[ 1.0] "]

lines = st.one_of(
    st.builds(lambda p, s: p + s, st.sampled_from(PREFIXES), st.sampled_from(REPORT_LINES)),
    st.text(max_size=80),
    st.text(alphabet="BUGWARNINFO: []\t\x1b\r", max_size=30),
)
logs = st.builds(
    lambda ls, seps: "".join(line + sep for line, sep in zip(ls, seps, strict=False)),
    st.lists(lines, max_size=40),
    st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=40, max_size=40),
)
# The console watcher's view of a line: escapes and CRs removed (rig.console.transcript).
WATCHER_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")


def _watched_lines(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, WATCHER_ANSI.sub("", line).replace("\r", "")))
        pos += len(line) + 1
    return out


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(logs)
def test_reports_cover_every_start_line(text: str) -> None:
    reports = parse(text)
    for r in reports:
        assert r.title.strip()
        assert 0 <= r.start < r.end <= len(text)
    for pos, line in _watched_lines(text):
        if len(line) < MAX_LINE and START_RE.search(line):
            assert any(r.start <= pos < r.end for r in reports), (pos, line)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_never_raises_on_bytes(data: bytes) -> None:
    for r in parse(data):
        assert r.title and r.start < r.end <= len(data)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_never_raises_on_text(text: str) -> None:
    for r in parse(text):
        assert r.title and r.start < r.end <= len(text)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bounded(text: str | bytes, seconds: float, extra_mb: float) -> list[Report]:
    before = _peak_mb()
    t0 = time.perf_counter()
    reports = parse(text)
    took = time.perf_counter() - t0
    assert took < seconds, f"{took:.1f}s"
    assert _peak_mb() - before < extra_mb
    return reports


def test_a_200mb_line_without_newline() -> None:
    text = "x" * (200 * MB)
    assert _bounded(text, seconds=20, extra_mb=300) == []


def test_a_report_start_followed_by_200mb_of_noise() -> None:
    noise = "[  12.345678] usb 1-1: new high-speed USB device number 2 using ehci-pci\n"
    text = "[   1.0] BUG: kernel NULL pointer dereference, address: 0000000000000008\n" + (
        noise * (200 * MB // len(noise))
    )
    (r,) = _bounded(text, seconds=20, extra_mb=300)
    assert r.end < 1 * MB  # the report is cut, not the log swallowed
    assert r.truncated


def test_random_bytes() -> None:
    data = os.urandom(16 * MB)
    _bounded(data, seconds=20, extra_mb=200)
