"""A guest's console and agent channel over the libvirt connection, for hosts we share no files with.

On the local host the console is a pty and the agent channel a unix socket,
both opened by path. A remote libvirtd's paths are on another machine, so
there libvirt carries the bytes: `virDomainOpenConsole` and
`virDomainOpenChannel` give a stream on the connection. The rest of the rig
reads file descriptors (pexpect on the console, a socket for the channel),
so each stream is bridged to one end of a socketpair; callers keep the
other end and never know the difference.

All of a bridge's work happens in libvirt's event loop thread: the stream
is non-blocking with an event callback, and our end of the socketpair is
an event handle of the same loop. A stream used from two threads at once
(one blocked receiving while another sends) corrupted the agent's frames
as soon as requests grew past a few dozen KiB, so nothing here touches a
stream outside those callbacks. Each direction holds at most BUFFER bytes:
past that the bridge stops reading the side that produces them, so a
guest that floods its console waits on libvirt, never grows our memory.
A stream that ends or fails (the domain was destroyed, the connection
dropped) closes the socket end, which the console watcher sees as EOF and
the channel as a broken connection, exactly as with a pty or a socket.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

log = logging.getLogger(__name__)

# libvirt's VIR_EVENT_HANDLE_* and VIR_STREAM_EVENT_* (the two sets are equal;
# rig.fleet.libvirt_backend checks that against the libvirt module).
READABLE, WRITABLE, ERROR, HANGUP = 1, 2, 4, 8
CHUNK = 64 * 1024
BUFFER = 1 << 20  # bytes held per direction before the producing side is paused
TEE_ROTATE = 2 << 20  # as virtlogd does a console log: a flood never fills the disk


class EventLoop(Protocol):
    """The event loop libvirt runs its callbacks in (libvirt's default implementation)."""

    def add_handle(self, fd: int, events: int, cb: Callable[[int], None]) -> int: ...

    def update_handle(self, watch: int, events: int) -> None: ...

    def remove_handle(self, watch: int) -> None: ...


class StreamBridge:
    """One non-blocking libvirt stream joined to a socket; `outside` is the end callers use."""

    def __init__(
        self,
        stream: Any,
        what: str,
        loop: EventLoop,
        *,
        writable: bool,
        tee: Path | None = None,
    ) -> None:
        self.what = what
        self._stream = stream
        self._loop = loop
        self._writable = writable
        self._tee = tee
        self._tee_out: IO[bytes] | None = tee.open("ab") if tee is not None else None
        self.outside, self._inside = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._inside.setblocking(False)
        self._up = bytearray()  # from our socket, for the stream (to the guest)
        self._down = bytearray()  # from the stream, for our socket (from the guest)
        self._eof = False  # the stream ended: deliver what is left, then close
        self._hung_up = False  # our socket's other end closed: send what is left, then close
        self._lock = threading.RLock()  # callbacks run in the loop's thread; close() anywhere
        self._closed = False
        self._watch: int | None = None
        self.bytes_in = self.bytes_out = 0
        try:
            with self._lock:
                self._watch = loop.add_handle(self._inside.fileno(), 0, self._on_socket)
                stream.eventAddCallback(READABLE | ERROR | HANGUP, self._on_stream, None)
                self._update()
        except BaseException:
            self.close()
            raise

    @property
    def closed(self) -> bool:
        return self._closed

    # ------------------------------------------------------------ loop callbacks

    def _on_stream(self, _stream: Any, events: int, _opaque: Any) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                if events & (READABLE | ERROR | HANGUP):
                    self._read_stream()
                if events & WRITABLE:
                    self._write_stream()
                self._write_socket()
                self._update()
            except Exception as e:  # libvirtError, OSError: this bridge is over
                log.debug("%s: stream ended: %s", self.what, e)
                self.close()

    def _on_socket(self, events: int) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                if events & READABLE:
                    self._read_socket()
                    self._write_stream()
                if events & WRITABLE:
                    self._write_socket()
                if events & (ERROR | HANGUP) and not events & READABLE:
                    self._hung_up = True
                if self._hung_up and not self._up:
                    self.close()
                    return
                self._update()
            except Exception as e:
                log.debug("%s: socket side ended: %s", self.what, e)
                self.close()

    # ------------------------------------------------------------ moving bytes

    def _read_stream(self) -> None:
        while len(self._down) < BUFFER:
            try:
                data = self._stream.recv(CHUNK)
            except Exception as e:  # a stream that fails has ended: what came before still counts
                log.debug("%s: stream failed: %s", self.what, e)
                self._eof = True
                return
            if isinstance(data, int):  # -2: nothing more for now
                return
            if not data:
                self._eof = True
                return
            self.bytes_in += len(data)
            self._down += data
            if self._tee_out is not None:  # the local copy libvirt's <log> keeps on a local host
                self._write_tee(data)

    def _write_stream(self) -> None:
        while self._up:
            sent = self._stream.send(bytes(self._up[:CHUNK]))
            if sent < 0:  # -2: libvirt's buffer is full; WRITABLE comes later
                return
            del self._up[:sent]
            self.bytes_out += sent

    def _read_socket(self) -> None:
        while len(self._up) < BUFFER:
            try:
                data = self._inside.recv(CHUNK)
            except BlockingIOError:
                return
            if not data:  # the caller closed its end: what it sent before still goes
                self._hung_up = True
                return
            self._up += data

    def _write_socket(self) -> None:
        while self._down:
            try:
                sent = self._inside.send(self._down[:CHUNK])
            except BlockingIOError:
                return
            del self._down[:sent]
        if self._eof:
            self.close()

    def _write_tee(self, data: bytes) -> None:
        assert self._tee is not None and self._tee_out is not None
        if self._tee_out.tell() + len(data) > TEE_ROTATE:
            self._tee_out.close()
            self._tee.replace(self._tee.with_name(self._tee.name + ".1"))
            self._tee_out = self._tee.open("ab")
        self._tee_out.write(data)
        self._tee_out.flush()

    def _update(self) -> None:
        """Ask the loop for what each side can take now: flow control both ways."""
        if self._closed:
            return
        stream = ERROR | HANGUP
        if len(self._down) < BUFFER and not self._eof:
            stream |= READABLE
        if self._up:
            stream |= WRITABLE
        sock = WRITABLE if self._down else 0
        if self._writable and len(self._up) < BUFFER and not self._hung_up:
            sock |= READABLE
        self._stream.eventUpdateCallback(stream)
        if self._watch is not None:
            self._loop.update_handle(self._watch, sock)

    # ------------------------------------------------------------ end

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._watch is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_handle(self._watch)
        with contextlib.suppress(Exception):
            self._stream.eventRemoveCallback()
        with contextlib.suppress(Exception):
            self._stream.abort()
        self._up.clear()
        self._down.clear()
        with contextlib.suppress(OSError):
            self._inside.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._inside.close()
        if self._tee_out is not None:
            with contextlib.suppress(OSError):
                self._tee_out.close()
