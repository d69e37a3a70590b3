"""Crash titles: syzkaller's normalisation (ADDR, NUM, LINE, ...) and printable form.

Titles are normalised exactly as syzkaller does for Linux so that our titles,
and so our buckets, line up with syzbot's; the rules are facts from syzkaller's
pkg/report/report.go.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

MAX_TITLE: Final = 120  # intermixed lines can be very long

# (pattern, replacement, needs a digit to match, substrings it needs (at most two)), in
# syzkaller's order.
# The substrings are a cheap test that skips most patterns on most titles.
_REPLACEMENTS: Final[tuple[tuple[re.Pattern[str], str, bool, tuple[str, ...]], ...]] = tuple(
    (re.compile(p, re.ASCII), r, digits, needs)
    for p, r, digits, needs in (
        # Executor pids and process numbers say nothing about the bug.
        (r"syz-executor\.?[0-9]+((/|:)[0-9]+)?", "syz-executor", True, ("syz-executor",)),
        (r"syzkaller[0-9]+((/|:)[0-9]+)?", "syzkaller", True, ("syzkaller",)),
        (r"([^a-zA-Z0-9])(?:0x)?[0-9a-f]{6,}", r"\1ADDR", False, ()),
        (r"([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})", "IP", True, (".",)),
        (r"(\.\w+)(:[0-9]+)+", r"\1:LINE", True, (":", ".")),
        # Offsets and sizes of "func+0x12/0x34" change with every build.
        (r"([a-zA-Z][a-zA-Z0-9_.]+)\+0x[0-9a-z]+/0x[0-9a-z]+", r"\1", True, ("+0x", "/0x")),
        (r"CPU#[0-9]+", "CPU", True, ("CPU#",)),
        (r"(\W)(\d+)(\W|$)", r"\1NUM\3", True, ()),
        # Digits may be part of a name (cfg80211), but not that many.
        (r"\d{7,}", "NUM", True, ()),
    )
)
_NO_DIGIT_REPLACEMENTS: Final = tuple(r for r in _REPLACEMENTS if not r[2])
_DIGIT: Final = re.compile(r"\d", re.ASCII)
_FRAME: Final = re.compile(r".* in ((?:<[a-zA-Z0-9_: ]+>)?[a-zA-Z0-9_:]+)", re.ASCII)


def normalize(title: str) -> str:
    """A title as syzkaller shows it: dynamic parts replaced, printable, at most 120 chars."""
    if len(title) > 4 * MAX_TITLE:
        title = title[: 4 * MAX_TITLE]
    if _DIGIT.search(title) is None:
        # Only the patterns that need no digit can match, and they add none.
        return printable(_replace(title, _NO_DIGIT_REPLACEMENTS))
    digits = True  # as of the current title
    for pattern, repl, needs_digit, needs in _REPLACEMENTS:
        if needs_digit and not digits:
            continue
        if needs and (needs[0] not in title or (len(needs) > 1 and needs[1] not in title)):
            continue
        new = _sub_all(pattern, repl, title)
        if new != title:
            title = new
            digits = _DIGIT.search(title) is not None
    return printable(title)


def _replace(
    title: str, replacements: tuple[tuple[re.Pattern[str], str, bool, tuple[str, ...]], ...]
) -> str:
    for pattern, repl, _, needs in replacements:
        if needs and (needs[0] not in title or (len(needs) > 1 and needs[1] not in title)):
            continue
        title = _sub_all(pattern, repl, title)
    return title


def _sub_all(pattern: re.Pattern[str], repl: str, title: str) -> str:
    if pattern.search(title) is None:
        return title  # the usual case, and subn() with a template costs more than search()
    # Matches may overlap ("0,1,2"), so repeat until nothing changes.
    for _ in range(64):
        new, n = pattern.subn(repl, title)
        if n == 0 or new == title:
            break
        title = new
    return title


def printable(title: str) -> str:
    """Tabs to spaces, control and non-ASCII characters dropped, spaces collapsed."""
    title = title[:MAX_TITLE]
    if title.isascii() and title.isprintable() and "  " not in title:
        return title.strip()
    out: list[str] = []
    prev = " "
    for ch in title:
        if ch == "\t":
            ch = " "
        elif ch < " " or ch >= "\x7f":
            continue
        if ch == " " and prev == " ":
            continue
        out.append(ch)
        prev = ch
    return "".join(out).strip()


def frame_of(title: str) -> str:
    """The guilty function named by a title: what follows its last " in "."""
    m = _FRAME.match(title)
    return m.group(1) if m else ""


def render(template: str, args: list[str]) -> str:
    """`template` with `{N}` replaced by the N-th (1-based) argument."""
    fmt, needed = _format(template)
    if len(args) < needed:
        args = args + [_BAD_INDEX] * (needed - len(args))
    return fmt.format(*args)


_ARG: Final = re.compile(r"\{(\d+)\}")
_BAD_INDEX: Final = "%!v(BADINDEX)"


@lru_cache(maxsize=1024)
def _format(template: str) -> tuple[str, int]:
    """`template` as a str.format() string over the arguments, and how many it reads.
    Templates come from the format table: converted once."""
    out: list[str] = []
    needed = pos = 0
    for m in _ARG.finditer(template):
        out.append(template[pos : m.start()].replace("{", "{{").replace("}", "}}"))
        i = int(m.group(1))
        if i >= 1:
            out.append(f"{{{i - 1}}}")
            needed = max(needed, i)
        else:
            out.append(_BAD_INDEX)
        pos = m.end()
    out.append(template[pos:].replace("{", "{{").replace("}", "}}"))
    return "".join(out), needed
