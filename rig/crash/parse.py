"""Console text to kernel reports: find each report, title it, find its guilty frame.

Pure functions. `parse(log)` finds every line that starts a report (a header of
`rig.crash.formats` that no ignore pattern excuses), groups follow-up lines such
as "Kernel panic - not syncing" into the report before them, and describes each
report: title in syzkaller's Linux format, kind, guilty frame, cleaned call
trace, report text, offsets in the log, and whether it looks corrupted or
truncated. The algorithm follows syzkaller's pkg/report/linux.go; the work per
report is bounded (MAX_REGION characters, MAX_LINE per line) so the cost of a
log is linear in its size.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from itertools import islice
from typing import Any, Final, NamedTuple

from rig.crash import lines as L
from rig.crash import stack as S
from rig.crash import title as T
from rig.crash.formats import (
    CONTINUATIONS,
    END_SANITIZER,
    END_SLUB,
    END_TRACE,
    GROUPS,
    HEADERS,
    INFO_WITH_STACK,
    ReportFormat,
    classify,
)
from rig.crash.kinds import Kind, crash_type
from rig.crash.rustsym import demangle

log = logging.getLogger(__name__)

MAX_REGION: Final = 256 * 1024  # characters of console after a report's first line
MAX_CALLER_REGION: Final = 64 * 1024  # the same when lines carry caller ids
CALLER_SILENCE: Final = 16 * 1024  # console without a line of the report's caller: it ended
_PANIC: Final = "Kernel panic - not syncing"
_CIRCULAR: Final = "WARNING: possible circular locking dependency detected"
_NO_FRAMES: Final = "extracted no frames"
_TIMESTAMP_IN_TITLE: Final = re.compile(r"\[ *[0-9]+\.[0-9]+\]", re.ASCII)
_GCE_HANGUP: Final = "serialport: VM disconnected."


@dataclass(frozen=True)
class Report:
    """One kernel report found in a console log."""

    title: str
    kind: Kind
    format: str  # name of the formats.FORMATS row
    frame: str  # the guilty function named by the title ("" if none)
    guilty: S.Frame | None  # the guilty frame (the title's, else the stack's) as printed:
    # compiler suffixes stripped from `function`, offset, size and module when known
    text: str  # the report, printk prefixes stripped, with a few lines of context
    start: int  # offset of the report's first line in the log (bytes for bytes input)
    end: int  # offset just past the report's last line
    corrupted: bool = False
    corrupted_reason: str = ""
    truncated: bool = False  # the log ended (or was cut) before the report did
    fatal: bool = False
    panicked: bool = False  # "Kernel panic - not syncing" followed
    alt_titles: tuple[str, ...] = ()
    type: str = ""  # syzkaller's crash type, "" when unknown
    executor: tuple[int, int] | None = field(default=None, compare=False)

    @cached_property
    def stack(self) -> tuple[S.Frame, ...]:
        """The report's first call trace, unreliable (`? `) frames dropped; computed when
        first read, as most consumers of a report never look at it."""
        return S.call_trace(self.text)


class _Start(NamedTuple):  # a tuple: many are made, and cheaply so
    start: int  # line start in the log
    end: int  # line end (before the newline)
    fmt: ReportFormat
    context: str
    continuation: bool


def parse(log_text: str | bytes) -> list[Report]:
    """Every report in a console log, in order of appearance."""
    text = _decode(log_text)
    dirty = _dirty(text)
    heads, tails = _independent(_find_starts(text, dirty=dirty))
    from_bytes = isinstance(log_text, bytes)
    by_caller = _by_caller(heads)
    return [
        _describe(text, head, _region_end(text, heads, i, by_caller), tails[i], from_bytes, dirty)
        for i, head in enumerate(heads)
    ]


def parse_first(log_text: str | bytes) -> Report | None:
    """The first report of a console log, or None (cheaper than parse()[0] on long logs)."""
    text = _decode(log_text)
    heads, tails = _independent(_find_starts(text, first_only=True))
    if not heads:
        return None
    region_end = _region_end(text, heads, 0)
    return _describe(
        text, heads[0], region_end, tails[0], isinstance(log_text, bytes), _dirty(text)
    )


def contains_report(log_text: str | bytes) -> bool:
    """Whether any line of the log starts a report."""
    return bool(_find_starts(_decode(log_text), first_only=True))


def _dirty(text: str) -> bool:
    """Whether L.clean() changes any part of `text` (escapes or CRs to remove)."""
    return "\x1b" in text or "\r" in text


def _decode(log_text: str | bytes) -> str:
    # latin-1 maps each byte to one character, so offsets stay byte offsets.
    return log_text.decode("latin-1") if isinstance(log_text, bytes) else log_text


# Substrings that every header contains one of: fewer passes over the log than one per
# header. A line holding a probe is then classified like any other.
PROBES: Final = (
    "BUG", "WARNING:", "INFO:", "Unable to handle kernel", "fault", "panic", "error:",
    "stack segment: ", "invalid opcode:", "UBSAN:", "Booting the kernel.",
    "unregister_netdevice: waiting for", "VFS: ", "Alignment trap:", "SYZFA",
)  # fmt: skip


_LONE_CR: Final = re.compile(r"\r(?!\n|\Z)")
# Whether any of CONTINUATIONS matches, in one search.
_CONTINUATION: Final = re.compile("|".join(f"(?:{p.pattern})" for p in CONTINUATIONS), re.ASCII)


def _find_starts(text: str, first_only: bool = False, dirty: bool = True) -> list[_Start]:
    """The lines that start reports; with `first_only`, the first one and what follows it
    within MAX_REGION (enough to delimit the first report)."""
    if first_only:
        return _visit(text, _probe_positions(text, 0, len(text)), 0, [], first_only, dirty)
    # A line of at most _SHORT characters is looked at whole whichever of its probes leads
    # to it, so only lines holding a header (or an escape or CR that cleaning removes)
    # need a look; longer lines are cut into windows that depend on where each probe is,
    # and are looked at probe by probe as before.
    starts: list[_Start] = []
    next_line = 0
    n = len(text)
    for pos in _candidates(text):
        if pos < next_line:
            continue  # a line already seen
        ls, le = L.line_bounds(text, pos)
        if (
            le - ls <= _SHORT
            and (ls == 0 or text[ls - 1] == "\n")
            and (le == n or text[le] == "\n")
        ):
            next_line = le + 1
            _look_at(text, ls, le, starts, dirty)
            continue
        ls = text.rfind("\n", 0, pos) + 1
        le = text.find("\n", pos)
        le = n if le == -1 else le
        _visit(text, _probe_positions(text, ls, le), ls, starts, False, dirty)
        next_line = le + 1
    return starts


_SHORT: Final = L.MAX_LINE - 1


def _probe_positions(text: str, lo: int, hi: int) -> list[int]:
    """Where text[lo:hi] holds a probe, an escape or a lone CR, in order."""
    positions: list[int] = []
    find = text.find
    for probe in PROBES:
        i = find(probe, lo, hi)
        while i != -1:
            positions.append(i)
            i = find(probe, i + 1, hi)
    # Removing escapes or a lone CR can join a header the raw text splits (the watcher
    # matches cleaned lines), so lines holding them are looked at too.
    i = find("\x1b", lo, hi)
    while i != -1:
        positions.append(i)
        i = find("\x1b", i + 1, hi)
    if "\r" in text:
        positions.extend(m.start() for m in _LONE_CR.finditer(text, lo, hi))
    positions.sort()
    return positions


def _visit(
    text: str,
    positions: list[int],
    next_line: int,
    starts: list[_Start],
    first_only: bool,
    dirty: bool,
) -> list[_Start]:
    """Look at the line (or window of a long line) around each position, in order."""
    for pos in positions:
        if pos < next_line:
            continue  # another header on a line already seen
        if first_only and starts and pos > starts[0].start + MAX_REGION:
            break
        ls, le = L.line_bounds(text, pos)
        next_line = le + 1
        _look_at(text, ls, le, starts, dirty)
    return starts


def _look_at(text: str, ls: int, le: int, starts: list[_Start], dirty: bool) -> None:
    line = L.clean(text[ls:le]) if dirty else text[ls:le]
    fmt = classify(line)
    if fmt is not None:
        cont = _CONTINUATION.search(line) is not None
        starts.append(_Start(ls, le, fmt, L.context(line), cont))


def _candidates(text: str) -> list[int]:
    """Positions, in order, such that every line holding a header (or an escape or a lone
    CR) holds one: where a header occurs, found by scans chosen to be fast (_DISCOVER),
    rather than everywhere a probe does (most probes hit lines of no report)."""
    out: list[int] = []
    startswith = text.startswith
    find, rfind = text.find, text.rfind
    for literal, how in _DISCOVER:
        pairs = _DISCOVERED_BY[literal]
        if how == "re":
            found: Iterable[int] = (m.start() for m in _literal_re(literal).finditer(text))
        else:
            found = _all(find if how == "find" else rfind, literal, how == "rfind")
        for i in found:
            for header, off in pairs:
                if i >= off and startswith(header, i - off):
                    out.append(i)
                    break
    out.extend(_all(find, "\x1b", False))
    if "\r" in text:
        out.extend(m.start() for m in _LONE_CR.finditer(text))
    out.sort()
    return out


def _all(search: Callable[..., int], literal: str, backwards: bool) -> Iterator[int]:
    """Every occurrence of `literal` (overlapping ones too) by str.find or str.rfind."""
    if backwards:
        i = search(literal)
        while i != -1:
            yield i
            i = search(literal, 0, i + len(literal) - 1)
    else:
        i = search(literal)
        while i != -1:
            yield i
            i = search(literal, i + 1)


@cache
def _literal_re(literal: str) -> re.Pattern[str]:
    return re.compile(re.escape(literal))


# Literals that find every header, each with the scan that is fastest for it on console
# logs: str.find tests a literal's last character at each step, str.rfind its first, and a
# regex its first too, by a plainer loop. A rare tested character makes a fast scan.
_DISCOVER: Final = (
    ("BUG", "rfind"), ("WARNING:", "rfind"), ("INFO:", "rfind"), ("UBSAN:", "rfind"),
    ("SYZFA", "rfind"), ("VFS:", "rfind"), ("Alignment", "rfind"), ("error:", "rfind"),
    ("panic", "re"), ("fault", "rfind"), ("Unable to handle kernel", "find"),
    ("Booting the kernel.", "find"), ("stack segment:", "find"),
    ("invalid opcode:", "find"), ("unregister_netdevice: waiting for", "find"),
)  # fmt: skip


def _discovered_by() -> dict[str, tuple[tuple[str, int], ...]]:
    """For each literal, the headers it finds and where it sits in them (every place)."""
    literals = [lit for lit, _ in _DISCOVER]
    # A regex finds non-overlapping matches only: it must not overlap itself.
    for literal, how in _DISCOVER:
        if how == "re" and any(literal.startswith(literal[k:]) for k in range(1, len(literal))):
            raise AssertionError(f"discovery literal overlaps itself: {literal!r}")
    out: dict[str, list[tuple[str, int]]] = {lit: [] for lit in literals}
    for header in HEADERS:
        lit = next((x for x in literals if x in header), None)
        if lit is None:
            raise AssertionError(f"no discovery literal finds header {header!r}")
        i = header.find(lit)
        while i != -1:
            out[lit].append((header, i))
            i = header.find(lit, i + 1)
    return {lit: tuple(pairs) for lit, pairs in out.items()}


_DISCOVERED_BY: Final = _discovered_by()


def _independent(starts: Sequence[_Start]) -> tuple[list[_Start], list[int]]:
    """The starts of separate reports, and for each the end of its last follow-up line.

    Follow-ups (panic, invalid opcode, ...) belong to the report before them, which
    then spans them whatever its own end.
    """
    heads: list[_Start] = []
    tails: list[int] = []
    for s in starts:
        if s.continuation and heads and s.start - heads[-1].start < MAX_REGION:
            tails[-1] = max(tails[-1], s.end)
            continue
        heads.append(s)
        tails.append(s.end)
    return heads, tails


def _by_caller(heads: Sequence[_Start]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, head in enumerate(heads):
        if head.context not in ("", L.CONSOLE):
            out.setdefault(head.context, []).append(i)
    return out


def _region_end(
    text: str,
    heads: Sequence[_Start],
    i: int,
    by_caller: dict[str, list[int]] | None = None,
) -> int:
    """Where the report that heads[i] starts ends. `by_caller`: the indices in `heads` of
    each caller's reports, in order (_by_caller()), to find the caller's next reports
    without walking the others."""
    head = heads[i]
    if head.context in ("", L.CONSOLE):
        # Without a caller id the next report ends this one.
        cap = min(len(text), head.start + MAX_REGION)
        return heads[i + 1].start if i + 1 < len(heads) and heads[i + 1].start < cap else cap
    # With caller ids, reports of other callers interleave with this one, and one of the
    # same caller may nest in it (a WARNING while dumping a stall): the second report of
    # this caller ends it, and so does a long silence of this caller.
    cap = min(len(text), head.start + MAX_CALLER_REGION)
    if by_caller is not None:
        mine = by_caller[head.context]
        k = bisect_right(mine, i) + 1  # this caller's second report after this one
        if k < len(mine) and heads[mine[k]].start < cap:
            cap = heads[mine[k]].start
    else:
        same = 0
        for j in range(i + 1, len(heads)):  # not heads[i + 1 :]: a copy per report is quadratic
            nxt = heads[j]
            if nxt.start >= cap:
                break
            if nxt.context == head.context:
                same += 1
                if same == 2:
                    cap = nxt.start
                    break
    tag = head.context + " "
    pos = head.start
    while True:
        # The caller's last line within the silence limit, if any: jump there.
        seen = text.rfind(tag, pos + 1, min(cap, pos + 1 + CALLER_SILENCE + len(tag)))
        if seen == -1:
            break
        pos = seen
    if pos + CALLER_SILENCE >= cap:
        return cap
    nl = text.find("\n", pos)
    return cap if nl == -1 else min(cap, nl + 1)


class _Body(NamedTuple):
    lines: list[str]  # the report's lines, prefixes stripped
    title_lines: int  # how many of them describe the report (the rest is intermixed)
    prefix: list[str]


def _body(text: str, head: _Start, region: str, panicked: bool, dirty: bool) -> _Body:
    first = L.clean(text[head.start : head.end]) if dirty else text[head.start : head.end]
    ctx = head.context
    # rfind() of "login:" is the fast test (its first character is the one compared).
    login = (
        (region.rfind("login:") != -1 and " login: " in region)
        or "printk messages dropped" in region
        or L.has_prompt(region)
    )
    # findall() sees the (cleaned) first line too; it is the report's title line.
    title_line = L.strip_prefix(first, ctx)[: L.MAX_LINE]
    lines = None
    if ctx and ctx != L.CONSOLE and not login:
        lines = _caller_lines(region, ctx, title_line)
    if lines is None:
        got = _context_lines(region, ctx, login, 0, len(region))
        if got:
            got[0] = title_line
        else:
            got = [title_line]
        lines = _filter(got, ctx, 1, _plain(region))
    # A panic decides `cut` without looking for the rest (and _DISABLING holds the other).
    if panicked or _CIRCULAR in region or "Disabling lock debugging" in region:
        lines[1:] = _skip_tail(
            lines,
            16 if "BUG: KMSAN:" in first else 22,
            panicked or _CIRCULAR in region,
            _DISABLING in region,
        )
    title_lines = len(lines)
    if ctx in ("", L.CONSOLE):
        # Without caller ids, a message that prints a stack of its own ends what can be
        # trusted of this report.
        cut = _intermixed_at(region)
        if cut != -1:
            before = _filter(_context_lines(region, ctx, login, 0, cut), ctx, 1, _plain(region))
            title_lines = min(title_lines, max(1, len(before)))
    return _Body(lines, title_lines, _prefix(text, head, dirty))


def _caller_lines(region: str, ctx: str, title_line: str) -> list[str] | None:
    """The lines of a caller's report (title line first, then the caller's others,
    filtered) in one pass over the region's lines, when no login prefix can occur; None
    when _context_lines() and _filter() have to do it (an all-CPU backtrace, an odd first
    line)."""
    if "Sending NMI from CPU" in region:
        return None
    pairs = L.caller_pairs(region)
    if not pairs or pairs[0][0] != ctx:
        return None
    lines = [title_line]
    if _plain(region):
        lines += [t for c, t in islice(pairs, 1, None) if c == ctx and " ? " not in t]
    else:
        lines += [
            t
            for c, t in islice(pairs, 1, None)
            if c == ctx and ((" ? " not in t and not t.endswith(" (unreliable)")) or "<EOI>" in t)
        ]
    if max(map(len, lines)) > L.MAX_LINE:  # the title line is within it already
        lines[1:] = [ln[: L.MAX_LINE] for ln in islice(lines, 1, None)]
    return lines


def _context_lines(region: str, ctx: str, login: bool, lo: int, hi: int) -> list[str]:
    """Lines of region[lo:hi] printed in `ctx`, prefixes stripped."""
    nmi = region.find("Sending NMI from CPU", lo, hi) if ctx not in ("", L.CONSOLE) else -1
    if nmi == -1:
        return L.lines_in(region, ctx, lo, hi, login=login)
    cut = region.rfind("\n", 0, nmi) + 1
    got = L.lines_in(region, ctx, lo, cut, login=login)
    nl = region.find("\n", cut)
    # The backtrace of all CPUs belongs to the report, whatever CPU prints it.
    cpus = L.context(region[cut : nl if nl != -1 else len(region)]) == ctx
    return got + L.lines_in(region, ctx, cut, hi, login=login, cpus=cpus)


def _plain(text: str) -> bool:
    """Whether no line of `text` says "<EOI>" or "(unreliable)": _filter() then only has
    " ? " to look for (rfind() is the faster test for both)."""
    return text.rfind("<EOI>") == -1 and text.rfind("(unreliable)") == -1


def _filter(got: list[str], ctx: str, keep: int = 0, plain: bool = False) -> list[str]:
    """`got` without the unwinder's guesses, lines cut at MAX_LINE; its first `keep` lines
    are kept as they are (a list of its own: `got` may be changed). `plain`: _plain()
    holds for the lines."""
    if ctx:
        # " ? func" (x86) and "func (unreliable)" (powerpc) are the unwinder's guesses.
        part = got[keep:] if keep else got
        if plain:
            rest = [ln for ln in part if " ? " not in ln]
        else:
            rest = [
                ln
                for ln in part
                if (" ? " not in ln and not ln.endswith(" (unreliable)")) or "<EOI>" in ln
            ]
        got = got[:keep] + rest if keep else rest
    if len(got) > keep and max(map(len, got[keep:] if keep else got)) > L.MAX_LINE:
        got[keep:] = [ln[: L.MAX_LINE] for ln in got[keep:]]
    return got


_DISABLING: Final = "Disabling lock debugging due to kernel taint"


def _skip_tail(lines: list[str], min_lines: int, cut: bool, drop: bool) -> list[str]:
    """lines[1:] up to a panic or a circular-locking report that follows the report
    (`cut`: there may be one), without "Disabling lock debugging" lines (`drop`)."""
    # With panic_on_warn the panic repeats the report's stack; lockdep reports that an
    # oops provokes are noise. Keep the report, drop what follows once it is long enough.
    end = len(lines)
    # lines[i] is the n-th line of the original count (n = i + 1), cut when n > min_lines.
    lo = max(1, min_lines)
    if cut and lo < end:
        # One scan of the joined lines rather than tests on each line.
        joined = "\n".join(lines[lo:])
        find = joined.find
        pos, at = 0, lo
        while True:
            p, c = find(_PANIC, pos), find(_CIRCULAR, pos)
            hit = p if c == -1 or (p != -1 and p < c) else c
            if hit == -1:
                break
            at += joined.count("\n", pos, hit)
            if _DISABLING not in lines[at]:
                end = at
                break
            nl = find("\n", hit)
            if nl == -1:
                break
            pos, at = nl + 1, at + 1
    rest = lines[1:end]
    if drop:
        rest = [ln for ln in rest if _DISABLING not in ln]
    return rest


def _intermixed_at(region: str) -> int:
    # A message that prints a stack of its own ends what can be trusted of this report.
    first_nl = region.find("\n")
    if first_nl == -1:
        return -1
    best = -1
    for msg in INFO_WITH_STACK:
        i = region.find(msg, first_nl)
        if i != -1 and (best == -1 or i < best):
            best = i
    if best == -1:
        return -1
    return region.rfind("\n", 0, best) + 1


def _prefix(text: str, head: _Start, dirty: bool) -> list[str]:
    # A few lines before the report often say what led to it (e.g. "list_add corruption").
    ctx = head.context
    keep = 50 if L.is_task(ctx) else 5
    lo = max(0, head.start - 160 * keep)
    if ctx not in ("", L.CONSOLE) and (
        not dirty
        or (text.find("\r", lo, head.start) == -1 and text.find("\x1b", lo, head.start) == -1)
    ):
        return _last_caller_lines(text, ctx, lo, head.start, keep)
    raw = text[lo : head.start]
    got = L.lines_in(L.clean(raw) if dirty else raw, ctx)
    if lo > 0:
        del got[:1]  # the first line is likely cut
    # _filter()'s test, and not empty; cutting at MAX_LINE keeps a line non-empty.
    got = [ln for ln in got if ln and (not ctx or _guess_free(ln))]
    return [ln[: L.MAX_LINE] for ln in got[-keep:]]


def _guess_free(ln: str) -> bool:
    # What _filter() keeps of a line.
    return (" ? " not in ln and not ln.endswith(" (unreliable)")) or "<EOI>" in ln


def _last_caller_lines(text: str, ctx: str, lo: int, hi: int, keep: int) -> list[str]:
    """What _prefix() keeps of L.caller_lines(text, ctx, lo, hi): its last `keep` lines
    that _filter() keeps and are not empty, without the first line when lo > 0; found
    from the end, so that only they are looked at."""
    got: list[str] = []
    pending: str | None = None  # a line that may be the first of the span
    tag = ctx + " "
    n = len(tag)
    find, rfind = text.find, text.rfind
    stamp = L.STAMP.fullmatch
    j = hi
    while True:
        i = rfind(tag, lo, j)
        if i == -1:
            break
        start = rfind("\n", lo, i) + 1  # 0, not lo, without a newline: as caller_lines()
        if stamp(text, start, i) is None:
            j = i + n - 1
            continue
        j = start  # no other tag of this line follows a stamp alone
        end = find("\n", i, hi)
        if pending and _guess_free(pending):
            got.append(pending[: L.MAX_LINE])
            if len(got) == keep:
                got.reverse()
                return got
        pending = text[i + n : hi if end == -1 else end]
    if pending and lo == 0 and _guess_free(pending):
        got.append(pending[: L.MAX_LINE])
    got.reverse()
    return got


class _Description:
    __slots__ = ("alts", "corrupted", "fmt", "frames", "title")

    def __init__(self) -> None:
        self.title = ""
        self.corrupted = ""
        self.alts: list[str] = []
        self.fmt: ReportFormat | None = None
        self.frames: list[S.KeyFrame] = []


def describe(report_text: str, header: str, lines: Sequence[str] | None = None) -> _Description:
    """Title a report's text (prefixes stripped) by the rows of `header`'s group.

    Among the rows whose title pattern matches, the one matching earliest wins (the
    first in table order on a tie); a row with a report pattern must match it too.
    `lines`, when given, are the text's lines (it is them joined, a newline after each).
    """
    d = _Description()
    # Every title pattern starts with the header: only its occurrences can match, found
    # once here rather than once per row.
    at = _occurrences(report_text, header)
    first = at[0] if at else -1
    best = len(report_text)
    matched = False
    startswith = report_text.startswith
    single = len(at) == 1
    for f, title, prefix in _TITLED[header]:
        # The title pattern's leftmost match at or before `best`.
        m = None
        if single:
            if startswith(prefix, first):
                m = title.match(report_text, first)
        else:
            for q in at:
                if q > best:
                    break
                if startswith(prefix, q):
                    m = title.match(report_text, q)
                    if m:
                        break
        if m is None:
            continue
        if m.start() == best and d.title:
            continue
        if m.start() < best:
            d.title, d.fmt, best = "", None, m.start()
        matched = True
        if f.report is not None:
            m = f.report.search(report_text)
            if m is None:
                continue
        args = list(m.groups(""))
        frames: list[S.KeyFrame] = []
        d.corrupted = ""
        if f.stack is not None:
            frames, ok = S.guilty_frames(f.stack, report_text, m.start(), lines)
            if not ok:
                d.corrupted = _NO_FRAMES
        names = args + [k.canonical for k in frames]
        d.title = T.render(f.template, names)
        d.alts.extend(T.render(a, names) for a in f.alt)
        if any(k.raw != k.canonical for k in frames):
            # Otherwise no frame has a prefix to strip: these titles are the ones above.
            d.alts.extend(_stripped_alts(f, args, frames, d.title))
        d.fmt, d.frames = f, frames
        if best == first:
            break  # no later row can match earlier, nor displace this one at a tie
    d.alts = list(dict.fromkeys(d.alts))
    if not d.title:
        if matched:
            d.corrupted = "matched title but not report regexp"
        pos = report_text.find(header)
        if pos != -1:
            nl = report_text.find("\n", pos)
            d.title = report_text[pos : nl if nl != -1 else len(report_text)]
    if not d.corrupted and d.fmt is not None and d.fmt.corrupted:
        d.corrupted = "report format is marked as corrupted"
    return d


# Each group's rows that have a title pattern, with it and its literal prefix.
_TITLED: Final = {
    h: tuple((f, f.title, f.title_prefix) for f in rows if f.title is not None)
    for h, rows in GROUPS.items()
}


def _occurrences(text: str, needle: str) -> list[int]:
    out = []
    find = text.find
    i = find(needle)
    while i != -1:
        out.append(i)
        i = find(needle, i + 1)
    return out


_ANY_PREFIX: Final = re.compile("|".join(map(re.escape, S.STRIP_PREFIXES)), re.ASCII)


def _stripped_alts(
    f: ReportFormat, args: list[str], frames: Sequence[S.KeyFrame], title: str
) -> Iterable[str]:
    # Titles with the raw frame, and with each syscall prefix stripped, also identify the
    # bug (syzkaller dedups by any shared title).
    raw = [demangle(k.raw) for k in frames]  # a mangled Rust name names no bug of its own
    prefixes = ["", *(S.STRIP_PREFIXES if any(_ANY_PREFIX.match(r) for r in raw) else ())]
    for i, prefix in enumerate(prefixes):
        trimmed = [r[len(prefix) :] if prefix and r.startswith(prefix) else r for r in raw]
        if i and trimmed == raw:
            continue
        alt = T.render(f.template, args + trimmed)
        if alt != title:
            yield alt
        for a in f.alt:
            yield T.render(a, args + trimmed)


# For each stack-start pattern: a substring every match holds, at a fixed offset from the
# match's start. Its first occurrence says where the first match can begin, so the pattern
# is searched from there rather than over the whole report (where it is slow: "[^k] ..."
# tries every position). Keys with a word are only looked for when it occurs, a test made
# with rfind(): these words' first characters are rarer than their last.
_STACK_KEYS: Final = tuple(
    zip(
        (*S.STACK_START, S.RISCV_STACK_START),
        (
            "Call ",
            "Allocated:",
            "Allocated by task",
            "Freed:",
            "Freed by task",
            " backtrace",
            "Backtrace:",
            "Uninit was stored",
            "badaddr: ",
        ),
        (0, 0, 0, 0, 0, 1, 0, 0, len("status: ") + 16 + 1),
        strict=True,
    )
)
# The keys in order, in groups behind a word that rfind() tests fast ("" for none).
_STACK_KEY_GROUPS: Final = (
    ("", _STACK_KEYS[0:1]),
    ("Allocated", _STACK_KEYS[1:3]),
    ("Freed", _STACK_KEYS[3:5]),
    ("acktrace", _STACK_KEYS[5:7]),
    ("Uninit", _STACK_KEYS[7:8]),
    ("badaddr: ", _STACK_KEYS[8:9]),
)


def _corruption(title: str, text: str, fmt: ReportFormat | None) -> str:
    if "[" in title and _TIMESTAMP_IN_TITLE.search(title):
        return "title matches corrupted regexp"
    if fmt is None or fmt.no_stack_trace:
        return ""
    # Each 'Call Trace', 'Allocated', 'Freed', 'backtrace' must be followed by frames.
    has_trace = False
    find, rfind = text.find, text.rfind
    for word, keys in _STACK_KEY_GROUPS:
        if word and rfind(word) == -1:
            continue
        for key, hint, offset in keys:
            at = find(hint)
            if at == -1:
                continue
            m = key.search(text, max(0, at - offset))
            if m is None:
                continue
            after = text[m.start() : m.start() + 16 * L.MAX_LINE].split("\n", 16)
            if len(after) < 4:
                return "call trace is missed"
            damaged = True
            for ln in after[1:16]:
                if S.is_stack_start(ln):
                    break
                if "(stack is not available)" in ln or S.has_frame(ln):
                    has_trace, damaged = True, False
                    break
            if key is not S.RISCV_STACK_START and damaged:
                return "no frames in a stack trace"
    return "" if has_trace else "no stack trace in report"


def _describe(
    text: str, head: _Start, region_end: int, tail: int, from_bytes: bool, dirty: bool
) -> Report:
    raw = text[head.start : region_end]
    region = L.clean(raw) if dirty else raw
    panicked = _PANIC in region
    body = _body(text, head, region, panicked, dirty)
    lines = body.lines
    # Each text ends with a newline: joined with an empty last line, in one copy.
    lines.append("")
    report_text = "\n".join(lines)
    lines.pop()
    n = body.title_lines
    title_text = report_text if n == len(lines) else "\n".join([*lines[:n], ""])
    header = head.fmt.header
    d = describe(title_text, header, lines if n == len(lines) else lines[:n])
    if not d.title:
        d.title = lines[0].strip() or head.fmt.name
    corrupted = d.corrupted or _corruption(d.title, report_text, d.fmt)
    if not corrupted and _GCE_HANGUP in region:
        corrupted = "console disconnected"
    fmt = d.fmt or head.fmt
    title = T.normalize(d.title) or T.printable(lines[0]) or fmt.name
    frame = T.frame_of(title)
    # On the raw text, so that offsets are the log's even where escapes were removed.
    end, ended = _report_end(raw, fmt)
    full = "\n".join([*body.prefix, report_text]) if body.prefix else report_text
    if from_bytes and not full.isascii():
        full = full.encode("latin-1").decode("utf-8", "replace")
    return _report(
        title=title,
        kind=fmt.kind,
        format=fmt.name,
        frame=frame,
        guilty=_guilty(d.frames, frame, report_text),
        text=full,
        start=head.start,
        end=max(head.start + end, tail),
        corrupted=bool(corrupted),
        corrupted_reason=corrupted,
        truncated=not ended,
        fatal=fmt.fatal,
        panicked=panicked,
        alt_titles=tuple(map(T.normalize, d.alts)),
        type=crash_type(title),
        executor=_executor(report_text),
    )


def _report(**fields: Any) -> Report:
    """Report(**fields), all fields given in their order, made without the generated
    __init__: a frozen dataclass's sets each field with a call to object.__setattr__.
    The same object (test_crash_fast_paths checks it), in a fraction of the time."""
    if not _PLAIN_REPORT:
        return Report(**fields)
    report: Report = object.__new__(Report)
    report.__dict__.update(fields)
    return report


def _plain_report() -> bool:
    # Compiled (mypyc), Report has no __dict__ to fill and a fast __init__.
    try:
        object.__new__(Report).__dict__  # noqa: B018
    except (TypeError, AttributeError):
        return False
    return True


_PLAIN_REPORT: Final = _plain_report()


# A literal every match of an end pattern contains, to find candidates quickly.
_END_LITERALS: Final[dict[str, str]] = {
    END_TRACE.pattern: "---[ end ",
    END_SANITIZER.pattern: "=" * 40,
    END_SLUB.pattern: "FIX ",
}


def _last_end(region: str, marker: re.Pattern[str], lo: int) -> int:
    literal = _END_LITERALS.get(marker.pattern)
    if literal is None:
        return max((m.end() for m in marker.finditer(region, lo)), default=-1)
    # The last line holding the literal first (searching backwards is also the faster
    # direction for these literals); in each line the marker is looked for from the
    # line's first literal on, as a forward scan line by line would.
    rfind = region.rfind
    j = len(region)
    while True:
        i = rfind(literal, lo, j)
        if i == -1:
            return -1
        start = max(rfind("\n", lo, i) + 1, lo)
        first = region.find(literal, start, i + len(literal))
        nl = region.find("\n", i)
        m = marker.search(region, first, nl if nl != -1 else len(region))
        if m:
            return m.end()
        if start == lo:
            return -1
        j = start


def _report_end(region: str, fmt: ReportFormat) -> tuple[int, bool]:
    """Where the report ends in `region`, and whether its end marker was seen.

    The end is the last end marker (of the report or of a panic that followed it),
    else the region's end. Offsets into the cleaned region equal offsets into the log
    unless escapes or CRs were removed; then the end is approximate.
    """
    first_nl = region.find("\n")
    if first_nl == -1:
        return max(1, len(region)), fmt.end is None
    own = _last_end(region, fmt.end, first_nl + 1) if fmt.end is not None else -1
    trace = _last_end(region, END_TRACE, first_nl + 1) if fmt.end is not END_TRACE else -1
    last = max(own, trace)
    seen = fmt.end is None or own != -1
    if last != -1:
        nl = region.find("\n", last)
        return (nl if nl != -1 else len(region)), seen
    return max(len(region.rstrip()), 1), seen


def _guilty(frames: Sequence[S.KeyFrame], name: str, text: str) -> S.Frame | None:
    """The guilty frame with its offset and module: the title's frame, else the stack's."""
    for k in frames:
        if k.canonical != "corrupted" and (
            not name or k.canonical == name or S.strip_suffixes(k.raw) == name
        ):
            return S.frame_from_line(k.line, k.raw) or S.Frame(k.canonical, k.raw)
    if not name:
        return None
    # Titles taken from the report line itself (stack-protector, ...): find it printed.
    for probe in (f" {name}+0x", f" {name}."):
        at = text.find(probe)
        if at != -1:
            nl = text.find("\n", at)
            found = S.frame_from_line(text[at : nl if nl != -1 else len(text)], name)
            if found is not None:
                return found
    return S.Frame(name, name)


_EXECUTOR: Final = re.compile(r" Comm: syz\.(\d+)\.(\d+) ", re.ASCII)


def _executor(text: str) -> tuple[int, int] | None:
    # The pattern's leading literal, found at C speed: the regex engine would try each space.
    i = text.find(" Comm: syz.")
    while i != -1:
        m = _EXECUTOR.match(text, i)
        if m:
            return int(m.group(1)), int(m.group(2))
        i = text.find(" Comm: syz.", i + 1)
    return None
