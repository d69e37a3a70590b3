"""`rig fuzz` for real: a clean driver gives no crash, a planted bug is found and stored,
and Ctrl-C or SIGKILL leave a resumable campaign and no domains behind."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from rig.config import Home
from rig.crash.store import CrashStore
from rig.fleet.backend import Backend
from tests.vm.cli import campaign_domains, fuzz, rig, start_fuzz, wait_for_execs

pytestmark = pytest.mark.vm


def test_clean_driver_three_minutes_no_crash(home: Home) -> None:
    res = fuzz(home, "--duration", "3m", "--vms", "2", "--seed", "7", "--campaign", "clean-3m")
    assert res.returncode == 0, res.stderr
    summary = json.loads((home.campaign("clean-3m") / "summary.json").read_text())
    assert summary["execs"] > 1000
    assert summary["crashes"] == 0 and summary["buckets"] == [], summary["buckets"]
    # Coverage comes from rigcov, not from code of the driver's own.
    assert summary["edges"] > 100 and summary["warnings"] == [], summary["warnings"]


def test_planted_bug_is_found_and_stored(home: Home) -> None:
    res = fuzz(
        home,
        "--duration",
        "3m",
        "--vms",
        "2",
        "--seed",
        "1",
        "--driver-bugs",
        "ioctl_unconfigured",
        "--campaign",
        "find-unconfigured",
    )
    assert res.returncode == 0, res.stderr
    assert "boundary_xfer_unconfigured" in res.stdout
    with CrashStore.open(home.root) as store:
        titles = [b.title for b in store.campaign_buckets("find-unconfigured")]
    assert (
        "BUG: unable to handle kernel NULL pointer dereference in boundary_xfer_unconfigured"
        in titles
    )
    summary = json.loads((home.campaign("find-unconfigured") / "summary.json").read_text())
    found = [b["first_found_s"] for b in summary["buckets"]]
    assert found and all(0 <= f <= summary["elapsed_s"] for f in found), found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_interrupted_campaign_is_resumable_and_leaves_no_domains(
    home: Home, backend: Backend, sig: signal.Signals
) -> None:
    name = f"interrupt-{sig.name.lower()}"
    camp = home.campaign(name)
    proc = start_fuzz(
        home, "--duration", "10m", "--vms", "2", "--engine", "generate", "--campaign", name
    )
    try:
        wait_for_execs(camp, 120)
        os.killpg(proc.pid, sig) if sig == signal.SIGINT else proc.send_signal(sig)
        proc.wait(120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # The workers notice their parent's death (or the signal) and destroy their VMs.
    end = time.monotonic() + 60
    while campaign_domains(backend, name) and time.monotonic() < end:
        time.sleep(1)
    assert campaign_domains(backend, name) == []
    state = json.loads((camp / "campaign.json").read_text())
    assert state["elapsed_s"] > 0
    corpus = list((camp / "workers" / "0" / "engine").rglob("*.prog"))
    assert corpus, "the corpus persisted"
    (corpus[0].parent / "garbage.prog").write_bytes(b"\x00not a program\xff")
    res = fuzz(home, "--resume", str(camp), "--duration", "20s")
    assert res.returncode == 0, res.stderr
    assert "corpus entry skipped" in res.stdout and "garbage.prog" in res.stdout
    res = fuzz(home, "--resume", str(camp), "--engine", "random")
    assert res.returncode != 0 and "refusing to resume" in res.stderr


def test_bad_options_are_clear_errors(home: Home, tmp_path: Path) -> None:
    for args, words in (
        (["--doors", "ioctl,usb"], "unknown door"),
        (["--engine", "afl"], "unknown engine"),
        (["--duration", "soon"], "malformed duration"),
    ):
        res = fuzz(home, *args, timeout=60)
        assert res.returncode != 0 and words in res.stderr, res.stderr


def test_uri_is_where_the_campaign_runs(home: Home) -> None:
    """--uri reaches the campaign's connections: an unreachable one is a clear error, not the default."""
    down = "qemu:///system?socket=/nonexistent/libvirt-sock"
    name = f"uri-down-{time.strftime('%H%M%S')}"
    res = fuzz(home, "--duration", "20s", "--vms", "1", "--uri", down, "--campaign", name)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "cannot reach libvirtd at qemu:///system?socket=/nonexistent" in res.stderr
    state = json.loads((home.campaign(name) / "campaign.json").read_text())
    assert state["context"]["uri"] == down


def test_a_built_image_and_module_parameters_come_from_the_command_line(home: Home) -> None:
    built = rig(home, "image", "build", "--params", "bugs=ioctl_unconfigured")
    assert built.returncode == 0, built.stderr
    image_id = built.stdout.split()[1].rstrip(":")
    name = f"by-image-{time.strftime('%H%M%S')}"
    res = fuzz(
        home, "--image", image_id, "--duration", "40s", "--vms", "1", "--engine", "generate",
        "--min-buckets", "1", "--campaign", name,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr + res.stdout
    assert f"image {image_id}, boundary bugs=ioctl_unconfigured" in res.stdout
    saved = json.loads((home.campaign(name) / "campaign.json").read_text())
    assert saved["options"]["params"] == "bugs=ioctl_unconfigured"

    bad = fuzz(home, "--params", "bugs=ioctl_unconfigured nosuch=1", "--duration", "10s")
    assert bad.returncode != 0
    assert (
        bad.stderr.strip() == "rig: error: module boundary has no parameter 'nosuch' (it has: bugs)"
    )
    clash = fuzz(home, "--image", image_id, "--driver-bugs", "nl_missing_attr", "--duration", "9s")
    assert clash.returncode != 0 and "drop --driver-bugs/--params" in clash.stderr
