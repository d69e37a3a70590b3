"""Buckets: one per bug, named by a normalised signature of the report's title.

The title is already normalised as syzkaller does (addresses, numbers, pids and
line numbers replaced), so the same bug gives the same title on every run and
every build. The signature also drops what still varies between runs of one bug
(taint flags in raw SLUB titles, compiler clone suffixes, spacing); the bucket
id is a short hash of it, so it is safe as a directory name whatever the title.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from rig.crash.title import normalize, printable

ID_LEN: Final = 16  # hex digits: 64 bits, no collisions at any realistic bucket count
ID_RE: Final = re.compile(r"[0-9a-f]{1,16}")

_VOLATILE: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(p, re.ASCII), r)
    for p, r in (
        # "BUG kmalloc-64 (Tainted: G B O ): ..." - taint flags grow as the run goes on.
        (r"\((?:Not tainted|Tainted:[^)]*)\)", "(TAINT)"),
        # Compiler clones of one function are one function.
        (r"\.(?:cold|constprop|isra|part|lto_priv|llvm|localalias)(?:\.(?:\d+|NUM))*\b", ""),
        (r"\bPID:? ?(?:\d+|NUM)\b", "PID"),
        (r"\s+", " "),
    )
)


def signature(title: str) -> str:
    """The part of a title that identifies the bug."""
    sig = normalize(title)
    for pattern, repl in _VOLATILE:
        sig = pattern.sub(repl, sig)
    return printable(sig) or "unknown crash"


def bucket_id(title: str) -> str:
    """The bucket of a title: a stable 16-hex-digit hash of its signature."""
    return hashlib.sha256(signature(title).encode()).hexdigest()[:ID_LEN]
