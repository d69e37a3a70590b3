"""Campaigns over two libvirt hosts for real: this machine's libvirtd and a second one on
127.0.0.1 (qemu+tcp, its own directories), reached as a remote host: images through its
storage pool, console and agent channel over the connection."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator

import pytest

from rig.config import Home
from rig.context import RunContext
from rig.crash.store import CrashStore
from rig.guest.surface import default_config
from rig.host.extra import ExtraLibvirtd
from rig.image.build import Image
from rig.prog.program import Program
from tests.vm.cli import fuzz, rig, start_fuzz, wait_for_execs, worker_stats

pytestmark = pytest.mark.vm

BUG = "ioctl_unconfigured"
TITLE = "BUG: unable to handle kernel NULL pointer dereference in boundary_xfer_unconfigured"


@pytest.fixture(scope="module")
def second(home: Home, ctx: RunContext) -> Iterator[ExtraLibvirtd]:
    with ExtraLibvirtd(home.root / "cache" / "extra-libvirtd", ctx.accel) as d:
        yield d


def _titles(home: Home, campaign: str) -> set[str]:
    with CrashStore.open(home.root) as store:
        return {b.title for b in store.campaign_buckets(campaign) if "corrupted" not in b.title}


def test_a_remote_session_uploads_its_image_once_and_runs_programs(
    ctx: RunContext, second: ExtraLibvirtd, image_for: Callable[..., Image]
) -> None:
    image = image_for()
    far = RunContext(ctx.home, second.uri, ctx.accel, ctx.limits, ctx.snapshots)
    config = default_config(image.module, ctx.limits.call_s)
    with far.open() as host:
        assert host.backend.remote
        with host.session(image, config, campaign="remote-session") as s:
            results = [s.run(Program(())) for _ in range(50)]
            assert all(r is not None for r in results)
            log = s.instance.console_log
        assert host.cold_boots == 1 and host.restores == 0, "no snapshots on a remote host"
    assert b"rig: executing program 50" in log.read_bytes(), "the console is kept locally"
    pool = second.root / "lib" / "images" / "rig"
    vols = sorted(p.name for p in pool.iterdir())
    sha = image.manifest["sha256"]
    assert f"{sha['vmlinux'][:32]}-vmlinux.ok" in vols
    assert f"{sha['initramfs.cpio'][:32]}-initramfs.cpio.ok" in vols


def test_a_campaign_over_two_hosts_finds_what_a_local_one_finds(
    home: Home, ctx: RunContext, second: ExtraLibvirtd
) -> None:
    common = ("--duration", "40s", "--seed", "1", "--driver-bugs", BUG, "--min-buckets", "1")
    local = fuzz(home, *common, "--vms", "2", "--campaign", "hosts-local")
    assert local.returncode == 0, local.stderr
    both = fuzz(
        home,
        *common,
        "--host", f"{ctx.uri}=1",
        "--host", f"{second.uri}=1",
        "--campaign", "hosts-two",
    )  # fmt: skip
    assert both.returncode == 0, both.stderr
    assert f"host {second.uri}: 1 VM(s)" in both.stdout
    assert _titles(home, "hosts-two") == _titles(home, "hosts-local") == {TITLE}
    camp = home.campaign("hosts-two")
    stats = [worker_stats(camp, slot) for slot in (0, 1)]
    assert [s["host"] for s in stats] == [ctx.uri, second.uri]
    assert all(s["execs"] > 0 and s["crashes"] > 0 for s in stats), stats
    listed = json.loads(rig(home, "crashes", "--json").stdout)
    hosts = next(b["hosts"] for b in listed if b["title"] == TITLE)
    assert second.uri in hosts and ctx.uri in hosts, hosts


def test_losing_a_host_mid_campaign_is_survived(
    home: Home, ctx: RunContext, second: ExtraLibvirtd
) -> None:
    """libvirtd on the second host dies: its VM is lost to the campaign, which goes on."""
    proc = start_fuzz(
        home,
        "--duration", "200s",
        "--seed", "3",
        "--host", f"{ctx.uri}=1",
        "--host", f"{second.uri}=1",
        "--campaign", "hosts-lost-host",
    )  # fmt: skip
    camp = home.campaign("hosts-lost-host")
    try:
        wait_for_execs(camp, 120, slots=2)
        second.kill()
        execs_then = worker_stats(camp, 0)["execs"]
        out, err = proc.communicate(timeout=400)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        second.stop()
        second.start()  # for any test after this one
    assert proc.returncode == 0, err
    summary = json.loads((camp / "summary.json").read_text())
    assert summary["ended"] == "finished", summary
    retry = [w for w in summary["warnings"] if w.startswith("vm 1 cannot reach its host")]
    lost = [w for w in summary["warnings"] if w.startswith("vm 1 lost its host")]
    assert retry and lost and second.uri in lost[0], summary["warnings"]
    assert worker_stats(camp, 0)["execs"] > execs_then, "the local VM went on"
    assert worker_stats(camp, 1)["status"] == "failed"
    assert summary["buckets"] == [], "a lost host is no crash of the driver"
    assert "lost its host" in out
