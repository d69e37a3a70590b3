"""RigVm on fake domains (a pty console and the real agent, no VM): a kernel report raises
KernelCrash with its bucket title, and the next program runs on a fresh VM."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.config import Home, Limits
from rig.context import RunContext
from rig.guest.protocol import AgentConfig, CallStatus
from rig.prog.program import FileRead, Program
from rig.testing import KernelCrash, RigVm, VmLost, VmTarget
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
TITLE = "BUG: unable to handle kernel NULL pointer dereference in fakedrv_write"
FAST = Limits(
    call_s=1.0, hung_task_s=2, watchdog_thresh_s=1, quiet_s=6.0, boot_s=8.0,
    report_grace_s=1.0, settle_margin_s=1.0, agent_ready_s=5.0, stop_event_s=0.5,
)  # fmt: skip
PROBE = Program((FileRead("/dev/fakedrv", 16),))


@pytest.fixture(scope="module")
def agent() -> Path:
    return build("all")


def rig_vm(tmp_path: Path, agent: Path, *scripts: list[Step], reset: str = "crash") -> RigVm:
    FAST.check()
    ctx = RunContext(Home(tmp_path).ensure(), "fake:///", "tcg", FAST, snapshots=False)
    host: VmHost = ctx.open(FakeBackend(list(scripts), agent=agent))
    target = VmTarget(driver=tmp_path / "fakedrv", spec=None)
    config = AgentConfig(allow_paths=("/dev/fakedrv",), call_timeout_s=1.0)
    return RigVm(lambda: host, target, reset, "c", built=fake_image(ctx.home), config=config)


def test_nothing_boots_until_a_program_runs(tmp_path: Path) -> None:
    opened: list[bool] = []

    def host() -> VmHost:
        opened.append(True)
        raise AssertionError("no host wanted")

    with RigVm(host, VmTarget(driver=tmp_path)) as vm:
        assert vm.fresh and vm.boots == 0
        vm.reset()
    assert not opened


def test_a_report_raises_kernel_crash_and_the_next_program_gets_a_fresh_vm(
    tmp_path: Path, agent: Path
) -> None:
    vm = rig_vm(tmp_path, agent, [READY, 0.5, OOPS, 0.5, None], [READY, 30.0])
    with vm, pytest.raises(KernelCrash) as e:
        for _ in range(200):
            result = vm.run(PROBE)
            assert result.calls[0].status in (CallStatus.OK, CallStatus.REFUSED)
    crash = e.value
    assert isinstance(crash, AssertionError), "hypothesis shrinks AssertionErrors"
    assert crash.title == TITLE
    assert str(crash).startswith(f"kernel report: {TITLE}\n")
    assert crash.program == PROBE and 'file_read("/dev/fakedrv", 16)' in str(crash)
    assert "NULL pointer dereference" in crash.report
    assert vm.fresh, "the crashed VM is gone"
    with vm:
        assert vm.run(PROBE).calls, "a fresh VM runs the next program"
        assert vm.boots == 2 and vm.crashes == 1


def test_a_vm_someone_else_destroys_is_lost_not_a_crash(tmp_path: Path, agent: Path) -> None:
    vm = rig_vm(tmp_path, agent, [READY, 0.5, LOST])
    with vm, pytest.raises(VmLost):
        for _ in range(200):
            vm.run(PROBE)


def test_reset_run_gives_every_program_a_fresh_vm(tmp_path: Path, agent: Path) -> None:
    vm = rig_vm(tmp_path, agent, [READY, 30.0], [READY, 30.0], reset="run")
    with vm:
        vm.run(PROBE)
        vm.run([FileRead("/dev/fakedrv", 1)])  # calls are a program too
        assert vm.boots == 2 and vm.runs == 2


def test_retargeting_to_the_same_target_keeps_the_vm(tmp_path: Path, agent: Path) -> None:
    vm = rig_vm(tmp_path, agent, [READY, 30.0])
    with vm:
        vm.run(PROBE)
        vm.retarget(VmTarget(driver=tmp_path / "fakedrv", spec=None))
        assert not vm.fresh and vm.built is not None
        vm.retarget(vm.with_params("bugs=all"))
        assert vm.fresh and vm.built is None, "other parameters: another image"


def test_an_unknown_reset_policy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="crash, test, run"):
        RigVm(lambda: None, VmTarget(driver=tmp_path), "sometimes")  # type: ignore[arg-type,return-value]


def test_with_record_the_crash_goes_into_the_store_under_its_bucket(
    tmp_path: Path, agent: Path
) -> None:
    from rig.crash.bucket import bucket_id
    from rig.crash.store import CrashStore

    vm = rig_vm(tmp_path, agent, [READY, 0.5, OOPS, 0.5, None])
    vm.record = True
    with vm, pytest.raises(KernelCrash) as e:
        for _ in range(200):
            vm.run(PROBE)
    assert f"(recorded: rig crashes show {bucket_id(TITLE)})" in str(e.value)
    with CrashStore.open(tmp_path) as store:
        assert [b.title for b in store.buckets()] == [TITLE]
