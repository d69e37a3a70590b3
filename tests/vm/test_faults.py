"""The rig survives what goes wrong around it, on real VMs, and says what happened.

Each test breaks one thing a user's machine can break (the rig killed, libvirtd
restarted, a VM destroyed from outside, a flooding or hostile guest, a full
disk) and checks what a user would notice: no crash lost or invented, no
domain left running, one clear sentence, and a campaign that resumes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig.bugtable import load
from rig.campaign.record import record_ending
from rig.config import Home
from rig.console.watcher import PROGRAM_MARKER, Ending
from rig.crash.store import CrashStore
from rig.fleet.backend import Backend
from rig.guest.proglog import read_log
from rig.host import daemons
from rig.image.build import REPO, Image
from tests.vm.cli import (
    campaign_buckets,
    campaign_domains,
    fuzz,
    infra_log,
    rig,
    start_fuzz,
    wait_for_execs,
    wait_until,
    worker_stats,
)
from tests.vm.conftest import SessionsOf

pytestmark = pytest.mark.vm

BUGS = {b.name: b for b in load(REPO / "driver")}
SHALLOW = "ioctl_unconfigured"  # found within seconds: a campaign that crashes and reboots often


def unique(name: str) -> str:
    """A campaign name no earlier run in a kept test home (RIG_TEST_HOME) used."""
    return f"{name}-{time.strftime('%H%M%S')}"


def integrity(home: Home) -> str:
    with sqlite3.connect(home.crash_db) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


def test_sigkill_of_the_whole_rig_loses_no_bucket_and_the_campaign_resumes(
    home: Home, backend: Backend
) -> None:
    name = unique("fault-sigkill")
    camp = home.campaign(name)
    proc = start_fuzz(
        home, "--duration", "10m", "--vms", "2", "--engine", "generate",
        "--driver-bugs", SHALLOW, "--campaign", name,
    )  # fmt: skip
    try:
        wait_until(
            "3 recorded crashes", lambda: sum(campaign_buckets(home, name).values()) >= 3, 240
        )
        before = campaign_buckets(home, name)
        execs_before = sum(worker_stats(camp, s).get("execs", 0) for s in (0, 1))
        os.killpg(proc.pid, signal.SIGKILL)  # parent and workers at once, wherever they were
        proc.wait(30)
    finally:
        stop(proc)
    assert integrity(home) == "ok"
    after = campaign_buckets(home, name)
    assert all(after.get(b, 0) >= n for b, n in before.items()), (before, after)
    # Programs are logged before they are sent: whatever a guest started is in its log.
    for boot in (camp / "boots").iterdir():
        console, log = boot / "console.log", boot / "programs.log"
        started = [int(m) for m in PROGRAM_MARKER.findall(console.read_text(errors="replace"))]
        if started:
            assert log.exists() and read_log(log)[-1].seq >= max(started), boot.name

    res = fuzz(home, "--resume", str(camp), "--duration", "30s")
    assert res.returncode == 0, res.stderr
    assert campaign_domains(backend, name) == [], "the SIGKILLed workers' VMs were reaped"
    summary = json.loads((camp / "summary.json").read_text())
    assert summary["ended"] == "finished"
    assert summary["execs"] > execs_before, "counts continue across the kill"
    resumed = campaign_buckets(home, name)
    assert all(resumed.get(b, 0) >= n for b, n in after.items())
    assert integrity(home) == "ok"


def test_libvirtd_killed_and_restarted_mid_campaign_is_a_pause_not_a_crash(home: Home) -> None:
    name = unique("fault-libvirtd")
    camp = home.campaign(name)
    proc = start_fuzz(
        home, "--duration", "130s", "--vms", "2", "--engine", "generate",
        "--driver-bugs", SHALLOW, "--campaign", name,
    )  # fmt: skip
    try:
        wait_for_execs(camp, 120)
        pid = daemons.running("libvirtd")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        wait_until("libvirtd gone", lambda: daemons.running("libvirtd") is None, 30)
        killed_at = sum(worker_stats(camp, s).get("execs", 0) for s in (0, 1))
        # The shallow bug crashes a VM every few seconds here, but a run can go
        # longer (CI once met none in 12 s): wait for a worker to need libvirtd.
        wait_until("a worker met the outage", lambda: bool(infra_log(camp)), 60)
        time.sleep(3)  # and let it retry while libvirtd is still away
        setup = rig(home, "host", "setup")
        assert setup.returncode == 0, setup.stdout + setup.stderr
        out, err = proc.communicate(timeout=400)
    finally:
        stop(proc)
    assert proc.returncode == 0, err + out
    summary = json.loads((camp / "summary.json").read_text())
    assert summary["ended"] == "finished"
    assert summary["execs"] > killed_at + 100, "the campaign went on after the restart"
    failures = infra_log(camp)
    assert failures, "the outage was recorded as infrastructure"
    assert any("libvirt" in f["detail"] for f in failures), failures
    with CrashStore.open(home.root) as store:
        titles = [b.title for b in store.campaign_buckets(name)]
    assert titles == [BUGS[SHALLOW].title], titles  # no 'lost connection', no 'no output'


def test_vm_destroyed_from_outside_is_a_lost_vm_and_a_fresh_one_boots(
    home: Home, backend: Backend
) -> None:
    name = unique("fault-destroy")
    camp = home.campaign(name)
    proc = start_fuzz(
        home, "--duration", "60s", "--vms", "1", "--engine", "generate", "--campaign", name
    )
    try:
        wait_for_execs(camp, 120, slots=1)
        (victim,) = campaign_domains(backend, name)
        subprocess.run(["virsh", "-q", "destroy", victim], check=True, capture_output=True)
        out, err = proc.communicate(timeout=300)
    finally:
        stop(proc)
    assert proc.returncode == 0, err + out
    assert campaign_buckets(home, name) == {}, "a destroyed VM is not a kernel crash"
    lost = [f for f in infra_log(camp) if "destroyed by someone other than the rig" in f["detail"]]
    assert len(lost) == 1, infra_log(camp)
    assert worker_stats(camp, 0)["boots"] >= 2, "the worker booted a fresh VM"


FLOOD_S = 75
LINE = "flood " + "x" * 120


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_console_flood_keeps_the_rig_bounded_and_the_oops_is_still_bucketed(
    home: Home, session_of: SessionsOf, image_for: Callable[[str], Image]
) -> None:
    image = image_for("bugs=debugfs_crash_hook")
    s = session_of(image, start=False)
    inst = s.instance
    assert inst.watcher is not None
    cap = inst.limits.console_cap_bytes
    rss_before = rss_kib()
    # As fast as the guest can: short lines, then a 1 MiB line, over and over; then a real oops.
    flood = (
        f"while :; do yes '{LINE}' | head -n 4000; head -c 1048576 /dev/zero | tr '\\000' B; "
        "echo; done"
    )
    inst.watcher.send(
        f'(timeout {FLOOD_S} sh -c "{flood}"; echo 1 > /sys/kernel/debug/boundary/crash_hook)'
        " >/dev/console 2>&1 &\n"
    )
    s.start()
    ending = s.wait_for_report(FLOOD_S + 90)
    assert ending is not None and ending.ending is Ending.REPORT, ending
    transcript = inst.watcher.transcript
    grown_kib = rss_kib() - rss_before
    flooded = transcript.total
    assert flooded > cap, f"the guest flooded only {flooded} bytes"  # about 0.4 MB/s under TCG
    assert len(transcript.data()) <= cap + 512 * 1024
    # The bound: the transcript's cap plus the same again for everything else.
    assert grown_kib * 1024 < 2 * cap, f"RSS grew {grown_kib} KiB for {flooded} console bytes"
    logs = list(inst.dir.glob("console.log*"))
    assert sum(p.stat().st_size for p in logs) <= 4 * 2 * 1024 * 1024 + 64 * 1024, logs
    with CrashStore.open(home.root) as store:
        rec = record_ending(store, inst, ending, "fault-flood")
        assert rec is not None
        bucket = store.bucket(rec.bucket_id)
    assert bucket is not None and bucket.title == BUGS["debugfs_crash_hook"].title


def test_hostile_console_bytes_are_stored_raw_and_shown_escaped(
    home: Home, session_of: SessionsOf, image_for: Callable[[str], Image]
) -> None:
    s = session_of(image_for(""), start=False)
    inst = s.instance
    assert inst.watcher is not None
    # printf turns the octal escapes into the bytes themselves: ESC, BEL, NUL, 0xff...
    hostile = (
        "printf 'nul:\\000: clear:\\033[2J title:\\033]0;pwned\\007 bad:\\377\\376 "
        "c1:\\302\\233 end\\n'; head -c 1048576 /dev/zero | tr '\\000' C; echo; "
        # The shell echoes what is typed: spell the report's first word so the echo is none.
        "printf '<4>B%sG: <script>alert(1)</script> \\033[31mred\\033[0m [rig hostile]\\n' U "
        "> /dev/kmsg; printf '<4>Call Trace:\\n' > /dev/kmsg; "
        "printf '<4> hostile_fn+0x1/0x2\\n' > /dev/kmsg"
    )
    inst.watcher.send(hostile + "\n")
    s.start()
    ending = s.wait_for_report(60)
    assert ending is not None and ending.ending is Ending.REPORT, ending
    with CrashStore.open(home.root) as store:
        rec = record_ending(store, inst, ending, "fault-hostile")
        assert rec is not None
        bucket = store.bucket(rec.bucket_id)
    assert bucket is not None and "<script>" in bucket.title
    assert "\x1b" not in bucket.title and "pwned" not in bucket.title
    log0 = (bucket.directory / "log0").read_bytes()
    assert b"\x1b[2J" in log0 and b"\xff\xfe" in log0, "the console is stored as it came"
    listing = rig(home, "crashes")
    shown = rig(home, "crashes", "show", rec.bucket_id[:12])
    for res in (listing, shown):
        assert res.returncode == 0, res.stderr
        assert "<script>alert" in res.stdout  # as text, not interpreted
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", res.stdout), "no control bytes shown"


@pytest.fixture
def small_home(home: Home, tmp_path: Path) -> Iterator[Home]:
    """A home on a 128 MiB tmpfs, sharing the test home's kernel and images (read only here)."""
    root = tmp_path / "small-home"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128M", "tmpfs", str(root)], check=True)
    try:
        (root / "cache").mkdir()
        (root / "images").symlink_to(home.images)
        (root / "cache" / "kernels").symlink_to(home.kernels)
        if home.host_file.exists():
            (root / "host.json").write_bytes(home.host_file.read_bytes())
        yield Home(root)
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


def test_a_full_disk_stops_the_campaign_with_the_path_and_it_resumes_after(
    small_home: Home, backend: Backend
) -> None:
    name = unique("fault-full")
    camp = small_home.campaign(name)
    proc = start_fuzz(
        small_home, "--duration", "5m", "--vms", "1", "--engine", "generate",
        "--driver-bugs", SHALLOW, "--campaign", name,
    )  # fmt: skip
    filler = small_home.root / "filler"
    try:
        wait_until("a recorded crash", lambda: bool(campaign_buckets(small_home, name)), 180)
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M"], capture_output=True)
        out, err = proc.communicate(timeout=300)
    finally:
        stop(proc)
    assert proc.returncode == 3, out + err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("rig: error: "), err
    assert str(small_home.root) in lines[0] and "left on the filesystem" in lines[0]
    assert campaign_domains(backend, name) == []
    assert integrity(small_home) == "ok"
    filler.unlink()
    res = fuzz(small_home, "--resume", str(camp), "--duration", "20s")
    assert res.returncode == 0, res.stderr
    assert integrity(small_home) == "ok"


def test_a_short_soak_finds_nothing_growing(home: Home) -> None:
    """The CI-sized soak (3 minutes, crash-heavy); the 1-hour figures are in the notes."""
    soak = unique("soak-ci")
    res = rig(
        home, "soak", "--hours", "0.05", "--interval", "10s", "--vms", "2",
        "--engine", "generate", "--driver-bugs", SHALLOW, "--campaign", soak,
        timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    camp = home.campaign(soak)
    rows = (camp / "soak.jsonl").read_text().splitlines()
    assert len(rows) >= 15
    report = json.loads((camp / "soak.json").read_text())
    assert all(v["ok"] for v in report["verdicts"]), report["verdicts"]
    judged = {v["metric"] for v in report["verdicts"] if v["judged"]}
    assert {"fds", "domains"} <= judged, "a short soak still judges leaks per VM"
    assert len(list((camp / "boots").iterdir())) <= 64 + 2
