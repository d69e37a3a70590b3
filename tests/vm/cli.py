"""The `rig` command as a user runs it, against a test's home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rig.config import Home
from rig.crash.store import CrashStore
from rig.fleet.backend import Backend


def rig(
    home: Home, *args: str, timeout: float = 600, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`rig --home HOME ARGS...` in a child process: no terminal, wide enough output."""
    return subprocess.run(
        [sys.executable, "-m", "rig", "--home", str(home.root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, COLUMNS="200"),
        cwd=cwd,
    )


def fuzz(home: Home, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return rig(home, "fuzz", *args, timeout=timeout)


def start_fuzz(home: Home, *args: str) -> subprocess.Popen[str]:
    """`rig fuzz` in the background, in its own process group (so a test can signal it all)."""
    return subprocess.Popen(
        [sys.executable, "-m", "rig", "--home", str(home.root), "fuzz", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=dict(os.environ, COLUMNS="200"),
    )


def campaign_domains(backend: Backend, campaign: str) -> list[str]:
    return [
        d.name for d in backend.domains() if d.owner and d.owner.campaign == campaign and d.active
    ]


def worker_stats(camp: Path, slot: int) -> dict[str, Any]:
    path = camp / "workers" / str(slot) / "stats.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return {}


def wait_until(what: str, test: Callable[[], bool], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if test():
            return
        time.sleep(1)
    raise AssertionError(f"{what} not within {seconds:.0f}s")


def wait_for_execs(camp: Path, seconds: float, slots: int = 2) -> None:
    wait_until(
        f"executions on every worker of {camp.name}",
        lambda: all(worker_stats(camp, s).get("execs", 0) > 0 for s in range(slots)),
        seconds,
    )


def campaign_buckets(home: Home, campaign: str) -> dict[str, int]:
    """Bucket id -> how many of its crashes this campaign recorded."""
    if not home.crash_db.exists():
        return {}
    with CrashStore.open(home.root) as store:
        return {b.id: b.count for b in store.campaign_buckets(campaign)}


def infra_log(camp: Path) -> list[dict[str, Any]]:
    path = camp / "infra.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
