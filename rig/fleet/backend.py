"""The seam between instances and a hypervisor: what tests can fake."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeAlias

from rig.deadline import Deadline
from rig.fleet.domain_xml import Owner

# Where a host finds the files a domain boots from: role ("kernel", "initrd") -> its path there.
Placed: TypeAlias = dict[str, str]


@dataclass(frozen=True)
class DomainInfo:
    name: str
    owner: Owner | None
    active: bool


class Backend(Protocol):
    uri: str  # the libvirt connection, as crashes name the host they came from
    # True when the host shares no files with us: no snapshots, no local paths.
    remote: bool
    epoch: int  # counts lost connections; a stream opened under an older one is gone

    def place(self, files: dict[str, tuple[Path, str]]) -> Placed:
        """Where the host finds each file (role -> (local path, sha256)), uploading it if need be."""
        ...

    def reachable(self) -> bool:
        """Whether libvirtd answers now (a remote console ends when its connection does)."""
        ...

    def open_console(self, name: str, log_file: Path) -> int:
        """A file descriptor reading the domain's serial console; the caller closes it."""
        ...

    def open_agent(self, name: str, path: Path, deadline: Deadline) -> socket.socket:
        """A socket connected to the guest agent's channel (`path` is its local socket)."""
        ...

    def start_paused(self, xml: str) -> str:
        """Create a transient domain, paused; returns its name."""
        ...

    def resume(self, name: str) -> None: ...

    def save(self, name: str, path: Path) -> None:
        """Save a running domain's state to a file; the domain stops."""
        ...

    def restore_paused(self, path: Path) -> None:
        """Start a domain, paused, from a save file (its name is the one inside it)."""
        ...

    def suspend(self, name: str) -> None: ...

    def destroy(self, name: str) -> bool:
        """Destroy if it still exists; True if it did exist."""
        ...

    def is_active(self, name: str) -> bool: ...

    def domains(self) -> list[DomainInfo]:
        """Every domain on the connection, with the rig owner when it has one."""
        ...

    def stop_reason(self, name: str, wait_s: float = 0.0) -> str | None:
        """Why a domain stopped ("destroyed", "shutdown", "crashed", ...), None if not known."""
        ...
