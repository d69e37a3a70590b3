"""The driver's planted bugs, as captured from a real guest, against driver/bugs.toml.

Golden files 1..14 are consoles of the Debian 6.1 kernel running each planted
bug (driver/selftests/vmrun.sh). Each must give the title the bug table
expects, and every bug its own bucket. Files whose first comment reads
"Planted bug NAME, caught first by another check" show a bug under another
title, which the bug's `also` must match.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from rig.crash import casefile
from rig.crash.bucket import bucket_id
from rig.crash.parse import parse

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "testdata" / "console"
BUGS: list[dict[str, Any]] = tomllib.loads((ROOT / "driver" / "bugs.toml").read_text())["bug"]


def captures() -> dict[str, Path]:
    out = {}
    for path in casefile.case_paths(GOLDEN):
        case = casefile.load(path, keep_cr=True)
        m = re.match(r"# Planted bug (\w+) ", case.comments[0] if case.comments else "")
        if m:
            out[m.group(1)] = path
    return out


CAPTURES = captures()


def test_every_planted_bug_has_a_capture() -> None:
    assert set(CAPTURES) <= {b["name"] for b in BUGS}
    assert len(CAPTURES) >= 14


@pytest.mark.parametrize("bug", BUGS, ids=lambda b: b["name"])
def test_planted_bug_title_and_fatality(bug: dict[str, Any]) -> None:
    if bug["name"] not in CAPTURES:
        pytest.fail(f"no golden capture for planted bug {bug['name']}")
    (first, *_) = parse(casefile.load(CAPTURES[bug["name"]], keep_cr=True).log)
    assert first.fatal == bug["fatal"]
    assert first.guilty is not None and first.guilty.module == "boundary"
    assert first.title == bug["title"]


def test_planted_bugs_land_in_distinct_buckets() -> None:
    ids = {}
    for name, path in CAPTURES.items():
        (first, *_) = parse(casefile.load(path, keep_cr=True).log)
        ids[name] = bucket_id(first.title)
    assert len(set(ids.values())) == len(ids)


def test_other_titles_of_a_bug_match_its_also() -> None:
    seen = 0
    for path in casefile.case_paths(GOLDEN):
        case = casefile.load(path, keep_cr=True)
        first_comment = case.comments[0] if case.comments else ""
        m = re.match(r"# Planted bug (\w+), caught first by another check", first_comment)
        if not m:
            continue
        bug = next(b for b in BUGS if b["name"] == m.group(1))
        (first, *_) = parse(case.log)
        assert first.title != bug["title"]
        assert re.search(bug["also"], first.title), (path.name, first.title)
        seen += 1
    assert seen >= 1
