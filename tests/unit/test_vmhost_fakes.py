"""Sessions, instances and the VM host end to end on fake domains: a pty for the console and
the real guest agent, built natively, behind the channel. No VM, yet every ending a VM has."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rig.config import Home, Limits
from rig.console.watcher import Ending
from rig.context import RunContext
from rig.errors import BootError, GuestProtocolError, InfraError, LibvirtGone
from rig.guest.protocol import AgentConfig, CallStatus
from rig.prog.program import FileRead, Program
from rig.vmhost import VmHost
from tests.fakes import LOST, FakeBackend, Step, fake_image
from tests.unit.guest.agent_support import build

READY = b"RIG-READY fakedrv uptime=1.00\r\n"
OOPS = b"""[    2.00] BUG: kernel NULL pointer dereference, address: 0000000000000000\r
[    2.00] #PF: supervisor write access in kernel mode\r
[    2.00] Oops: 0002 [#1] PREEMPT SMP NOPTI\r
[    2.00] RIP: 0010:fakedrv_write+0x5/0x20 [fakedrv]\r
[    2.01] Call Trace:\r
[    2.01]  vfs_write+0x26/0x30\r
[    2.02] ---[ end trace 0000000000000000 ]---\r
[    2.03] Kernel panic - not syncing: Fatal exception\r
"""
FAST = Limits(
    call_s=1.0, hung_task_s=2, watchdog_thresh_s=1, quiet_s=6.0, boot_s=8.0,
    report_grace_s=1.0, settle_margin_s=1.0, agent_ready_s=5.0, stop_event_s=0.5,
)  # fmt: skip
CONFIG = AgentConfig(allow_paths=("/nonexistent/fakedrv",), call_timeout_s=1.0)
PROBE = Program((FileRead("/nonexistent/fakedrv", 16),))


@pytest.fixture(scope="module")
def agent() -> Path:
    return build("all")


@pytest.fixture
def ctx(tmp_path: Path) -> RunContext:
    FAST.check()
    return RunContext(Home(tmp_path).ensure(), "fake:///", "tcg", FAST, snapshots=False)


HostOf = Callable[..., VmHost]


@pytest.fixture
def host_of(ctx: RunContext, agent: Path) -> Iterator[HostOf]:
    made: list[VmHost] = []

    def make(*scripts: list[Step], fail_start: Exception | None = None) -> VmHost:
        backend = FakeBackend(list(scripts), agent=agent, fail_start=fail_start)
        host = ctx.open(backend)
        made.append(host)
        return host

    yield make
    for h in made:
        h.close()


def test_a_session_runs_programs_through_the_real_agent(ctx: RunContext, host_of: HostOf) -> None:
    host = host_of([READY, 30.0])
    with host.session(fake_image(ctx.home), CONFIG, campaign="c") as s:
        result = s.run(PROBE)
        assert result is not None and result.calls[0].status == CallStatus.OK
        assert result.calls[0].ret < 0, "the path does not exist on the host"
        assert s.alive
    assert not host.backend.is_active(s.instance.name), "closing the session destroys its VM"


def test_a_report_in_the_middle_of_a_program_ends_the_session(
    ctx: RunContext, host_of: HostOf
) -> None:
    host = host_of([READY, 0.5, OOPS, 0.5, None])  # a pty may drop bytes unread at close
    with host.session(fake_image(ctx.home), CONFIG, campaign="c") as s:
        while s.alive:
            s.run(PROBE)
        assert s.ending is not None and s.ending.ending is Ending.REPORT
        assert "NULL pointer" in s.ending.first_line


def test_a_vm_destroyed_by_someone_else_is_lost_not_crashed(
    ctx: RunContext, host_of: HostOf
) -> None:
    host = host_of([READY, 0.5, LOST])
    with host.session(fake_image(ctx.home), CONFIG, campaign="c") as s:
        while s.alive:
            s.run(PROBE)
        assert s.ending is not None and s.ending.ending is Ending.LOST_VM and s.ending.infra


def test_a_guest_that_dies_without_a_report_is_gone(ctx: RunContext, host_of: HostOf) -> None:
    host = host_of([READY, 0.5, None])
    with host.session(fake_image(ctx.home), CONFIG, campaign="c") as s:
        while s.alive:
            s.run(PROBE)
        assert s.ending is not None and s.ending.ending is Ending.GONE and not s.ending.infra


def test_a_boot_that_never_gets_ready_names_its_slowest_stage(
    ctx: RunContext, host_of: HostOf
) -> None:
    host = host_of([b"[    0.10] Linux version 6.1\r\n", 30.0])
    with pytest.raises(BootError, match=r"slowest: ready marker|slowest: first console byte"):
        host.session(fake_image(ctx.home), CONFIG, campaign="c")
    assert host.backend.domains() == [], "the VM that never booted is destroyed"


def test_a_silent_agent_is_an_infrastructure_error(ctx: RunContext, tmp_path: Path) -> None:
    backend = FakeBackend([[READY, 30.0]], agent=None)  # nothing behind the channel
    with ctx.open(backend) as host, pytest.raises((InfraError, GuestProtocolError)):
        host.session(fake_image(ctx.home), CONFIG, campaign="c")
    assert backend.domains() == []


def test_libvirtd_gone_is_libvirt_gone(ctx: RunContext, host_of: HostOf) -> None:
    host = host_of(fail_start=LibvirtGone("cannot reach libvirtd at fake:///"))
    with pytest.raises(LibvirtGone):
        host.session(fake_image(ctx.home), CONFIG, campaign="c")


def test_with_snapshots_on_a_backend_that_cannot_save_boots_cold_and_goes_on(
    ctx: RunContext, host_of: HostOf
) -> None:
    backend = FakeBackend([[READY, 30.0]] * 3, agent=build("all"))
    host = ctx.with_snapshots(True).open(backend)
    image = fake_image(ctx.home)
    for _ in range(2):
        with host.session(image, CONFIG, campaign="c") as s:
            assert s.run(PROBE) is not None
    assert host.restores == 0 and host.cold_boots >= 2
    host.close()


def test_a_worker_retries_a_host_that_fails_then_gives_up_saying_why(ctx: RunContext) -> None:
    from rig.campaign.directory import CampaignDir
    from rig.campaign.worker import Worker
    from rig.config import WorkerTiming

    image = fake_image(ctx.home)
    cd = CampaignDir(ctx.home.campaign("c"))
    spec = Path(__file__).resolve().parents[2] / "corpora" / "specs" / "boundary.yaml"
    cd.write_state(
        {
            "format": 1,
            "options": {
                "driver": "/nonexistent", "module": None, "bugs": "", "vms": 1,
                "duration_s": 60.0, "engine": "generate", "doors": ["ioctl"], "seed": 0,
                "spec": str(spec),
            },
            "context": ctx.to_json(),
        }
    )  # fmt: skip
    cd.set_image(image.id)
    timing = WorkerTiming(backoff_first_s=0.01, max_infra_in_a_row=3, infra_patience_s=0.0)
    worker = Worker(cd, 0, cd.context(ctx.home), timing)
    gone = FakeBackend([], fail_start=LibvirtGone("cannot reach libvirtd at fake:///"))
    with pytest.raises(InfraError, match="3 infrastructure failures in a row"):
        worker.run(backend=gone)
    assert worker.stats.infra_errors == 3 and gone.started == 3
    lines = cd.infra_log.read_text().splitlines()
    assert len(lines) == 3 and all("LibvirtGone" in ln for ln in lines)
