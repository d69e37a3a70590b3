"""The only module that imports libvirt; maps libvirtError to InfraError."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import libvirt

from rig.config import DEFAULT_URI
from rig.deadline import Deadline
from rig.errors import InfraError, LibvirtGone
from rig.fleet import streams
from rig.fleet.backend import DomainInfo, Placed
from rig.fleet.domain_xml import AGENT_PORT, OWNER_NS, parse_owner
from rig.fleet.streams import StreamBridge
from rig.guest.channel import connect_unix

log = logging.getLogger(__name__)
T = TypeVar("T")

# libvirt prints every error to stderr by default; we raise them instead.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

# Why a domain stopped, from libvirt's lifecycle events (detail of VIR_DOMAIN_EVENT_STOPPED).
STOP_REASONS = {
    libvirt.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: "shutdown",  # the guest powered off or reset
    libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED: "destroyed",  # someone called destroy
    libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED: "failed",  # QEMU itself died
    libvirt.VIR_DOMAIN_EVENT_STOPPED_SAVED: "saved",
}
REMEMBERED_STOPS = 4096
_events_lock = threading.Lock()
_events_started = False


def _start_event_loop() -> None:
    """libvirt's default event loop, once per process, in a daemon thread.

    It must be registered before a connection is opened for that connection
    to deliver events; every connection of the rig is opened here, after it.
    """
    global _events_started
    with _events_lock:
        if _events_started:
            return
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _events_started = True


# The stream bridges name libvirt's event bits without importing libvirt.
assert (
    (streams.READABLE, streams.WRITABLE, streams.ERROR, streams.HANGUP)
    == (
        libvirt.VIR_EVENT_HANDLE_READABLE,
        libvirt.VIR_EVENT_HANDLE_WRITABLE,
        libvirt.VIR_EVENT_HANDLE_ERROR,
        libvirt.VIR_EVENT_HANDLE_HANGUP,
    )
    == (
        libvirt.VIR_STREAM_EVENT_READABLE,
        libvirt.VIR_STREAM_EVENT_WRITABLE,
        libvirt.VIR_STREAM_EVENT_ERROR,
        libvirt.VIR_STREAM_EVENT_HANGUP,
    )
)


class _EventLoop:
    """libvirt's default event loop (running in its own thread) as the bridges' EventLoop.

    libvirt-python never frees what a handle callback holds, even once the
    handle is removed; so libvirt gets one trampoline that finds the bridge's
    callback by watch, and removing the handle drops the bridge for good.
    """

    def __init__(self) -> None:
        self._cbs: dict[int, Callable[[int], None]] = {}

    def _dispatch(self, watch: int, _fd: int, events: int, _opaque: Any) -> None:
        cb = self._cbs.get(watch)
        if cb is not None:
            cb(events)

    def add_handle(self, fd: int, events: int, cb: Callable[[int], None]) -> int:
        watch = int(libvirt.virEventAddHandle(fd, events, self._dispatch, None))
        self._cbs[watch] = cb
        return watch

    def update_handle(self, watch: int, events: int) -> None:
        libvirt.virEventUpdateHandle(watch, events)

    def remove_handle(self, watch: int) -> None:
        self._cbs.pop(watch, None)
        libvirt.virEventRemoveHandle(watch)


EVENTS = _EventLoop()  # the one loop of the process (see _start_event_loop)
KEEPALIVE_S, KEEPALIVE_COUNT = 5, 3  # a silent remote host is given up after ~20 s


def _gone(e: libvirt.libvirtError) -> bool:
    return bool(e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN)


def is_remote(uri: str) -> bool:
    """Whether `uri` names a libvirtd on another machine (qemu+ssh://host/..., qemu+tcp://...).

    Such a host shares no files with us: images go into its storage pool,
    the console and agent channel come over the connection. A URI without a
    host part (qemu:///system) is this machine's libvirtd.
    """
    return bool(urlparse(uri).hostname)


POOL = "rig"  # the storage pool images are uploaded into on a remote host
POOL_PATH = "/var/lib/libvirt/images/rig"  # where that pool keeps them when the rig creates it
UPLOAD_WAIT_S = 300.0  # how long to wait for another process' upload of the same volume


class LibvirtBackend:
    """A libvirt connection; thread-safe for the calls the fleet makes.

    libvirtd may die or be restarted under us (its domains live on: they are
    QEMU processes). A call that fails on a dead connection reopens it once
    and tries again; if libvirtd cannot be reached, the call raises
    LibvirtGone, which callers treat as "pause and try later", not as a
    verdict on the guest.
    """

    def __init__(self, uri: str = DEFAULT_URI) -> None:
        self.uri = uri
        self.remote = is_remote(uri)
        # Bumped whenever the connection is lost: a guest whose streams opened under
        # an older epoch lost them, even if a reconnect has succeeded since.
        self.epoch = 0
        self.bridges: list[StreamBridge] = []
        self._placed: dict[str, str] = {}  # sha256 -> its volume's path on the remote host
        self._lock = threading.Lock()
        self._stops: OrderedDict[str, str] = OrderedDict()
        self._stops_changed = threading.Condition()
        self._undestroyed: set[str] = set()  # destroys that could not reach libvirtd
        _start_event_loop()
        self._conn: Any = self._open()

    def _open(self) -> Any:
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError as e:
            raise LibvirtGone(
                f"cannot reach libvirtd at {self.uri}: {e.get_error_message()}; "
                "run `rig host setup`"
            ) from e
        try:
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_lifecycle, None
            )
        except libvirt.libvirtError as e:  # no events: stops are then simply unexplained
            log.warning("no lifecycle events from %s: %s", self.uri, e.get_error_message())
        if self.remote:
            with contextlib.suppress(libvirt.libvirtError):
                # Without keepalives a host that goes silent (no TCP reset) blocks every
                # call for TCP's own minutes; with them the connection closes in ~20 s.
                conn.setKeepAlive(KEEPALIVE_S, KEEPALIVE_COUNT)
            with contextlib.suppress(libvirt.libvirtError):
                # Its streams die with it: end their bridges so readers see EOF.
                conn.registerCloseCallback(self._on_close, None)
        return conn

    def _on_close(self, _conn: Any, reason: int, _opaque: Any) -> None:
        log.warning("the connection to %s closed (reason %d)", self.uri, reason)
        self.epoch += 1
        for bridge in list(self.bridges):
            bridge.close()

    def _on_lifecycle(self, _conn: Any, dom: Any, event: int, detail: int, _opaque: Any) -> None:
        if event != libvirt.VIR_DOMAIN_EVENT_STOPPED:
            return
        with self._stops_changed:
            self._stops[str(dom.name())] = STOP_REASONS.get(detail, f"stopped ({detail})")
            while len(self._stops) > REMEMBERED_STOPS:
                self._stops.popitem(last=False)
            self._stops_changed.notify_all()

    def stop_reason(self, name: str, wait_s: float = 0.0) -> str | None:
        """Why `name` stopped, as libvirt told us ("destroyed", "shutdown", ...); None if unknown.

        The event can trail the console closing by a moment: wait up to `wait_s` for it.
        """
        with self._stops_changed:
            self._stops_changed.wait_for(lambda: name in self._stops, timeout=wait_s)
            return self._stops.get(name)

    def close(self) -> None:
        for bridge in self.bridges:
            bridge.close()
        with contextlib.suppress(libvirt.libvirtError):
            self._conn.close()

    def _alive(self) -> bool:
        try:
            return bool(self._conn.isAlive())
        except libvirt.libvirtError:
            return False

    def reachable(self) -> bool:
        try:
            self._raw(lambda: self._conn.getLibVersion())
            return True
        except (libvirt.libvirtError, InfraError):
            return False

    def _reconnect(self) -> None:
        with self._lock:
            if self._alive():
                return  # another thread reconnected first
            log.warning("lost the connection to libvirtd at %s; reconnecting", self.uri)
            self.epoch += 1
            self.close()
            self._conn = self._open()
            pending, self._undestroyed = self._undestroyed, set()
        for name in sorted(pending):
            log.info("destroying %s, which could not be destroyed while libvirtd was away", name)
            self.destroy(name)

    def _raw(self, fn: Callable[[], T]) -> T:
        """fn() on a live connection: a dead one is reopened once and fn tried again."""
        try:
            return fn()
        except libvirt.libvirtError:
            if self._alive():
                raise
        self._reconnect()
        return fn()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return self._raw(fn)
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

    def open_console(self, name: str, log_file: Path) -> int:
        """A file descriptor reading the domain's serial console (ours to close).

        Locally the pty itself (libvirt logs to `log_file`); on a remote host
        a stream over the connection, copied to `log_file` as it passes.
        """
        if not self.remote:
            return os.open(self.console_pty(name), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)

        def opened() -> Any:  # one call: a retry after a reconnect gets a stream of the new one
            stream = self._conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
            try:
                dom = self._conn.lookupByName(name)
                dom.openConsole(None, stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
            except BaseException:
                with contextlib.suppress(libvirt.libvirtError):
                    stream.abort()
                raise
            return stream

        bridge = self._bridge(
            self._call(f"openConsole {name}", opened), f"console-{name}", log_file
        )
        fd = os.dup(bridge.outside.fileno())
        bridge.outside.close()
        return fd

    def open_agent(self, name: str, path: Path, deadline: Deadline) -> socket.socket:
        """A connected socket to the guest agent's channel: the unix socket at `path`
        locally, a stream over the connection on a remote host."""
        if not self.remote:
            return connect_unix(path, deadline)

        def opened() -> Any:
            stream = self._conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
            try:
                self._conn.lookupByName(name).openChannel(AGENT_PORT, stream, 0)
            except BaseException:
                with contextlib.suppress(libvirt.libvirtError):
                    stream.abort()
                raise
            return stream

        return self._bridge(
            self._call(f"openChannel {name}", opened), f"agent-{name}", None
        ).outside

    def _bridge(self, stream: Any, what: str, tee: Path | None) -> StreamBridge:
        try:  # not retried: the stream belongs to the connection it was opened on
            bridge = StreamBridge(stream, what, EVENTS, writable=True, tee=tee)
        except libvirt.libvirtError as e:
            raise InfraError(
                f"libvirt stream events for {what} failed: {e.get_error_message()}"
            ) from e
        with self._lock:
            self.bridges = [b for b in self.bridges if not b.closed] + [bridge]
        return bridge

    def place(self, files: dict[str, tuple[Path, str]]) -> Placed:
        """Where the host finds each of `files` (role -> (local path, sha256)).

        Locally the files themselves. On a remote host, volumes of the
        storage pool named by content, uploaded once per host: a volume is
        used only once its `.ok` marker exists, so an upload cut short is
        redone, and a process that finds another one uploading waits for it.
        """
        if not self.remote:
            return {role: str(path) for role, (path, _) in files.items()}
        out = {}
        for role, (path, sha) in files.items():
            if sha not in self._placed:
                self._placed[sha] = self._volume(self._pool(), path, sha)
            out[role] = self._placed[sha]
        return out

    def _pool(self) -> Any:
        def find() -> Any:
            try:
                return self._conn.storagePoolLookupByName(POOL)
            except libvirt.libvirtError as e:
                if e.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_POOL:
                    raise
            xml = (
                f"<pool type='dir'><name>{POOL}</name>"
                f"<target><path>{POOL_PATH}</path></target></pool>"
            )
            try:
                pool = self._conn.storagePoolDefineXML(xml, 0)
                pool.build(0)
            except libvirt.libvirtError:
                pool = self._conn.storagePoolLookupByName(POOL)  # defined meanwhile
            return pool

        pool = self._call(f"storage pool {POOL}", find)
        if not self._call("pool isActive", pool.isActive):
            with contextlib.suppress(libvirt.libvirtError):  # another process may start it first
                pool.create(0)
            self._call(f"start pool {POOL}", pool.refresh)
        return pool

    def _volume(self, pool: Any, path: Path, sha: str) -> str:
        name = f"{sha[:32]}-{path.name}"
        end = time.monotonic() + UPLOAD_WAIT_S
        while True:
            vols = set(self._call("listVolumes", pool.listVolumes))
            if f"{name}.ok" in vols:
                return str(self._call("vol path", lambda: pool.storageVolLookupByName(name).path()))
            if name in vols and time.monotonic() < end:
                time.sleep(0.5)  # another process is uploading it
                continue
            if name in vols:  # a stale upload, cut short long ago: redo it
                with contextlib.suppress(libvirt.libvirtError):
                    pool.storageVolLookupByName(name).delete(0)
            try:
                vol = pool.createXML(_vol_xml(name, path.stat().st_size), 0)
            except libvirt.libvirtError as e:
                if e.get_error_code() == libvirt.VIR_ERR_STORAGE_VOL_EXIST:
                    end = time.monotonic() + UPLOAD_WAIT_S
                    continue  # another process started it this instant: wait for it
                raise InfraError(f"libvirt create volume {name}: {e.get_error_message()}") from e
            return self._upload(pool, vol, name, path)

    def _upload(self, pool: Any, vol: Any, name: str, path: Path) -> str:
        """Fill a new volume from `path`, then mark it good; not retried on a reconnect
        (the stream is the old connection's): the next boot starts over."""
        size, started = path.stat().st_size, time.monotonic()
        try:
            stream = self._conn.newStream(0)
            vol.upload(stream, 0, size, 0)
            with path.open("rb") as f:
                stream.sendAll(lambda _s, n, fh: fh.read(n), f)
            stream.finish()
            pool.createXML(_vol_xml(f"{name}.ok", 0), 0)
        except libvirt.libvirtError as e:
            with contextlib.suppress(libvirt.libvirtError):
                vol.delete(0)
            raise InfraError(f"libvirt upload of {name} failed: {e.get_error_message()}") from e
        except BaseException:
            with contextlib.suppress(libvirt.libvirtError):
                vol.delete(0)
            raise
        log.info(
            "uploaded %s to %s (%d bytes in %.1fs)", path.name, self.uri, size,
            time.monotonic() - started,
        )  # fmt: skip
        return str(vol.path())

    def save(self, name: str, path: Path) -> None:
        """Save a running domain's state to `path`; the domain stops (libvirt's virDomainSave)."""
        self._call(f"save {name}", lambda: self._lookup(name).save(str(path)))

    def restore_paused(self, path: Path) -> None:
        """Start a domain from a save file, paused (the console is attached before it runs)."""
        self._call(
            f"restore {path.name}",
            lambda: self._conn.restoreFlags(str(path), None, libvirt.VIR_DOMAIN_SAVE_PAUSED),
        )

    def resume(self, name: str) -> None:
        self._call(f"resume {name}", lambda: self._lookup(name).resume())

    def suspend(self, name: str) -> None:
        self._call(f"suspend {name}", lambda: self._lookup(name).suspend())

    def destroy(self, name: str) -> bool:
        """Destroy `name` if it exists; one libvirtd cannot be told about is destroyed on reconnect."""
        try:
            self._raw(lambda: self._conn.lookupByName(name).destroy())
            return True
        except LibvirtGone:
            with self._lock:
                self._undestroyed.add(name)
            raise
        except libvirt.libvirtError as e:
            if _gone(e) or e.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID:
                return False
            raise InfraError(f"libvirt destroy {name} failed: {e.get_error_message()}") from e

    def is_active(self, name: str) -> bool:
        try:
            return bool(self._raw(lambda: self._conn.lookupByName(name).isActive()))
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

    def capabilities_s(self) -> float:
        """Seconds one host-capabilities call takes (`virsh capabilities`; the re-probe trap makes it seconds)."""
        start = time.monotonic()
        self._call("getCapabilities", lambda: self._conn.getCapabilities())
        return time.monotonic() - start


def _vol_xml(name: str, size: int) -> str:
    return (
        f"<volume><name>{name}</name><capacity unit='bytes'>{size}</capacity>"
        "<target><format type='raw'/></target></volume>"
    )
