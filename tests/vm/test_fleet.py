"""The walking skeleton against real VMs: boot, catch reports, notice vanished and silent guests."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rig.config import Home, Limits
from rig.console.watcher import Ending
from rig.crash.kinds import Kind
from rig.deadline import Deadline
from rig.fleet.backend import Backend
from rig.fleet.instance import Instance
from rig.fleet.owner import reap_orphans
from rig.fleet.pool import Fleet
from rig.image.build import Image
from rig.vmhost import VmHost
from tests.vm.cli import rig

pytestmark = pytest.mark.vm

BUGS = "bugs=debugfs_crash_hook,debugfs_inject_warn"


def test_fleet_of_two_boots_and_both_report_ready(
    host: VmHost, backend: Backend, image_for: Callable[[str], Image]
) -> None:
    image = image_for("")
    with Fleet(host, [image, image], "fleet") as fleet:
        instances = fleet.boot()
        assert len(instances) == 2
        for inst in instances:
            assert backend.is_active(inst.name)
            assert inst.timing.ready_s > 0
            assert "RIG-READY" in inst.console_text()
    assert not any(backend.is_active(i.name) for i in instances)


def test_deliberate_crash_is_caught_whole_and_the_vm_is_gone(
    backend: Backend, boot: Callable[..., Instance], image_for: Callable[[str], Image]
) -> None:
    inst = boot(image_for(BUGS))
    assert inst.watcher is not None
    _, _, outcome = inst.watcher.shell(
        "echo 1 > /sys/kernel/debug/boundary/crash_hook", Deadline(60)
    )
    assert outcome is not None and outcome.ending is Ending.REPORT
    assert outcome.report_format is not None and outcome.report_format.kind is Kind.NULL_DEREF
    text = inst.console_text()
    assert "BUG: kernel NULL pointer dereference" in text
    assert (
        "Call Trace:" in text and "---[ end trace" in text
    )  # the whole report, not its first line
    assert "Kernel panic - not syncing" in text
    deadline = Deadline(10)
    while backend.is_active(inst.name) and not deadline.expired():
        time.sleep(0.1)
    assert not backend.is_active(inst.name)  # panic=-1 + on_reboot=destroy


def test_warning_is_caught_while_the_guest_lives_on_then_destroyed(
    backend: Backend, boot: Callable[..., Instance], image_for: Callable[[str], Image]
) -> None:
    inst = boot(image_for(BUGS))
    assert inst.watcher is not None
    _, _, outcome = inst.watcher.shell(
        "echo warn:90 > /sys/kernel/debug/boundary/inject", Deadline(60)
    )
    assert outcome is not None and outcome.ending is Ending.REPORT
    assert outcome.report_format is not None and outcome.report_format.kind is Kind.WARNING
    assert backend.is_active(inst.name)  # a WARNING does not kill the guest...
    inst.destroy()
    assert not backend.is_active(inst.name)  # ...the rig does


def test_vm_destroyed_from_outside_is_lost_not_gone(
    backend: Backend, boot: Callable[..., Instance], image_for: Callable[[str], Image]
) -> None:
    inst = boot(image_for(""))
    subprocess.run(["virsh", "-q", "destroy", inst.name], check=True, capture_output=True)
    outcome = inst.watch(Deadline(30))
    assert outcome.ending is Ending.LOST_VM and outcome.infra  # libvirt said who stopped it


def test_silent_guest_is_no_output(
    backend: Backend, boot: Callable[..., Instance], image_for: Callable[[str], Image]
) -> None:
    inst = boot(image_for(""), Limits(quiet_s=3))
    backend.suspend(inst.name)
    started = time.monotonic()
    outcome = inst.watch(Deadline(30))
    assert outcome.ending is Ending.NO_OUTPUT
    assert 2.5 < time.monotonic() - started < 15


OWNER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from rig.config import Home
    from rig.context import RunContext
    from rig.image.build import verify
    image = verify(Path(sys.argv[1]))
    ctx = RunContext.create(Home(Path(sys.argv[2])), accel=sys.argv[4])
    with ctx.open() as host, host.instance(image, sys.argv[3]) as inst:
        inst.boot()
        print(inst.name, flush=True)
        time.sleep(600)
    """
)


def spawn_owner(
    image: Image, home: Home, campaign: str, accel: str
) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            OWNER_SCRIPT,
            str(image.dir),
            str(home.root),
            campaign,
            accel,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    name = proc.stdout.readline().strip()
    assert name.startswith("rig-"), f"owner process failed to boot: {name!r}"
    return proc, name


def test_killed_rigs_domains_are_reaped_but_a_live_rigs_are_not(
    home: Home, backend: Backend, accel: str, image_for: Callable[[str], Image]
) -> None:
    image = image_for("")
    killed, orphan = spawn_owner(image, home, "killed", accel)
    live, kept = spawn_owner(image, home, "live", accel)
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert backend.is_active(orphan)  # SIGKILL gave it no chance to clean up
        reaped = reap_orphans(backend)
        assert orphan in reaped
        assert not backend.is_active(orphan)
        assert backend.is_active(kept)
    finally:
        live.terminate()
        live.wait(30)
        backend.destroy(kept)
        backend.destroy(orphan)


def test_smoke_command_boots_crashes_and_cleans_up(home: Home, driver_dir: Path) -> None:
    res = rig(home, "vm", "smoke", "--vms", "2", "--driver", str(driver_dir))
    assert res.returncode == 0, res.stderr + res.stdout
    assert "BUG: kernel NULL pointer dereference" in res.stdout
    assert "smoke passed: 2 VMs booted" in res.stdout


def one_error_line(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("rig: error: ")
    return lines[0]


def test_unknown_kernel_version_is_one_clear_error(home: Home, driver_dir: Path) -> None:
    line = one_error_line(
        rig(home, "image", "build", "--driver", str(driver_dir), "--kernel", "9.9.9-nope")
    )
    assert "unknown kernel version 9.9.9-nope" in line


def test_driver_that_does_not_build_shows_the_compilers_first_error(
    home: Home, tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "Kbuild").write_text("obj-m := bad.o\n")
    (bad / "bad.c").write_text('#include <linux/module.h>\nint x = ;\nMODULE_LICENSE("GPL");\n')
    line = one_error_line(rig(home, "image", "build", "--driver", str(bad)))
    assert "does not build" in line and "bad.c:2" in line and "error" in line


def test_unknown_module_parameter_is_one_clear_error(home: Home, driver_dir: Path) -> None:
    line = one_error_line(
        rig(home, "image", "build", "--driver", str(driver_dir), "--params", "nosuch=1")
    )
    assert "no parameter 'nosuch'" in line


def test_libvirtd_unreachable_is_one_clear_error(home: Home, driver_dir: Path) -> None:
    down = "qemu:///system?socket=/nonexistent/libvirt-sock"
    res = rig(home, "vm", "smoke", "--driver", str(driver_dir), "--uri", down, timeout=300)
    line = one_error_line(res)
    assert "cannot reach libvirtd" in line


def test_corrupt_cached_image_is_one_clear_error(
    home: Home, image_for: Callable[[str], Image]
) -> None:
    image = image_for("")
    copy = home.images / "corrupt-copy"
    if copy.exists():
        subprocess.run(["rm", "-rf", str(copy)], check=True)
    subprocess.run(["cp", "-a", str(image.dir), str(copy)], check=True)
    with (copy / "initramfs.cpio").open("r+b") as f:
        f.seek(100)
        f.write(b"garbage")
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pathlib import Path; from rig.cli.main import main; import sys; "
            "sys.argv=['rig','image','show',sys.argv[1]]; main()",
            str(copy),
        ],
        capture_output=True,
        text=True,
    )
    line = one_error_line(res)
    assert "corrupt" in line and "initramfs.cpio" in line


def test_doctor_passes_on_a_ready_host_and_names_the_fix_for_a_failure(
    home: Home, driver_dir: Path, image_for: Callable[[str], Image]
) -> None:
    image_for("")
    setup = rig(home, "host", "setup")
    assert setup.returncode == 0, setup.stderr
    ready = rig(home, "doctor", "--driver", str(driver_dir))
    assert ready.returncode == 0, ready.stdout
    passed = [ln.split()[1] for ln in ready.stdout.splitlines() if ln.startswith("ok")]
    assert passed == ["packages", "libvirtd", "accel", "kernel", "qemu", "gcc", "image"]

    down = "qemu:///system?socket=/nonexistent/libvirt-sock"
    broken = rig(home, "doctor", "--driver", str(driver_dir), "--uri", down)
    assert broken.returncode == 1
    assert "FAIL libvirtd" in broken.stdout
    assert "fix: rig host setup" in broken.stdout
