"""`rig crashes` (list, --json, show) and `rig bench parse`, run through click."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from rig.bench.parse import cli as bench_cli
from rig.cli.crashes import cli
from rig.cli.main import cli as rig_cli
from rig.crash import casefile
from rig.crash.parse import parse
from rig.crash.store import CrashStore

GOLDEN = Path(__file__).resolve().parents[2] / "testdata" / "console"


def populated(home: Path) -> str:
    log = casefile.load(GOLDEN / "13", keep_cr=True).log
    report = parse(log)[0]
    with CrashStore.open(home) as store:
        store.record(report, log, b"ioctl$boundary_xfer()\n", campaign="c1", vm="vm0")
        store.record(report, log, b"ioctl$boundary_xfer()\n", campaign="c2", vm="vm1")
        hostile = replace(report, title="[bold red]owned[/] <b>x</b> in \x1b[2Jboom")
        store.record(hostile, log, None, campaign="c1", vm="vm0")
        return store.buckets()[-1].id


def test_list_table_and_json(tmp_path: Path) -> None:
    populated(tmp_path)
    runner = CliRunner()
    table = runner.invoke(cli, ["--home", str(tmp_path)], terminal_width=200)
    assert table.exit_code == 0, table.output
    assert "boundary_crash_hook_call" in table.output
    assert "[bold red]owned[/]" in table.output  # shown, not interpreted
    assert "\x1b" not in table.output
    out = runner.invoke(cli, ["list", "--json", "--home", str(tmp_path)])
    buckets = json.loads(out.output)
    assert sorted(b["count"] for b in buckets) == [1, 2]
    assert {b["kind"] for b in buckets} == {"null-deref"}
    via_root = runner.invoke(rig_cli, ["--home", str(tmp_path), "crashes", "--json"])
    assert via_root.exit_code == 0 and json.loads(via_root.output) == buckets


def test_show(tmp_path: Path) -> None:
    bid = populated(tmp_path)
    runner = CliRunner()
    out = runner.invoke(cli, ["show", bid[:8], "--home", str(tmp_path)], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert "BUG: kernel NULL pointer dereference" in out.output  # the report
    assert "ioctl$boundary_xfer()" in out.output  # the programs
    assert "c2/vm1" in out.output
    data = json.loads(runner.invoke(cli, ["show", bid, "--json", "--home", str(tmp_path)]).output)
    assert data["id"] == bid and len(data["crashes"]) == 2
    missing = runner.invoke(cli, ["show", "ffffffff", "--home", str(tmp_path)])
    assert missing.exit_code != 0
    bad = runner.invoke(cli, ["show", "../../etc", "--home", str(tmp_path)])
    assert bad.exit_code != 0


def test_empty_store(tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["--home", str(tmp_path)])
    assert out.exit_code == 0 and "no crashes" in out.output


def test_bench_parse_prints_one_json_line(tmp_path: Path) -> None:
    out = CliRunner().invoke(bench_cli, ["--json", "--data", str(GOLDEN), "--rounds", "1"])
    assert out.exit_code == 0, out.output
    figures = json.loads(out.output.strip().splitlines()[-1])
    assert figures["files"] == len(casefile.case_paths(GOLDEN))
    assert figures["throughput_mb_s"] > 0
    for key in ("score_pct", "alt_pct", "type_pct", "corrupted_pct", "misses"):
        assert key in figures
