"""Which rig process owns a domain, whether it still lives, and reaping the orphans."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from rig.fleet.backend import Backend
from rig.fleet.domain_xml import Owner

log = logging.getLogger(__name__)


def _stat(pid: int) -> tuple[str, int] | None:
    """State and start time (clock ticks since boot) of `pid`, from /proc/PID/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; fields follow the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat)."""
    st = _stat(pid)
    return None if st is None else st[1]


def me(campaign: str) -> Owner:
    pid = os.getpid()
    return Owner(socket.gethostname(), pid, start_time(pid) or 0, campaign)


def alive(owner: Owner) -> bool:
    """True unless the owner is provably dead; owners on other hosts count as alive."""
    if owner.host != socket.gethostname():
        return True
    st = _stat(owner.pid)
    # A zombie is dead: a SIGKILLed rig stays one until an init that reaps
    # lazily gets to it, and its domains must be reaped meanwhile.
    return st is not None and st[0] not in ("Z", "X") and st[1] == owner.start_time


def reap_orphans(backend: Backend) -> list[str]:
    """Destroy the domains of rig processes that died; never those of live ones."""
    reaped = []
    for info in backend.domains():
        if info.owner is None or alive(info.owner):
            continue
        if backend.destroy(info.name):
            log.info("destroyed orphan %s (owner pid %d is gone)", info.name, info.owner.pid)
            reaped.append(info.name)
    return reaped
