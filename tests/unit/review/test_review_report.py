"""The review's Markdown, HTML, SARIF (checked against the official 2.1.0 schema) and JUnit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
import pytest
from junitparser import Failure, JUnitXml

from rig.review.diff import Change
from rig.review.dwarf import Location
from rig.review.focus import EntryStats
from rig.review.report import RULES, markdown, sarif, write_all
from rig.review.rules import Finding
from rig.review.run import BucketResult, CampaignResult, Review, Revision

SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
EVIL = "BUG: <script>alert(1)</script> | `x` \x1b[31m"


def review(tmp: Path, crash: bool = True) -> Review:
    camp = CampaignResult(
        dir=str(tmp / "campaigns" / "review-1"),
        spec=str(tmp / "focus.yaml"),
        doors=["ioctl"],
        ended="stopped",
        elapsed_s=21.5,
        execs=812,
        edges=64,
        entries=[EntryStats("ioctl:DEMO_IOC_ECHO", "ioctl", 401, 64, ["b" * 40] if crash else [])],
        buckets=[
            BucketResult(
                "b" * 40,
                EVIL,
                12.0,
                ["ioctl:DEMO_IOC_ECHO"],
                "reproduced 1/1",
                {"prog": str(tmp / "repro.prog"), "c": str(tmp / "repro.c")},
                "reproduced",
            )
        ]
        if crash
        else [],
    )
    return Review(
        "/src/demo",
        Revision("base", "HEAD~1", "a" * 40, tmp / "base", "img1", "demo"),
        Revision("head", "HEAD", "c" * 40, tmp / "head", "img2", "demo"),
        [
            Change("ioctl", "DEMO_IOC_ECHO", "added", "", "0xc010d303 inout size 16"),
            Change("file", "/sys/x/level", "changed", "sysfs mode 0644", "sysfs mode 0666"),
            Change("ioctl", "DEMO_IOC_RESET", "removed", "0x0000d302 none size 0", ""),
        ],
        [
            Finding(
                "file-writable",
                "high",
                "file:/sys/x/level",
                "/sys/x/level has mode 0666: anyone may write it",
            ),
            Finding(
                "ioctl-size",
                "high",
                "ioctl:DEMO_IOC_ECHO",
                "DEMO_IOC_ECHO encodes 16 bytes | not 24",
                Location("demo.c", 42),
            ),
        ],
        camp,
        180.0,
        time.time(),
        95.0,
    )


def test_markdown_lists_changes_findings_and_the_campaign(tmp_path: Path) -> None:
    md = markdown(review(tmp_path))
    assert "| added | ioctl | `DEMO_IOC_ECHO` | — | 0xc010d303 inout size 16 |" in md
    assert "| removed | ioctl | `DEMO_IOC_RESET` |" in md
    assert "| high | `ioctl-size` | `ioctl:DEMO_IOC_ECHO` | `demo.c:42` |" in md
    assert "| `ioctl:DEMO_IOC_ECHO` | 401 | 64 | 1 |" in md
    assert "reproduced 1/1" in md and "repro.c" in md
    # Guest text stays in its cell: pipes and markup escaped, ESC made visible.
    row = next(ln for ln in md.splitlines() if "alert" in ln)
    assert row.count(" | ") == 4
    assert "<script>" not in md and "\x1b" not in md


def test_html_escapes_guest_text(tmp_path: Path) -> None:
    paths = write_all(review(tmp_path), tmp_path / "out", "include/demo.h", ("crash", "high"))
    page = paths["html"].read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Content-Security-Policy" in page  # rig report's base page
    assert "DEMO_IOC_ECHO" in page and "demo.c:42" in page


@pytest.mark.parametrize("crash", [True, False])
def test_sarif_is_valid_2_1_0_and_every_result_has_a_location(tmp_path: Path, crash: bool) -> None:
    doc = sarif(review(tmp_path, crash), "include/demo.h")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(doc, schema, cls=jsonschema.Draft4Validator)
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in RULES] + ["crash"]
    results = run["results"]
    assert len(results) == 2 + crash
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        loc = r["locations"][0]["physicalLocation"]
        assert loc["region"]["startLine"] >= 1
    located = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results]
    assert located[:2] == ["include/demo.h", "demo.c"]
    if crash:  # placed where a finding on its entry point is
        assert located[2] == "demo.c"
        assert results[2]["level"] == "error"


def test_written_sarif_file_validates(tmp_path: Path) -> None:
    paths = write_all(review(tmp_path), tmp_path / "out", "include/demo.h", ("crash",))
    doc = json.loads(paths["sarif"].read_text())
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()), cls=jsonschema.Draft4Validator)


def test_junit_fails_what_fail_on_names(tmp_path: Path) -> None:
    r = review(tmp_path)
    paths = write_all(r, tmp_path / "a", "include/demo.h", ("crash", "high"))
    suite = next(iter(JUnitXml.fromfile(str(paths["junit"]))))
    failed = {c.name for c in suite if any(isinstance(x, Failure) for x in c.result)}
    assert "added ioctl:DEMO_IOC_ECHO" in failed
    assert "ioctl-size ioctl:DEMO_IOC_ECHO" in failed
    assert any("alert" in n for n in failed)
    assert "removed ioctl:DEMO_IOC_RESET" not in failed
    paths = write_all(r, tmp_path / "b", "include/demo.h", ())
    suite = next(iter(JUnitXml.fromfile(str(paths["junit"]))))
    assert not [c for c in suite if c.result]
    assert len(list(suite)) == 3 + 2 + 1


def test_failed_says_why_per_fail_on(tmp_path: Path) -> None:
    r = review(tmp_path)
    assert r.failed(("crash", "high")) == [
        "1 crash bucket(s) in the focused campaign",
        "2 high-severity finding(s)",
    ]
    assert r.failed(("medium",)) == []
    assert r.failed(()) == []
    assert review(tmp_path, crash=False).failed(("crash",)) == []


def test_a_campaign_without_work_fails_whatever_fail_on_says(tmp_path: Path) -> None:
    r = review(tmp_path, crash=False)
    r.campaign.ended, r.campaign.error, r.campaign.execs = "infra", "no VM became ready", 0
    assert r.failed(()) == ["the focused campaign did no work (infra): no VM became ready"]
    r.campaign.skipped = "--no-fuzz"
    assert r.failed(()) == []


def test_json_is_written(tmp_path: Path) -> None:
    paths = write_all(review(tmp_path), tmp_path / "out", "x.h", ())
    data = json.loads(paths["json"].read_text())
    assert data["changes"][0]["name"] == "DEMO_IOC_ECHO"
    assert data["findings"][1]["location"] == {"file": "demo.c", "line": 42}


def test_locations_are_made_relative_to_the_driver_directory(tmp_path: Path) -> None:
    from rig.review.run import relative

    drv = tmp_path / "drv"
    (drv / "sub").mkdir(parents=True)
    (drv / "sub" / "x.c").write_text("")
    f = Finding("ioctl-size", "high", "ioctl:X", "m", Location("/build/abc/sub/x.c", 3))
    assert relative(f, drv).location == Location("sub/x.c", 3)
    f = Finding("ioctl-size", "high", "ioctl:X", "m", Location("./sub/x.c", 3))
    assert relative(f, drv).location == Location("sub/x.c", 3)
    # A kernel header the module includes stays as DWARF names it.
    f = Finding("ioctl-size", "high", "ioctl:X", "m", Location("/usr/src/linux/ioctl.h", 9))
    assert relative(f, drv) == f


def test_the_vendored_schema_is_the_official_one() -> None:
    """tests/unit/review/data/sarif-schema-2.1.0.json: oasis-tcs/sarif-spec,
    sarif-2.1/schema/sarif-schema-2.1.0.json at commit a560296ca8c9."""
    schema = json.loads(SCHEMA.read_text())
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
