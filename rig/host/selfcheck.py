"""The end of `rig host setup`: prove libvirt answers from its cache, repairing once if not."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from rig.config import HostLimits
from rig.host import daemons
from rig.host.accel import Accel

log = logging.getLogger(__name__)

Check = Callable[[], daemons.CapabilityCheck]
Repair = Callable[[], list[str]]


def check_and_repair(check: Check, repair: Repair, accel: Accel) -> list[str]:
    """Check; if slow, repair once and check again; still slow raises InfraError.

    Separate from the daemons so the decision is testable without a libvirtd.
    """
    first = check()
    if first.ok:
        return [f"libvirt self-check: {first.describe()}"]
    lines = [f"libvirt self-check failed: {first.describe()}; restarting libvirtd"]
    lines += repair()
    second = check()
    if not second.ok:
        raise daemons.slow_libvirt_error(second, accel)
    lines.append(f"libvirt self-check after the repair: {second.describe()}")
    return lines


def verify_libvirt(uri: str, accel: Accel, runtime: Path, limits: HostLimits) -> list[str]:
    def repair() -> list[str]:
        daemons.stop_libvirtd(limits)
        return daemons.ensure(accel, runtime, limits)

    return check_and_repair(lambda: daemons.capability_check(uri, limits), repair, accel)
