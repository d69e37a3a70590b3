"""The seam between instances and a hypervisor: what tests can fake."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rig.fleet.domain_xml import Owner


@dataclass(frozen=True)
class DomainInfo:
    name: str
    owner: Owner | None
    active: bool


class Backend(Protocol):
    def start_paused(self, xml: str) -> str:
        """Create a transient domain, paused; returns its name."""
        ...

    def console_pty(self, name: str) -> str:
        """Path of the pty behind the domain's serial console."""
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
