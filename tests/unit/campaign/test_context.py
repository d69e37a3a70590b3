"""The run context is built once, saved with the campaign, and is what every worker connects with."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rig.campaign.directory import CampaignDir
from rig.campaign.worker import Worker
from rig.config import Home, Limits
from rig.context import RunContext
from rig.errors import ConfigError

OPTIONS = {
    "driver": "/nonexistent",
    "module": None,
    "bugs": "",
    "vms": 1,
    "duration_s": 60.0,
    "engine": "generate",
    "doors": ["ioctl"],
    "seed": 0,
    "spec": "/nonexistent.yaml",
}


def campaign(tmp_path: Path, ctx: RunContext) -> CampaignDir:
    cd = CampaignDir(tmp_path / "campaigns" / "c")
    cd.write_state(
        {"format": 1, "options": OPTIONS, "created": time.time(), "context": ctx.to_json()}
    )
    return cd


def test_context_round_trips_through_json(tmp_path: Path) -> None:
    home = Home(tmp_path)
    ctx = RunContext(home, "qemu+tcp://10.0.0.2/system", "kvm", Limits(quiet_s=50), False)
    assert RunContext.from_json(home, json.loads(json.dumps(ctx.to_json()))) == ctx


def test_a_worker_connects_where_the_campaign_was_told(tmp_path: Path) -> None:
    home = Home(tmp_path)
    # libvirt's in-process test driver: a real connection without a daemon.
    cd = campaign(tmp_path, RunContext(home, "test:///default", "tcg"))
    worker = Worker(cd, 0, cd.context(home))
    assert worker.ctx.uri == "test:///default"
    with worker.ctx.open() as host:
        assert getattr(host.backend, "uri", None) == "test:///default"


def test_limits_that_break_their_order_are_refused_when_read_back(tmp_path: Path) -> None:
    home = Home(tmp_path)
    data = RunContext(home).to_json()
    data["limits"]["quiet_s"] = 1.0  # below the hung-task detector
    with pytest.raises(ConfigError):
        RunContext.from_json(home, data)


def test_a_campaign_from_an_older_rig_has_no_context(tmp_path: Path) -> None:
    cd = CampaignDir(tmp_path / "old")
    cd.write_state({"format": 1, "options": OPTIONS})
    with pytest.raises(ConfigError, match="no run context"):
        cd.context(Home(tmp_path))
