"""Damaged state gives one line naming the file, through the real command line, without a VM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rig.cli.crashes import _safe
from rig.crash.store import CrashStore


def rig(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rig", "--home", str(home), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def one_line(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("rig: error: "), res.stderr
    return lines[0]


def a_store(home: Path) -> Path:
    with CrashStore.open(home) as store:
        for i in range(200):  # enough rows for several pages
            store._conn.execute(
                "INSERT INTO buckets (id, title, signature, kind, type, first_seen, last_seen,"
                " count) VALUES (?, ?, '', 'warning', 'WARNING', 0, 0, 1)",
                (f"{i:016x}", f"WARNING in function_number_{i} " + "x" * 200),
            )
    return home / "crashes.db"


@pytest.mark.parametrize("how", ["pages", "garbage", "truncated"])
def test_damaged_crash_store_is_one_line_naming_it(tmp_path: Path, how: str) -> None:
    db = a_store(tmp_path)
    data = bytearray(db.read_bytes())
    if how == "pages":  # header intact, b-tree pages damaged
        for off in range(4096, len(data), 4096):
            data[off + 100 : off + 300] = os.urandom(200)
    elif how == "garbage":
        data = bytearray(os.urandom(len(data)))
    else:
        data = data[: len(data) // 3]
    db.write_bytes(bytes(data))
    for wal in (tmp_path / "crashes.db-wal", tmp_path / "crashes.db-shm"):
        wal.unlink(missing_ok=True)
    line = one_line(rig(tmp_path, "crashes"))
    assert str(db) in line


def test_truncated_campaign_state_is_one_line_naming_it(tmp_path: Path) -> None:
    camp = tmp_path / "campaigns" / "c1"
    camp.mkdir(parents=True)
    (camp / "campaign.json").write_text(json.dumps({"format": 1, "options": {}})[:20])
    line = one_line(rig(tmp_path, "fuzz", "--resume", str(camp), "--duration", "5s"))
    assert "campaign.json" in line and "damaged" in line


def test_terminal_text_of_the_guest_has_no_control_characters() -> None:
    shown = _safe("a\x1b[2Jb\x07c\x9bd\x7fe\u0085f\tg\nh[bold]i")
    assert shown == "a?[2Jb?c?d?e?f\tg\nh\\[bold]i"
