"""The smoke run: boot a fleet with the driver loaded, crash one VM on purpose, catch it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rig.bugtable import bug_params
from rig.console.watcher import Ending
from rig.deadline import Deadline
from rig.errors import RigError
from rig.fleet.pool import Fleet
from rig.image.build import Image

if TYPE_CHECKING:
    from rig.vmhost import VmHost

log = logging.getLogger(__name__)

# The bundled driver's deliberate crash: a debugfs write that NULL-derefs when
# the debugfs_crash_hook bug is on. It exists so the rig can prove, in one
# boot, that it catches a kernel report end to end.
CRASH_BUG = "debugfs_crash_hook"


@dataclass
class SmokeResult:
    booted: list[str] = field(default_factory=list)
    ready_s: list[float] = field(default_factory=list)
    report_first_line: str = ""
    report_text: str = ""
    crashed_vm: str = ""
    crashed_vm_gone: bool = False
    leftover: list[str] = field(default_factory=list)


def campaign_name(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def report_excerpt(console: str, first_line: str, limit: int = 60) -> str:
    lines = console.splitlines()
    start = next((i for i, ln in enumerate(lines) if first_line and first_line in ln), 0)
    return "\n".join(lines[start : start + limit])


def run(host: VmHost, driver: Path, vms: int, say: Callable[[str], None]) -> SmokeResult:
    result = SmokeResult()
    ctx = host.ctx
    clean = ctx.build_image(driver)
    crashy = ctx.build_image(driver, params=bug_params(driver, CRASH_BUG))
    say(f"images: {clean.id} (clean), {crashy.id} (bugs={CRASH_BUG}) for VM 0")
    images: list[Image] = [crashy] + [clean] * (vms - 1)
    campaign = campaign_name("smoke")
    fleet = Fleet(host, images, campaign)
    with fleet:
        fleet.boot()
        for inst in fleet.instances:
            result.booted.append(inst.name)
            result.ready_s.append(inst.timing.ready_s)
            say(f"{inst.name}: ready in {inst.timing.ready_s:.2f}s")
        for inst in fleet.instances:
            assert inst.watcher is not None
            module = inst.image.module
            rc, out, _ = inst.watcher.shell(
                f"ls -d /sys/module/{module} /sys/kernel/debug/{module}/* /dev/{module}* 2>/dev/null",
                Deadline(host.ctx.limits.shell_s),
            )
            if rc is None or f"/sys/module/{module}" not in out:
                raise RigError(f"{inst.name}: driver {module} not loaded or its files are missing")
            files = len(out.split())
            say(f"{inst.name}: driver {module} loaded, {files} of its files present")
        victim = fleet.instances[0]
        assert victim.watcher is not None
        say(f"{victim.name}: writing to /sys/kernel/debug/{victim.image.module}/crash_hook")
        _, _, outcome = victim.watcher.shell(
            f"echo 1 > /sys/kernel/debug/{victim.image.module}/crash_hook",
            Deadline(host.ctx.limits.shell_s),
        )
        if outcome is None or outcome.ending is not Ending.REPORT:
            raise RigError(f"{victim.name}: the deliberate crash was not caught")
        result.crashed_vm = victim.name
        result.report_first_line = outcome.first_line
        result.report_text = report_excerpt(victim.console_text(), outcome.first_line)
        victim.destroy()
        result.crashed_vm_gone = not host.backend.is_active(victim.name)
    result.leftover = [n for n in result.booted if host.backend.is_active(n)]
    return result
