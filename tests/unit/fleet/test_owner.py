"""Only domains of dead rig processes are reaped."""

from __future__ import annotations

import os
import socket
import subprocess

from rig.fleet.backend import DomainInfo
from rig.fleet.domain_xml import Owner
from rig.fleet.owner import alive, me, reap_orphans, start_time


class Listing:
    def __init__(self, infos: list[DomainInfo]) -> None:
        self.infos = infos
        self.destroyed: list[str] = []

    def domains(self) -> list[DomainInfo]:
        return self.infos

    def destroy(self, name: str) -> bool:
        self.destroyed.append(name)
        return True


def dead_owner() -> Owner:
    proc = subprocess.Popen(["true"])
    st = start_time(proc.pid) or 1
    proc.wait()
    return Owner(socket.gethostname(), proc.pid, st, "old")


def test_this_process_is_alive_and_a_finished_one_is_not() -> None:
    assert alive(me("c"))
    assert not alive(dead_owner())


def test_a_reused_pid_does_not_keep_an_orphan_alive() -> None:
    mine = me("c")
    assert not alive(Owner(mine.host, os.getpid(), mine.start_time + 1, "c"))


def test_reap_destroys_only_orphans() -> None:
    listing = Listing(
        [
            DomainInfo("orphan", dead_owner(), True),
            DomainInfo("live", me("c"), True),
            DomainInfo("foreign-host", Owner("elsewhere", 1, 1, "c"), True),
            DomainInfo("not-ours", None, True),
        ]
    )
    assert reap_orphans(listing) == ["orphan"]  # type: ignore[arg-type]
    assert listing.destroyed == ["orphan"]


def test_a_killed_owner_not_yet_reaped_is_dead() -> None:
    # Found in CI: SIGKILLed workers stay zombies until a lazy init reaps them,
    # and their VMs were taken for a live rig's and left running.
    proc = subprocess.Popen(["sleep", "60"])
    owner = Owner(socket.gethostname(), proc.pid, start_time(proc.pid) or 1, "c")
    assert alive(owner)
    proc.kill()
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # dead, not reaped: a zombie
    assert not alive(owner)
    proc.wait()
