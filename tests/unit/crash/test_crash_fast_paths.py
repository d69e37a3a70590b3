"""The parser's shortcuts give what the plain way of computing the same thing gives.

Each shortcut (finding report lines by their headers, a caller's last lines found from the
end, templates as format strings, text a pattern must start with, lines a stack part can
match) is checked against a direct version on generated input. The parser as a whole is
pinned by test_crash_parse_snapshot.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rig.crash import casefile
from rig.crash import lines as L
from rig.crash import parse as P
from rig.crash import stack as S
from rig.crash import title as T
from rig.crash.formats import FORMATS, HEADERS, literal_prefix

PREFIXES = ["", "[   12.345678] ", "[   12.345678][  T123] ", "[   12.3][    C1] ", "<4>[ 1.0] "]
PIECES = [
    *HEADERS,
    *(lit for lit, _ in P._DISCOVER),
    "DEBUG:",
    "kernel",
    " ? foo+0x1/0x2",
    " foo+0x1/0x2 (unreliable)",
    "<EOI>",
    "x",
    " ",
    "\x1b[0m",
    "\r",
    "]",
]
lines = st.builds(
    lambda p, parts: p + "".join(parts),
    st.sampled_from(PREFIXES),
    st.lists(st.sampled_from(PIECES), max_size=4),
)
logs = st.lists(lines, max_size=30).map("\n".join)


def _starts_by_probing(text: str) -> list[P._Start]:
    # What _find_starts() did before it looked for headers: every probe's line, in order.
    return P._visit(text, P._probe_positions(text, 0, len(text)), 0, [], False, True)


@settings(max_examples=400, deadline=None)
@given(logs)
def test_report_lines_found_by_their_headers_are_the_probed_ones(text: str) -> None:
    assert P._find_starts(text, dirty=P._dirty(text)) == _starts_by_probing(text)


WIDTHS = [0, 7, 400, 500, 900, 1000, 1010, 1020, 1030, 1100, 1500, 2100]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([*P.PROBES, *PIECES]), max_size=3),
    st.sampled_from(WIDTHS),
    st.lists(st.sampled_from(PIECES), max_size=3),
    st.sampled_from(WIDTHS),
    st.sampled_from(PREFIXES),
)
def test_long_lines_are_cut_into_the_same_windows(
    head: list[str], before: int, middle: list[str], after: int, prefix: str
) -> None:
    # Lines around and over MAX_LINE, with probes and headers at their start and inside.
    line = prefix + "".join(head) + "y" * before + "".join(middle) + "z" * after
    text = f"{line}\n{prefix}{''.join(middle)}\n{line}"
    assert P._find_starts(text, dirty=P._dirty(text)) == _starts_by_probing(text)


def test_every_header_is_found_by_a_discovery_literal() -> None:
    for header in HEADERS:
        assert any(header in h for pairs in P._DISCOVERED_BY.values() for h, _ in pairs)


def _prefix_by_caller_lines(text: str, ctx: str, lo: int, hi: int, keep: int) -> list[str]:
    got = L.caller_lines(text, ctx, lo, hi)
    if lo > 0 and got:
        got = got[1:]
    got = [ln for ln in P._filter(got, ctx) if ln]
    return got[-keep:]


@settings(max_examples=300, deadline=None)
@given(logs, st.integers(0, 400), st.sampled_from([1, 2, 5, 50]))
def test_last_caller_lines_are_the_last_of_caller_lines(text: str, lo: int, keep: int) -> None:
    for ctx in ("[  T123]", "[    C1]"):
        want = _prefix_by_caller_lines(text, ctx, min(lo, len(text)), len(text), keep)
        assert P._last_caller_lines(text, ctx, min(lo, len(text)), len(text), keep) == want


def _render_by_sub(template: str, args: list[str]) -> str:
    def arg(m: re.Match[str]) -> str:
        i = int(m.group(1)) - 1
        return args[i] if 0 <= i < len(args) else "%!v(BADINDEX)"

    return re.sub(r"\{(\d+)\}", arg, template)


@given(
    st.lists(st.sampled_from(["{1}", "{2}", "{0}", "{12}", "{", "}", "a", " in "]), max_size=8),
    st.lists(st.sampled_from(["", "x", "{y}", "f"]), max_size=4),
)
def test_templates_render_as_by_substitution(pieces: list[str], args: list[str]) -> None:
    template = "".join(pieces)
    assert T.render(template, args) == _render_by_sub(template, args)


def test_table_templates_render_as_by_substitution() -> None:
    for f in FORMATS:
        for template in (f.template, *f.alt):
            for n in range(5):
                args = [f"a{i}" for i in range(n)]
                assert T.render(template, args) == _render_by_sub(template, args)


@given(st.text(alphabet="0123456789abcdefx.:+/# -_syzkaller-executorCPU", max_size=60))
def test_normalize_matches_the_patterns_applied_in_turn(title: str) -> None:
    want = title
    for pattern, repl, _, _ in T._REPLACEMENTS:
        for _ in range(64):
            new, n = pattern.subn(repl, want)
            if n == 0 or new == want:
                break
            want = new
    assert T.normalize(title) == T.printable(want)


def test_title_prefixes_start_every_match_in_the_golden_logs() -> None:
    golden = Path(__file__).resolve().parents[2] / "testdata" / "console"
    checked = 0
    for path in casefile.case_paths(golden):
        text = casefile.load(path, keep_cr=True).log.decode("latin-1")
        for line in L.clean(text).split("\n"):
            for f in FORMATS:
                if f.title is None:
                    continue
                pos = line.find(f.header)
                while pos != -1:
                    if f.title.match(line, pos):
                        assert line.startswith(f.title_prefix, pos), (f.name, line)
                        checked += 1
                    pos = line.find(f.header, pos + 1)
    assert checked > 10


@given(st.sampled_from(["ab*", "a|b", "(a|b)c", r"x\.y", r"abc\d", "[|]ab", "a{2}", "ab?"]))
def test_literal_prefix_is_what_matches_start_with(pattern: str) -> None:
    prefix = literal_prefix(pattern)
    for s in ("abc", "ac", "b", "bc", "x.y", "abc1", "|ab", "aa", "a"):
        m = re.match(pattern, s)
        if m:
            assert s.startswith(prefix)


def test_stack_part_hints_are_in_every_line_the_part_matches() -> None:
    samples = [
        "BUG: KASAN: use-after-free in foo+0x1/0x2",
        "RIP: 0010:foo+0x1/0x2",
        "pc : foo+0x1/0x2",
        "Call Trace:",
        "Backtrace:",
        " apic_timer_interrupt+0x1/0x2",
        "Exception stack(0x1 to 0x2)",
        " el1h_64_irq+0x1/0x2",
        "Local variable x created at:",
        "Uninit was created at:",
        "page last allocated via order 0",
        "  backtrace (crc 1a):",
        "which became SOFTIRQ-unsafe at:",
        "at: [<ffffffff81000000>] foo+0x1/0x2",
        " [<ffffffff81000000>] foo+0x1/0x2",
        "--- interrupt: 900 at foo+0x1/0x2",
    ]
    for f in FORMATS:
        if f.stack is None:
            continue
        for part in (*f.stack.parts, *f.stack.parts2):
            hints = S._jump_hints(part)
            for line in samples:
                if hints and part.search(line):
                    assert any(h in line for h in hints), (part.pattern, line)


def _frame_by_lines(line: str) -> tuple[str | None, ...] | None:
    for p in S.FRAME_LINES:
        m = p.match(line)
        if m:
            return m.groups()
    return None


def _frame_by_one(line: str) -> tuple[str | None, ...] | None:
    # The one pattern's groups hold None for the branch that did not match.
    m = S._frame_match(line)
    return tuple(g for g in m.groups() if g is not None) if m else None


FRAME_PIECES = [
    " ",
    "[<",
    "ffff",
    "0x",
    "1f",
    ">]",
    "]",
    "foo",
    "bar_1",
    ".",
    "+",
    "(",
    ")",
    "from",
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(FRAME_PIECES), max_size=14))
def test_frame_lines_as_one_pattern_match_as_they_do_in_turn(pieces: list[str]) -> None:
    line = "".join(pieces)
    assert _frame_by_one(line) == _frame_by_lines(line)


def test_frame_lines_as_one_pattern_on_the_golden_logs() -> None:
    golden = Path(__file__).resolve().parents[2] / "testdata" / "console"
    for path in casefile.case_paths(golden):
        for line in casefile.load(path, keep_cr=True).log.decode("latin-1").split("\n"):
            text = line[line.find("] ") + 2 :] if "] " in line else line
            for candidate in (line, text):
                assert _frame_by_one(candidate) == _frame_by_lines(candidate)


def test_reports_made_without_init_are_those_init_makes() -> None:
    assert not hasattr(P.Report, "__post_init__")
    names = [f.name for f in dataclasses.fields(P.Report)]
    assert all(f.init for f in dataclasses.fields(P.Report))
    golden = Path(__file__).resolve().parents[2] / "testdata" / "console"
    for path in casefile.case_paths(golden):
        for r in P.parse(casefile.load(path, keep_cr=True).log):
            made = P.Report(**{n: getattr(r, n) for n in names})
            assert r == made and repr(r) == repr(made)
            if P._PLAIN_REPORT:  # not so when compiled (mypyc): no __dict__ then
                assert list(vars(r)) == names == list(vars(made))
            assert r.stack == made.stack


STACK_PIECES = [
    "Call Trace:",
    " <TASK>",
    " ? foo+0x1/0x2",
    " foo+0x1/0x2",
    " kasan_report+0x1/0x2",
    " do_syscall_64+0x1/0x2",
    "RIP: 0010:bar+0x1/0x2",
    "should_fail+0x1/0x2",
    " should_fail+0x1/0x2",
    "Allocated by task 1:",
    "BUG: KASAN: use-after-free in baz+0x1/0x2",
    " apic_timer_interrupt+0x1/0x2",
    "",
    "x" * 300,
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(STACK_PIECES), min_size=1, max_size=40), st.data())
def test_stack_walks_on_given_lines_are_walks_on_the_text(
    lines: list[str], data: st.DataObject
) -> None:
    text = "\n".join([*lines, ""])
    pos = data.draw(st.integers(0, len(text) - 1))
    for f in FORMATS:
        if f.stack is not None:
            want = S.guilty_frames(f.stack, text, pos)
            assert S.guilty_frames(f.stack, text, pos, lines) == want, f.name


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["[   1.0][  T1] ", "[   1.0][  T2] ", "[   1.0][    C0] ", "[ 1.0] "]),
            st.sampled_from(["BUG: a", "WARNING: b", "x", "INFO: c"]),
            st.sampled_from([0, 10, 20000, 70000]),
        ),
        max_size=25,
    )
)
def test_region_ends_by_caller_index_are_those_of_the_walk(
    entries: list[tuple[str, str, int]],
) -> None:
    text = "".join(f"{p}{t}\n" + "y" * pad + "\n" for p, t, pad in entries)
    heads, _ = P._independent(P._find_starts(text, dirty=False))
    by_caller = P._by_caller(heads)
    for i in range(len(heads)):
        assert P._region_end(text, heads, i, by_caller) == P._region_end(text, heads, i)
