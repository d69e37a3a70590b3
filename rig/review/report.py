"""A review as Markdown (for the review thread), HTML (rig report's look), SARIF 2.1.0 and JUnit.

Titles of buckets and anything else the guest printed are text from a
kernel under attack: Markdown cells get their pipes, backticks and control
characters neutralised, the HTML page is rendered by rig.report's jinja2
environment (autoescaping every template), SARIF and JUnit are written by
serialisers that escape for their formats.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
from junitparser import Failure, JUnitXml, TestCase, TestSuite

import rig
from rig.report.render import environment
from rig.report.text import visible_line
from rig.review.rules import RULES, Finding
from rig.review.run import Review
from rig.util import atomic_write

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SARIF_LEVEL = {"high": "error", "medium": "warning", "low": "note"}
# GitHub sorts security results by this property (0.0-10.0): high is 7.0-8.9, medium 4.0-6.9.
SECURITY_SEVERITY = {"high": "8.0", "medium": "5.0", "low": "2.0"}
CRASH_RULE = "crash"
CRASH_DESCRIPTION = "The focused campaign on the new and changed entry points crashed the kernel."


def cell(text: object) -> str:
    """One Markdown table cell: one visible line, with what would break the table escaped."""
    s = visible_line(str(text))
    for ch in ("\\", "|", "`", "*", "_", "<", ">", "[", "]"):
        s = s.replace(ch, "\\" + ch)
    return s


def code(text: object) -> str:
    """Inline code that no backtick inside can end early."""
    s = visible_line(str(text)).replace("|", "\\|")
    fence = "``" if "`" in s else "`"
    return f"{fence} {s} {fence}" if fence == "``" else f"`{s}`"


def _where(f: Finding) -> str:
    return code(str(f.location)) if f.location else "—"


def markdown(r: Review) -> str:
    c = r.campaign
    lines = [
        f"## rig review: {cell(r.base.rev)} → {cell(r.head.rev)}",
        "",
        f"Module {code(r.head.module)}; base {code((r.base.sha or r.base.rev)[:12])}, head "
        f"{code((r.head.sha or r.head.rev)[:12])}; review took {r.elapsed_s:.0f} s.",
        "",
        "### Attack surface changes",
        "",
    ]
    if r.changes:
        lines += ["| change | kind | entry point | before | after |", "|---|---|---|---|---|"]
        for ch in r.changes:
            lines.append(
                f"| {ch.status} | {ch.kind} | {code(ch.name)} | {cell(ch.before) or '—'} | "
                f"{cell(ch.after) or '—'} |"
            )
    else:
        lines.append("No entry point was added, removed or changed.")
    lines += ["", "### Findings", ""]
    if r.findings:
        lines += ["| severity | rule | entry point | where | why |", "|---|---|---|---|---|"]
        for f in r.findings:
            lines.append(
                f"| {f.severity} | {code(f.rule)} | {code(f.entry)} | {_where(f)} | {cell(f.message)} |"
            )
    else:
        lines.append("No rule found anything new in the head revision.")
    lines += ["", "### Focused campaign", ""]
    if c.skipped:
        lines.append(f"Not run: {cell(c.skipped)}.")
    else:
        lines.append(
            f"{c.elapsed_s:.0f} s ({cell(c.ended)}) on doors {', '.join(c.doors)}: "
            f"{c.execs:,} executions, {c.edges:,} edges, {len(c.buckets)} bucket(s). "
            f"Campaign: {code(c.dir)}."
        )
        if c.error:
            lines.append(f"\n{cell(c.error)}")
        lines += ["", "| entry point | calls | door edges | crashes |", "|---|---|---|---|"]
        for e in c.entries:
            lines.append(f"| {code(e.key)} | {e.calls:,} | {e.edges:,} | {len(e.crashes)} |")
        if c.buckets:
            lines += [
                "",
                "| bucket | title | first found | entry points | reproducer |",
                "|---|---|---|---|---|",
            ]
            for b in c.buckets:
                found = "—" if b.first_found_s is None else f"{b.first_found_s:.0f} s"
                repro = cell(b.repro)
                for k in ("prog", "c"):
                    if k in b.files:
                        repro += f" {code(b.files[k])}"
                entries = ", ".join(code(e) for e in b.entries) or "—"
                lines.append(
                    f"| {code(b.id[:12])} | {cell(b.title)} | {found} | {entries} | {repro} |"
                )
    lines.append("")
    return "\n".join(lines)


def html(r: Review) -> str:
    env = environment()
    assert env.loader is not None
    env.loader = jinja2.ChoiceLoader([jinja2.PackageLoader("rig.review", "templates"), env.loader])
    return env.get_template("review.html").render(
        r=r,
        rules={x.id: x for x in RULES},
        refresh_s=0,
        index_url="",
        version=rig.__version__,
        generated=r.started + r.elapsed_s,
    )


def _location(uri: str, line: int) -> dict[str, Any]:
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": max(1, line)},
        }
    }


def _rule(rule_id: str, severity: str, description: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": rule_id.title().replace("-", ""),
        "shortDescription": {"text": description},
        "fullDescription": {"text": description},
        "defaultConfiguration": {"level": SARIF_LEVEL[severity]},
        "properties": {"tags": ["security"], "security-severity": SECURITY_SEVERITY[severity]},
    }


def sarif(r: Review, fallback_uri: str) -> dict[str, Any]:
    """SARIF 2.1.0 as GitHub and GitLab code scanning take it: every result has a location.

    `fallback_uri` (the header, or the driver's build file) locates what
    DWARF and the header do not: a file found only by the probe, a crash.
    """
    rules = [_rule(x.id, x.severity, x.description) for x in RULES]
    rules.append(_rule(CRASH_RULE, "high", CRASH_DESCRIPTION))
    index = {x["id"]: i for i, x in enumerate(rules)}
    results: list[dict[str, Any]] = []
    for f in r.findings:
        loc = (
            _location(f.location.file, f.location.line)
            if f.location
            else _location(fallback_uri, 1)
        )
        results.append(
            {
                "ruleId": f.rule,
                "ruleIndex": index[f.rule],
                "level": SARIF_LEVEL[f.severity],
                "message": {"text": f.message},
                "locations": [loc],
                "partialFingerprints": {"rigEntry/v1": f"{f.rule}:{f.entry}"},
                "properties": {"entry": f.entry, "severity": f.severity},
            }
        )
    by_entry = {f.entry: f for f in r.findings if f.location}
    for b in r.campaign.buckets:
        near = next((by_entry[e] for e in b.entries if e in by_entry), None)
        loc = (
            _location(near.location.file, near.location.line)
            if near is not None and near.location
            else _location(fallback_uri, 1)
        )
        files = ", ".join(f"{k}: {v}" for k, v in b.files.items())
        results.append(
            {
                "ruleId": CRASH_RULE,
                "ruleIndex": index[CRASH_RULE],
                "level": "error",
                "message": {
                    "text": f"{b.title} (bucket {b.id[:12]}, reproducer {b.repro}"
                    + (f"; {files}" if files else "")
                    + ")"
                },
                "locations": [loc],
                "partialFingerprints": {"rigBucket/v1": b.id},
                "properties": {"entries": b.entries, "bucket": b.id},
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "rig-review",
                        "version": rig.__version__,
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"rig-review/{r.head.module}/"},
                "results": results,
            }
        ],
    }


def junit(r: Review, path: Path, fail_on: tuple[str, ...]) -> None:
    """A test case per changed entry point, finding and bucket; failing ones as `fail_on` says."""
    suite = TestSuite(f"rig review {r.base.rev}..{r.head.rev}")
    crashed = {e for b in r.campaign.buckets for e in b.entries}
    for ch in r.changes:
        case = TestCase(f"{ch.status} {ch.key}", f"review.entry.{ch.kind}")
        if "crash" in fail_on and ch.key in crashed:
            case.result = [Failure(f"the focused campaign crashed {ch.key}")]
        suite.add_testcase(case)
    for f in r.findings:
        case = TestCase(f"{f.rule} {f.entry}", f"review.finding.{f.severity}")
        if f.severity in fail_on:
            where = f" at {f.location}" if f.location else ""
            case.result = [Failure(f"{f.message}{where}")]
        suite.add_testcase(case)
    for b in r.campaign.buckets:
        case = TestCase(visible_line(b.title), "review.crash")
        if "crash" in fail_on:
            case.result = [Failure(f"bucket {b.id[:12]}, reproducer {b.repro}")]
        suite.add_testcase(case)
    suite.time = round(r.elapsed_s, 1)
    xml = JUnitXml()
    xml.add_testsuite(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    xml.write(str(path), pretty=True)


def write_all(
    r: Review, out_dir: Path, fallback_uri: str, fail_on: tuple[str, ...]
) -> dict[str, Path]:
    """review.md, review.html, review.sarif, junit.xml and review.json in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": out_dir / "review.md",
        "html": out_dir / "review.html",
        "sarif": out_dir / "review.sarif",
        "junit": out_dir / "junit.xml",
        "json": out_dir / "review.json",
    }
    atomic_write(paths["markdown"], markdown(r).encode())
    atomic_write(paths["html"], html(r).encode())
    atomic_write(paths["sarif"], (json.dumps(sarif(r, fallback_uri), indent=2) + "\n").encode())
    junit(r, paths["junit"], fail_on)
    atomic_write(paths["json"], (json.dumps(r.to_json(), indent=2, default=str) + "\n").encode())
    return paths
