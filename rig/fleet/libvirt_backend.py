"""The only module that imports libvirt; maps libvirtError to InfraError."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import libvirt

from rig.errors import InfraError
from rig.fleet.backend import DomainInfo
from rig.fleet.domain_xml import OWNER_NS, parse_owner

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_URI = "qemu:///system"

# libvirt prints every error to stderr by default; we raise them instead.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


def _gone(e: libvirt.libvirtError) -> bool:
    return bool(e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN)


class LibvirtBackend:
    """A libvirt connection; thread-safe for the calls the fleet makes."""

    def __init__(self, uri: str = DEFAULT_URI) -> None:
        self.uri = uri
        self._lock = threading.Lock()
        try:
            self._conn: Any = libvirt.open(uri)
        except libvirt.libvirtError as e:
            raise InfraError(
                f"cannot reach libvirtd at {uri}: {e.get_error_message()}; run `rig host setup`"
            ) from e

    def close(self) -> None:
        with contextlib.suppress(libvirt.libvirtError):
            self._conn.close()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except libvirt.libvirtError as e:
            raise InfraError(f"libvirt {what} failed: {e.get_error_message()}") from e

    def _lookup(self, name: str) -> Any:
        return self._call(f"lookup {name}", lambda: self._conn.lookupByName(name))

    def start_paused(self, xml: str) -> str:
        dom = self._call(
            "createXML", lambda: self._conn.createXML(xml, libvirt.VIR_DOMAIN_START_PAUSED)
        )
        return str(dom.name())

    def console_pty(self, name: str) -> str:
        xml = self._call("XMLDesc", lambda: self._lookup(name).XMLDesc(0))
        m = re.search(r"<serial type='pty'>\s*<source path='([^']+)'", xml)
        if not m:
            raise InfraError(f"domain {name} has no pty serial console")
        return m.group(1)

    def resume(self, name: str) -> None:
        self._call(f"resume {name}", lambda: self._lookup(name).resume())

    def suspend(self, name: str) -> None:
        self._call(f"suspend {name}", lambda: self._lookup(name).suspend())

    def destroy(self, name: str) -> bool:
        try:
            self._conn.lookupByName(name).destroy()
            return True
        except libvirt.libvirtError as e:
            if _gone(e) or e.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID:
                return False
            raise InfraError(f"libvirt destroy {name} failed: {e.get_error_message()}") from e

    def is_active(self, name: str) -> bool:
        try:
            return bool(self._conn.lookupByName(name).isActive())
        except libvirt.libvirtError as e:
            if _gone(e):
                return False
            raise InfraError(f"libvirt isActive {name} failed: {e.get_error_message()}") from e

    def domains(self) -> list[DomainInfo]:
        out = []
        for dom in self._call("listAllDomains", lambda: self._conn.listAllDomains(0)):
            try:
                meta = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, OWNER_NS)
                owner = parse_owner(meta)
            except libvirt.libvirtError:
                owner = None
            try:
                active = bool(dom.isActive())
            except libvirt.libvirtError:
                continue
            out.append(DomainInfo(str(dom.name()), owner, active))
        return out

    def capabilities_probe_s(self) -> float:
        """Seconds one QEMU-capabilities call takes (the re-probe trap makes it tens)."""

        start = time.monotonic()
        self._call(
            "getDomainCapabilities",
            lambda: self._conn.getDomainCapabilities(None, "x86_64", None, "qemu", 0),
        )
        return time.monotonic() - start


def connect(uri: str = DEFAULT_URI) -> LibvirtBackend:
    """A connection, after destroying domains of rig processes that died (SIGKILL leaves them)."""
    from rig.fleet.owner import reap_orphans

    backend = LibvirtBackend(uri)
    reaped = reap_orphans(backend)
    if reaped:
        log.warning("destroyed %d domain(s) left by dead rig processes", len(reaped))
    return backend
