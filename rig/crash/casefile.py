"""Test-case files of console logs with expected results, and scoring a parser on them.

One format serves syzkaller's pkg/report testdata and our golden files under
tests/testdata/console/: header lines `KEY: value` (`#` lines are comments, a key
may repeat), an empty line, then the raw console log. syzkaller files may end
with an empty line, `REPORT:` and the expected report text.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rig.crash.parse import Report, parse

KNOWN_KEYS = frozenset(
    {
        "TITLE",
        "ALT",
        "TYPE",
        "FRAME",
        "START",
        "END",
        "CORRUPTED",
        "SUPPRESSED",
        "PANICKED",
        "EXECUTOR",
        "KIND",
        "MODULE",
    }
)


@dataclass
class CaseFile:
    path: Path
    headers: dict[str, list[str]]
    comments: list[str]
    log: bytes
    report: bytes | None = None

    def get(self, key: str) -> str | None:
        values = self.headers.get(key)
        return values[0] if values else None

    @property
    def title(self) -> str:
        return self.get("TITLE") or ""

    @property
    def corrupted(self) -> bool:
        return self.get("CORRUPTED") == "Y"


def load(path: Path, *, keep_cr: bool = False) -> CaseFile:
    """Read one case file; raises ValueError on a header it does not know.

    syzkaller's files are read with every CR removed (as its tests do); golden logs
    that test carriage returns keep them in the log with `keep_cr`.
    """
    data = path.read_bytes()
    if not keep_cr:
        data = data.replace(b"\r", b"")
    headers: dict[str, list[str]] = {}
    comments: list[str] = []
    rest = data
    while True:
        nl = rest.find(b"\n")
        line, rest = (rest, b"") if nl == -1 else (rest[:nl], rest[nl + 1 :])
        if not line:
            break
        text = line.decode("utf-8", "replace").rstrip("\r")
        if text.startswith("#"):
            comments.append(text)
            continue
        key, sep, value = text.partition(": ")
        if not sep:
            key, sep, value = text.rstrip().partition(":")
        if not sep or key not in KNOWN_KEYS:
            raise ValueError(f"{path}: unknown header line {text!r}")
        headers.setdefault(key, []).append(value)
        if not rest:
            break
    report = None
    marker = rest.find(b"\n\nREPORT:\n")
    if marker != -1:
        report = rest[marker + len(b"\n\nREPORT:\n") :]
        rest = rest[: marker + 2]
    return CaseFile(path, headers, comments, rest, report)


def dump(case: CaseFile) -> bytes:
    """The file text of `case` (headers in a stable order, comments first)."""
    out = [c.encode() for c in case.comments]
    for key in (
        "TITLE",
        "ALT",
        "TYPE",
        "KIND",
        "FRAME",
        "MODULE",
        "START",
        "END",
        "CORRUPTED",
        "SUPPRESSED",
        "PANICKED",
        "EXECUTOR",
    ):
        out.extend(f"{key}: {v}".encode() for v in case.headers.get(key, []))
    body = b"\n".join(out) + b"\n\n" + case.log
    if case.report is not None:
        body += b"\nREPORT:\n" + case.report
    return body


def case_paths(directory: Path) -> list[Path]:
    """The case files of a directory, in numeric order of their names."""
    files = [
        p
        for p in directory.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.upper() != "README.MD"
    ]
    return sorted(
        files, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name)
    )


@dataclass
class Miss:
    file: str
    expected: str
    actual: str


@dataclass
class Score:
    files: int = 0
    hits: int = 0
    alt_agree: int = 0
    type_agree: int = 0
    corrupted_agree: int = 0
    misses: list[Miss] = field(default_factory=list)
    parse_seconds: float = 0.0

    def pct(self, n: int) -> float:
        return round(100.0 * n / self.files, 2) if self.files else 0.0


def score(cases: Iterable[CaseFile]) -> Score:
    """syzkaller's agreement figures: a hit is the first report's exact title (or no
    report when none is expected); ALT, TYPE and CORRUPTED agreement counted apart."""
    s = Score()
    for case in cases:
        t0 = time.perf_counter()
        reports = parse(case.log)
        s.parse_seconds += time.perf_counter() - t0
        first: Report | None = reports[0] if reports else None
        s.files += 1
        expected = case.title
        actual = first.title if first else ""
        if expected == actual:
            s.hits += 1
        else:
            s.misses.append(Miss(case.path.name, expected, actual))
        if sorted(case.headers.get("ALT", [])) == sorted(first.alt_titles if first else ()):
            s.alt_agree += 1
        if (case.get("TYPE") or "") == (first.type if first else ""):
            s.type_agree += 1
        if case.corrupted == bool(first and first.corrupted):
            s.corrupted_agree += 1
    return s


def concatenated_logs(cases: Sequence[CaseFile]) -> bytes:
    return b"".join(c.log if c.log.endswith(b"\n") else c.log + b"\n" for c in cases)
