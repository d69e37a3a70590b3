"""A campaign's directory: its options, state, current image, stop flag and worker files.

campaign.json        options, driver and spec hashes, elapsed time, status
current_image        the image id workers boot next (a benchmark may switch it)
stop                 present: workers finish their program and stop
workers/<slot>/      stats.json, edges.bin, worker.log, engine/ (corpus, databases)
boots/<domain>/      console.log and programs.log of every boot
timeseries.jsonl     executions and coverage over time, for plots
infra.jsonl          every infrastructure failure a worker met and retried
summary.json         written when the campaign stops
"""

from __future__ import annotations

import json
import time
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.campaign.options import CampaignOptions, load_json
from rig.config import Home
from rig.context import RunContext
from rig.errors import ConfigError
from rig.util import atomic_write

FORMAT = 1


@dataclass
class CampaignDir:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def state_file(self) -> Path:
        return self.path / "campaign.json"

    @property
    def boots(self) -> Path:
        return self.path / "boots"

    @property
    def infra_log(self) -> Path:
        """One JSON line per infrastructure failure: boots, libvirtd, lost VMs."""
        return self.path / "infra.jsonl"

    @property
    def stop_file(self) -> Path:
        return self.path / "stop"

    def worker(self, slot: int) -> Path:
        return self.path / "workers" / str(slot)

    def exists(self) -> bool:
        return self.state_file.exists()

    def state(self) -> dict[str, Any]:
        return load_json(self.state_file)

    def options(self) -> CampaignOptions:
        return CampaignOptions.from_json(self.state()["options"])

    def context(self, home: Home) -> RunContext:
        """The run context the campaign was started (or last resumed) with."""
        state = self.state()
        if "context" not in state:
            raise ConfigError(f"{self.state_file}: no run context (made by an older rig)")
        return RunContext.from_json(home, state["context"])

    def write_state(self, state: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write(self.state_file, (json.dumps(state, indent=2, sort_keys=True) + "\n").encode())

    def update_state(self, **changes: Any) -> None:
        state = self.state()
        state.update(changes)
        self.write_state(state)

    def current_image(self) -> str:
        return (self.path / "current_image").read_text().strip()

    def set_image(self, image_id: str) -> None:
        atomic_write(self.path / "current_image", (image_id + "\n").encode())

    def stopping(self) -> bool:
        return self.stop_file.exists()


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, (json.dumps(data, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return None


def door_edges_file(door: str) -> str:
    """A worker's file of the edges reached by calls through one door."""
    return f"edges-{door}.bin"


def write_edges(path: Path, edges: set[int]) -> None:
    atomic_write(path, array("Q", sorted(edges)).tobytes())


def read_edges(path: Path) -> set[int]:
    try:
        data = path.read_bytes()
    except OSError:
        return set()
    a = array("Q")
    a.frombytes(data[: len(data) - len(data) % 8])
    return set(a)


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as f:
        f.write(json.dumps({"time": round(time.time(), 3), **record}, sort_keys=True) + "\n")
