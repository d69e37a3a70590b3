"""Crash-parser accuracy on a directory of syzkaller-format test cases, and its throughput."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

from rig.crash import casefile
from rig.crash.parse import parse

TARGET_SCORE_PCT = 95.0
REQUIRED_SCORE_PCT = 90.0
TARGET_MB_S = 50.0


DEV_SET = Path("shared") / "corpora-ext" / "syzkaller-linux-reports" / "dev"


def default_data() -> Path:
    """The dev set: $RIG_REPORTS_DIR, else ../shared beside the project (found from this
    file in a checkout, or from the working directory when rig is installed)."""
    env = os.environ.get("RIG_REPORTS_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2]
    candidates = [here.parent / DEV_SET, Path.cwd().parent / DEV_SET, Path.cwd() / DEV_SET]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def measure(data: Path, rounds: int = 5) -> dict[str, Any]:
    """Score and throughput figures for the case files in `data`."""
    cases = [casefile.load(p) for p in casefile.case_paths(data)]
    if not cases:
        raise click.ClickException(f"{data}: no case files")
    s = casefile.score(cases)
    blob = casefile.concatenated_logs(cases)
    parse(blob)  # compile the table's patterns outside the timing
    best = best_cpu = float("inf")
    reports = 0
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        reports = len(parse(blob))
        best = min(best, time.perf_counter() - t0)
        # CPU time too: on a shared machine it says more about the parser than the clock.
        best_cpu = min(best_cpu, time.process_time() - c0)
    return {
        "data": str(data),
        "files": s.files,
        "score_pct": s.pct(s.hits),
        "alt_pct": s.pct(s.alt_agree),
        "type_pct": s.pct(s.type_agree),
        "corrupted_pct": s.pct(s.corrupted_agree),
        "throughput_mb_s": round(len(blob) / 1e6 / best, 2),
        "cpu_throughput_mb_s": round(len(blob) / 1e6 / max(best_cpu, 1e-9), 2),
        "bytes": len(blob),
        "reports": reports,
        "parse_s": round(best, 4),
        "per_file_s": round(s.parse_seconds, 4),
        "target_score_pct": TARGET_SCORE_PCT,
        "target_throughput_mb_s": TARGET_MB_S,
        "misses": [{"file": m.file, "expected": m.expected, "actual": m.actual} for m in s.misses],
    }


@click.command()
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Directory of case files (default: the syzkaller dev set in ../shared).",
)
@click.option("--rounds", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--json", "as_json", is_flag=True, help="Only the JSON line.")
def cli(data: Path | None, rounds: int, as_json: bool) -> None:
    """Title agreement with syzkaller (first report per file) and parse MB/s."""
    figures = measure(data or default_data(), rounds)
    if not as_json:
        for m in figures["misses"]:
            click.echo(f"miss {m['file']}: expected {m['expected']!r}, got {m['actual']!r}")
        click.echo(
            f"score {figures['score_pct']}% (alt {figures['alt_pct']}%, type "
            f"{figures['type_pct']}%, corrupted {figures['corrupted_pct']}%) over "
            f"{figures['files']} files; {figures['throughput_mb_s']} MB/s"
        )
    click.echo(json.dumps(figures))
