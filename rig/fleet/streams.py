"""A guest's console and agent channel over the libvirt connection, for hosts we share no files with.

On the local host the console is a pty and the agent channel a unix socket,
both opened by path. A remote libvirtd's paths are on another machine, so
there libvirt carries the bytes: `virDomainOpenConsole` and
`virDomainOpenChannel` give a stream on the connection. The rest of the rig
reads file descriptors (pexpect on the console, a socket for the channel),
so each stream is bridged to one end of a socketpair by two small threads:
the callers keep the other end and never know the difference.

The stream side is libvirt's blocking API in threads of their own; a
stream that fails or ends (the domain was destroyed, the connection
dropped) closes the socket end, which the console watcher sees as EOF and
the channel as a broken connection, exactly as with a pty or a socket.
Bytes are bounded by the socket buffers: a guest that floods its console
waits on the stream, it never grows our memory.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
TEE_ROTATE = 2 << 20  # as virtlogd does a console log: a flood never fills the disk


class StreamBridge:
    """One libvirt stream joined to a socket; `outside` is the end callers use."""

    def __init__(
        self,
        stream: Any,
        what: str,
        *,
        writable: bool,
        tee: Path | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.what = what
        self._stream = stream
        self._tee = tee
        self._on_close = on_close
        self.outside, self._inside = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self.bytes_in = self.bytes_out = 0
        threading.Thread(target=self._from_stream, name=f"stream-in-{what}", daemon=True).start()
        if writable:
            threading.Thread(target=self._to_stream, name=f"stream-out-{what}", daemon=True).start()

    def _from_stream(self) -> None:
        out = None
        try:
            out = self._tee.open("ab") if self._tee is not None else None
            while not self._closed.is_set():
                data = self._stream.recv(CHUNK)
                if not isinstance(data, bytes) or not data:
                    break  # end of stream (-2, "would block", cannot happen when blocking)
                self.bytes_in += len(data)
                if out is not None:  # the local copy libvirt's <log> keeps on a local host
                    out = self._write_tee(out, data)
                self._inside.sendall(data)
        except Exception as e:  # libvirtError, or our end closed: the stream is over
            if not self._closed.is_set():
                log.debug("%s: stream ended: %s", self.what, e)
        finally:
            if out is not None:
                out.close()
            self.close()

    def _write_tee(self, out: Any, data: bytes) -> Any:
        assert self._tee is not None
        if out.tell() + len(data) > TEE_ROTATE:
            out.close()
            self._tee.replace(self._tee.with_name(self._tee.name + ".1"))
            out = self._tee.open("ab")
        out.write(data)
        out.flush()
        return out

    def _to_stream(self) -> None:
        try:
            while not self._closed.is_set():
                data = self._inside.recv(CHUNK)
                if not data:
                    break
                view = memoryview(data)
                while view:
                    sent = self._stream.send(bytes(view))
                    if sent < 0:
                        raise OSError(f"stream send returned {sent}")
                    view = view[sent:]
                self.bytes_out += len(data)
        except Exception as e:
            if not self._closed.is_set():
                log.debug("%s: stream write ended: %s", self.what, e)
        finally:
            self.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
        with contextlib.suppress(OSError):
            self._inside.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._inside.close()
        with contextlib.suppress(Exception):
            self._stream.abort()
        if self._on_close is not None:
            self._on_close()
