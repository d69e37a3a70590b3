"""How a campaign's ending is named: no VM ready, no program, slow boots, failed workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig.campaign.runner import (
    Progress,
    blind_coverage,
    first_found,
    judge_work,
    previous_first_found,
    verdict,
    workers_ended,
)
from rig.config import CampaignTiming
from rig.crash.store import CampaignBucket
from rig.errors import InfraError, RigError

T = CampaignTiming()


def test_no_vm_ready_is_infra_with_the_last_failure() -> None:
    p = Progress(elapsed_s=180, workers=[{"slot": 0, "last_infra": "did not boot: define 61s"}])
    ended, why = judge_work(p, T)
    assert ended == "infra" and "no VM ever became ready" in why and "define 61s" in why
    assert "rig doctor" in why


def test_boots_but_no_program_is_infra() -> None:
    assert judge_work(Progress(elapsed_s=60, boots=4), T)[0] == "infra"


def test_slow_boots_are_infra_naming_the_slowest_stage() -> None:
    slow = {"seconds": 40.0, "stages": {"define domain": 38.5, "ready marker": 1.2}}
    p = Progress(
        elapsed_s=60, execs=10, boots=3, workers=[{"boot_s": [30, 35, 40], "slowest_boot": slow}]
    )
    ended, why = judge_work(p, T)
    assert ended == "infra" and "define domain" in why and "38.5s" in why


def test_work_on_a_healthy_host_is_finished() -> None:
    p = Progress(elapsed_s=60, execs=900, boots=3, workers=[{"boot_s": [2.1, 2.3, 0.5]}])
    assert judge_work(p, T) == ("finished", "")


def test_failed_workers_say_which_and_why() -> None:
    p = Progress(workers=[{"slot": 1, "status": "failed", "error_kind": "infra", "error": "gone"}])
    assert workers_ended(p) == ("infra", "every worker stopped: vm 1: gone")


@pytest.mark.parametrize(
    ("ended", "buckets", "error"),
    [
        ("infra", 0, InfraError),
        ("error", 0, RigError),
        ("finished", 0, RigError),
        ("finished", 1, None),
    ],
)
def test_verdict(ended: str, buckets: int, error: type[Exception] | None) -> None:
    from rig.crash.store import CampaignBucket

    p = Progress(ended=ended, error="why", buckets=[CampaignBucket("b", "t", 1, 0.0)] * buckets)
    if error is None:
        verdict(p, min_buckets=1)
    else:
        with pytest.raises(error):
            verdict(p, min_buckets=1)


COVERED = {"module": {"name": "uinput", "coverage": "rigcov"}}


def test_blind_coverage_is_said_after_a_minute_of_programs_with_0_edges() -> None:
    early = Progress(elapsed_s=30, execs=500)
    assert blind_coverage(early, T, COVERED) == ""
    assert blind_coverage(Progress(elapsed_s=90, execs=0), T, COVERED) == "", "no program ran"
    assert blind_coverage(Progress(elapsed_s=90, execs=500, edges=3), T, COVERED) == ""
    why = blind_coverage(Progress(elapsed_s=90, execs=500), T, COVERED)
    assert "0 coverage edges after 500 executions" in why and "uinput" in why
    assert "modinfo" in why, "names how to check the module really calls rigcov"
    plain = {"module": {"name": "uinput", "coverage": None}}
    assert "--no-coverage" in blind_coverage(Progress(elapsed_s=90, execs=500), T, plain)


def test_first_found_is_campaign_time_and_survives_a_resume(tmp_path: Path) -> None:
    old = CampaignBucket("a" * 40, "BUG: old", 3, 1000.0)
    new = CampaignBucket("b" * 40, "BUG: new", 1, 5030.0)
    # This run began at wall time 5000 with 600 s of campaign time behind it.
    found = first_found([old, new], {old.id: 42.0}, wall_start=5000.0, elapsed_at=600.0)
    assert found == {old.id: 42.0, new.id: 630.0}
    summary = tmp_path / "summary.json"
    summary.write_text(
        json.dumps({"buckets": [{"id": old.id, "first_found_s": 42.0}, {"id": "x"}, 7]})
    )
    assert previous_first_found(summary) == {old.id: 42.0}
    summary.write_text("{truncated")
    assert previous_first_found(summary) == {}
