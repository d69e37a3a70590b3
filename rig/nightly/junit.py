"""A nightly run as JUnit XML, the format CI jobs show (junitparser: the library the field uses).

One suite per run: a test case per bucket judged (its verdict in the name's
class and in a property; the verdicts the configuration fails on are
failures, with the title as the message) and one per door (executions and
edges as properties; a door that ran no call fails, so a run that did
nothing never passes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from junitparser import Failure, JUnitXml, Properties, Property, TestCase, TestSuite

from rig.crash.store import RunVerdict


def write(
    path: Path,
    name: str,
    run_id: int,
    verdicts: Sequence[RunVerdict],
    titles: dict[str, str],
    doors: dict[str, dict[str, int]],
    wanted_doors: Sequence[str],
    fail_on: Sequence[str],
    elapsed_s: float,
) -> None:
    suite = TestSuite(f"rig nightly {name} run {run_id}")
    for v in verdicts:
        case = TestCase(f"{titles.get(v.bucket_id, v.bucket_id)}", f"bucket.{v.verdict}")
        _props(
            case,
            {
                "bucket": v.bucket_id,
                "verdict": v.verdict,
                "seen": v.seen,
                "repro": f"{v.repro_ok}/{v.repro_tries}",
            },
        )
        if v.verdict in fail_on:
            case.result = [Failure(f"{v.verdict}: {titles.get(v.bucket_id, v.bucket_id)}")]
        suite.add_testcase(case)
    for door in wanted_doors:
        got = doors.get(door, {})
        case = TestCase(f"door {door}", "door")
        _props(case, {"executions": got.get("calls", 0), "edges": got.get("edges", 0)})
        if not got.get("calls"):
            case.result = [Failure(f"no call went through the {door} door")]
        suite.add_testcase(case)
    suite.time = round(elapsed_s, 1)
    xml = JUnitXml()
    xml.add_testsuite(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    xml.write(str(path), pretty=True)


def _props(case: TestCase, values: dict[str, Any]) -> None:
    # junitparser gives suites properties; a test case takes the same element.
    props = Properties()  # type: ignore[no-untyped-call]
    for k, v in values.items():
        props.add_property(Property(k, str(v)))
    case.append(props)  # type: ignore[no-untyped-call]
