"""Console lines: printk prefixes (timestamps, caller ids), escapes, carriage returns.

A line's *context* says who printed it: "" (no timestamp), "console" (a
timestamp but no caller id) or the caller id itself ("[ T123]" for a task,
"[ C1]" for a CPU in interrupt context). Lines of one report share a context,
which is how interleaved output of several CPUs is told apart.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Final

CONSOLE: Final = "console"
MAX_LINE: Final = 1024  # printk's own limit; longer "lines" are cut for matching

# CSI sequences and two-character escapes: what the console watcher removes, so that the
# parser sees the lines the watcher saw (rig.console.transcript.ANSI).
ANSI: Final = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
_PREFIX: Final = re.compile(
    r"(?:\*\* [0-9]+ printk messages dropped \*\* )?(?:.* login: )?(?:<[0-9]+>)?"
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


def context(line: str) -> str:
    """The printk context of one line: "", "console" or the caller id."""
    m = _PREFIX_FAST.match(line)
    if m is None and (" login: " in line or line.startswith("** ")):
        m = _PREFIX.match(line)
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
def _line_pattern(kind: str, login: bool) -> re.Pattern[str]:
    lead = r"(?:\*\* [0-9]+ printk messages dropped \*\* )?(?:[^\n]* login: )?" if login else ""
    stamp = lead + r"(?:<[0-9]+>)?\[ *[0-9]+\.[0-9]+\]"
    if kind == "":
        return re.compile(rf"^(?!{stamp}(?:\[ *[CT][0-9]+\])? )([^\n]*)$", re.M | re.ASCII)
    if kind == CONSOLE:
        return re.compile(rf"^{stamp} ([^\n]*)$", re.M | re.ASCII)
    return re.compile(rf"^{stamp}(\[ *[CT][0-9]+\]) ([^\n]*)$", re.M | re.ASCII)


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
    end = len(text) if hi is None else hi
    if not ctx or ctx == CONSOLE:
        return _line_pattern(ctx, login).findall(text, lo, end)
    pairs = _line_pattern("caller", login).findall(text, lo, end)
    if cpus:
        return [t for c, t in pairs if c == ctx or "C" in c]
    return [t for c, t in pairs if c == ctx]


_STAMP: Final = re.compile(r"(?:<[0-9]+>)?\[ *[0-9]+\.[0-9]+\]", re.ASCII)


def caller_lines(text: str, ctx: str, lo: int, hi: int) -> list[str]:
    """Like lines_in() for a caller id, by jumping from one of its lines to the next:
    cheaper on a short span, where matching every line costs more than it finds."""
    tag = ctx + " "
    out = []
    find = text.find
    i = find(tag, lo, hi)
    while i != -1:
        start = text.rfind("\n", lo, i) + 1
        if _STAMP.fullmatch(text, start, i):
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
