"""Golden console logs: each file's headers are what the parser must say about its first report.

Files live in tests/testdata/console/ (headers TITLE/ALT/TYPE as syzkaller's test
data has them, KIND/FRAME/MODULE/CORRUPTED of ours, an empty line, the raw log). After a deliberate change of the parser, rewrite
the headers with RIG_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rig.crash import casefile
from rig.crash.parse import Report, parse

GOLDEN = Path(__file__).resolve().parents[2] / "testdata" / "console"
UPDATE = os.environ.get("RIG_UPDATE_GOLDEN") == "1"
KEYS = ("TITLE", "ALT", "TYPE", "KIND", "FRAME", "MODULE", "CORRUPTED")


def golden_headers(report: Report | None) -> dict[str, list[str]]:
    if report is None:
        return {"CORRUPTED": ["N"]}
    headers = {
        "TITLE": [report.title],
        "KIND": [report.kind.value],
        "CORRUPTED": ["Y" if report.corrupted else "N"],
    }
    if report.alt_titles:
        headers["ALT"] = sorted(report.alt_titles)
    if report.type:
        headers["TYPE"] = [report.type]
    if report.guilty is not None:
        headers["FRAME"] = [report.guilty.function]
        if report.guilty.module:
            headers["MODULE"] = [report.guilty.module]
    return headers


@pytest.mark.parametrize("path", casefile.case_paths(GOLDEN), ids=lambda p: p.name)
def test_golden(path: Path) -> None:
    case = casefile.load(path, keep_cr=True)
    reports = parse(case.log)
    got = golden_headers(reports[0] if reports else None)
    if UPDATE:
        case.headers = {k: v for k, v in case.headers.items() if k not in KEYS} | got
        path.write_bytes(casefile.dump(case))
        return
    want = {k: v for k, v in case.headers.items() if k in KEYS}
    assert got == want


def test_golden_files_cover_the_drivers_report_kinds() -> None:
    kinds = {casefile.load(p, keep_cr=True).get("KIND") for p in casefile.case_paths(GOLDEN)}
    for kind in (
        "null-deref",
        "page-fault",
        "general-protection-fault",
        "divide-error",
        "bug-on",
        "bad-usercopy",
        "stack-protector",
        "soft-lockup",
        "hung-task",
        "warning",
        "slub",
        "list-corruption",
    ):
        assert kind in kinds


def test_dump_load_round_trip(tmp_path: Path) -> None:
    src = GOLDEN / "13"
    case = casefile.load(src, keep_cr=True)
    copy = tmp_path / "1"
    copy.write_bytes(casefile.dump(case))
    again = casefile.load(copy, keep_cr=True)
    assert again.headers == case.headers
    assert again.log == case.log
    assert again.comments == case.comments
