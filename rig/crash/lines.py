"""Console lines: printk prefixes (timestamps, caller ids), escapes, carriage returns.

A line's *context* says who printed it: "" (no timestamp), "console" (a
timestamp but no caller id) or the caller id itself ("[ T123]" for a task,
"[ C1]" for a CPU in interrupt context). Lines of one report share a context,
which is how interleaved output of several CPUs is told apart.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Final

CONSOLE: Final = "console"
MAX_LINE: Final = 1024  # printk's own limit; longer "lines" are cut for matching

# CSI sequences and two-character escapes: what the console watcher removes, so that the
# parser sees the lines the watcher saw (rig.console.transcript.ANSI).
ANSI: Final = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
# What can share a kernel line's start on the console: a getty's "x login: " or a
# shell's prompt ("/ # ", printed as a restored VM's shell comes back).
_LEAD: Final = r"(?:[^\n]* login: |[^\n]*?[#$] )"
_PREFIX: Final = re.compile(
    rf"(?:\*\* [0-9]+ printk messages dropped \*\* )?{_LEAD}?(?:<[0-9]+>)?"
    r"\[ *[0-9]+\.[0-9]+\](\[ *[CT][0-9]+\])? ",
    re.ASCII,
)
_PREFIX_FAST: Final = re.compile(r"(?:<[0-9]+>)?\[ *[0-9]+\.[0-9]+\](\[ *[CT][0-9]+\])? ", re.ASCII)
_CPU_CONTEXT: Final = re.compile(r"\[ *C[0-9]+\]", re.ASCII)
_TASK_CONTEXT: Final = re.compile(r"\[ *T[0-9]+\]", re.ASCII)


def clean(text: str) -> str:
    """`text` without terminal escapes and carriage returns, as the console watcher cleans
    each line (a lone CR joins what it separated; only newlines end lines)."""
    if "\x1b" in text:
        text = ANSI.sub("", text)
    if "\r" in text:
        text = text.replace("\r", "")
    return text


_PROMPT_STAMP: Final = re.compile(r"[#$] (?:<[0-9]+>)?\[ *[0-9]+\.[0-9]+\]", re.ASCII)


def has_prompt(text: str) -> bool:
    """Whether a shell prompt sits before a kernel timestamp somewhere in `text`."""
    return ("# [" in text or "$ [" in text or "# <" in text) and bool(_PROMPT_STAMP.search(text))


# A timestamp anywhere in a line: the kernel's line began after output that
# ended without a newline (a flood cut off by `timeout`, a program's partial
# line), as a report's first line sometimes does.
_STAMP_IN_LINE: Final = re.compile(
    r"(?:<[0-9]+>)?\[ *[0-9]+\.[0-9]+\](\[ *[CT][0-9]+\])? ", re.ASCII
)


def context(line: str) -> str:
    """The printk context of one line: "", "console" or the caller id."""
    m = _PREFIX_FAST.match(line)
    if m is None and (" login: " in line or line.startswith("** ") or has_prompt(line)):
        m = _PREFIX.match(line)
    if m is None and "[" in line:
        m = _STAMP_IN_LINE.search(line)
    if m is None:
        return ""
    return m.group(1) or CONSOLE


def strip_prefix(line: str, ctx: str) -> str:
    """`line` without its printk prefix (everything up to the first "] ")."""
    if not ctx:
        return line
    return line[line.index("] ") + 2 :]


def is_task(ctx: str) -> bool:
    return _TASK_CONTEXT.fullmatch(ctx) is not None


def is_cpu(ctx: str) -> bool:
    return _CPU_CONTEXT.fullmatch(ctx) is not None


@cache
def _line_pattern(kind: str, login: bool, first: bool = False) -> re.Pattern[str]:
    # Anchored on the newline before each line rather than on a multiline "^": the
    # search then skips to the next newline at C speed instead of trying every position
    # (about twice as fast). `first` is the variant for a line at the start of the text.
    # Possessive quantifiers (no backtracking into them) where backtracking could not help
    # (what follows each cannot match what it gave back): a quarter faster.
    lead = rf"(?:\*\* [0-9]+ printk messages dropped \*\* )?{_LEAD}?" if login else ""
    stamp = lead + r"(?:<[0-9]++>)?+\[ *+[0-9]++\.[0-9]++\]"
    nl = "" if first else "\n"
    if kind == "":
        return re.compile(rf"{nl}(?!{stamp}(?:\[ *+[CT][0-9]++\])?+ )([^\n]*+)", re.ASCII)
    if kind == CONSOLE:
        return re.compile(rf"{nl}{stamp} ([^\n]*+)", re.ASCII)
    return re.compile(rf"{nl}{stamp}(\[ *+[CT][0-9]++\]) ([^\n]*+)", re.ASCII)


def _findall(text: str, kind: str, login: bool, lo: int, hi: int) -> list[Any]:
    """What a multiline `^...$` pattern's findall() over text[lo:hi] would give: every
    line that starts in [lo, hi] (a line start is text's start or just past a newline)."""
    got: list[Any] = []
    if lo == 0:
        m = _line_pattern(kind, login, True).match(text, 0, hi)
        if m is not None:
            got.append(m.groups() if kind not in ("", CONSOLE) else m.group(1))
        if hi == 0:
            return got
        lo = 1
    rest = _line_pattern(kind, login).findall(text, lo - 1, hi)
    if got:
        got.extend(rest)
        return got
    return rest


def lines_in(
    text: str,
    ctx: str,
    lo: int = 0,
    hi: int | None = None,
    *,
    login: bool = False,
    cpus: bool = False,
) -> list[str]:
    """The text of every line of text[lo:hi] printed in `ctx`, prefixes stripped.

    `login` allows for "login: " and "printk messages dropped" prefixes (rare and
    costly to allow for); `cpus` also admits lines of any CPU context (an all-CPU
    backtrace is in progress).
    """
    end = len(text) if hi is None else min(hi, len(text))
    if not ctx or ctx == CONSOLE:
        return _findall(text, ctx, login, lo, end)
    pairs = _findall(text, "caller", login, lo, end)
    if cpus:
        return [t for c, t in pairs if c == ctx or "C" in c]
    return [t for c, t in pairs if c == ctx]


def caller_pairs(text: str) -> list[tuple[str, str]]:
    """(caller id, text) of each line of `text` that has a caller id, prefixes stripped."""
    return _findall(text, "caller", False, 0, len(text))


STAMP: Final = re.compile(r"(?:<[0-9]++>)?+\[ *+[0-9]++\.[0-9]++\]", re.ASCII)


def caller_lines(text: str, ctx: str, lo: int, hi: int) -> list[str]:
    """Like lines_in() for a caller id, by jumping from one of its lines to the next:
    cheaper on a short span, where matching every line costs more than it finds."""
    tag = ctx + " "
    out = []
    find = text.find
    i = find(tag, lo, hi)
    while i != -1:
        start = text.rfind("\n", lo, i) + 1
        if STAMP.fullmatch(text, start, i):
            end = find("\n", i, hi)
            end = hi if end == -1 else end
            out.append(text[i + len(tag) : end])
            i = find(tag, end, hi)
        else:
            i = find(tag, i + 1, hi)
    return out


def line_bounds(text: str, pos: int) -> tuple[int, int]:
    """Start and end of the line around `pos`; a line is cut at MAX_LINE either side."""
    lo = max(0, pos - MAX_LINE)
    start = text.rfind("\n", lo, pos) + 1
    if start == 0 and lo > 0:
        start = lo
    end = text.find("\n", pos, pos + MAX_LINE)
    if end == -1:
        end = min(len(text), pos + MAX_LINE)
    return start, end
