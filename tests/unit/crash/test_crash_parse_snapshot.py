"""Every report the parser finds on the dev set and the golden logs, field by field.

The parser is tuned for speed; this pins its results so that a faster version is also an
equivalent one: titles, ALT, TYPE, corruption, frames, offsets and the report text (by
hash) of every report of every file, and of all dev logs concatenated (where reports of
one file run into the next). Files added or changed since the snapshot are skipped: they
have tests of their own. After a deliberate change of the parser's results, rewrite the
snapshot with RIG_UPDATE_SNAPSHOT=1 and review the diff.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from shared_data import shared

from rig.bench.parse import DEV_SET
from rig.crash import casefile
from rig.crash.parse import Report, parse

HERE = Path(__file__).resolve().parent
SNAPSHOT = HERE / "parse_snapshot.json"
DEV_REL = DEV_SET
GOLDEN = HERE.parents[1] / "testdata" / "console"
UPDATE = os.environ.get("RIG_UPDATE_SNAPSHOT") == "1"
BLOB = "dev/*"  # the key of all dev logs concatenated


def _digest(data: str | bytes) -> str:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:16]


def describe(report: Report) -> list[Any]:
    """A report as its title, offsets, and a hash of all its fields."""
    fields = [
        report.title,
        str(report.kind),
        report.format,
        report.frame,
        repr(report.guilty),
        report.start,
        report.end,
        report.corrupted,
        report.corrupted_reason,
        report.truncated,
        report.fatal,
        report.panicked,
        list(report.alt_titles),
        report.type,
        list(report.executor) if report.executor else None,
        report.text,
        repr(report.stack),
    ]
    return [report.title, report.start, report.end, _digest(json.dumps(fields))]


def logs() -> Iterable[tuple[str, bytes]]:
    dev_dir = shared(DEV_REL)
    dev = [casefile.load(p) for p in casefile.case_paths(dev_dir)]
    for case in dev:
        yield f"dev/{case.path.name}", case.log
    yield BLOB, casefile.concatenated_logs(dev)
    for path in casefile.case_paths(GOLDEN):
        yield f"golden/{path.name}", casefile.load(path, keep_cr=True).log


def snapshot(parse_fn: Callable[[bytes], list[Any]]) -> dict[str, Any]:
    return {
        key: {"log": _digest(log), "reports": [describe(r) for r in parse_fn(log)]}
        for key, log in logs()
    }


def dump(snap: dict[str, Any]) -> str:
    """One file a line, so that a diff shows which files changed."""
    rows = (f"{json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in sorted(snap.items()))
    return "{\n" + ",\n".join(rows) + "\n}\n"


def test_results_match_the_snapshot() -> None:
    got = snapshot(parse)
    if UPDATE:
        SNAPSHOT.write_text(dump(got))
        return
    want = json.loads(SNAPSHOT.read_text())
    compared = 0
    for key, entry in want.items():
        now = got.get(key)
        if now is None or now["log"] != entry["log"]:
            continue  # the file is gone or was changed
        assert now["reports"] == entry["reports"], key
        compared += 1
    assert compared >= len(want) // 2, "most of the snapshot's files are gone or changed"
