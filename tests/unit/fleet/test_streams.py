"""Stream bridges: a libvirt stream's bytes through a socketpair, both ways, teed and bounded.

The fakes stand in for libvirt's default event loop (a thread dispatching
handle and stream callbacks by their interest) and a non-blocking stream
(-2 when it has nothing, b"" at its end), so the bridge runs as it does in
the rig: every callback in the loop's thread.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rig.fleet import streams
from rig.fleet.streams import ERROR, HANGUP, READABLE, WRITABLE, StreamBridge


class FakeStream:
    def __init__(self, room: int = 1 << 30) -> None:
        self.incoming = bytearray()
        self.ended = False
        self.sent = bytearray()
        self.room = room  # bytes send() takes before it says -2 (libvirt's buffer full)
        self.aborted = False
        self.cb: Callable[[Any, int, Any], None] | None = None
        self.interest = 0
        self.lock = threading.Lock()

    def eventAddCallback(self, events: int, cb: Any, opaque: Any) -> None:
        self.cb, self.interest = cb, events

    def eventUpdateCallback(self, events: int) -> None:
        self.interest = events

    def eventRemoveCallback(self) -> None:
        self.cb = None

    def recv(self, n: int) -> bytes | int:
        with self.lock:
            if not self.incoming:
                return b"" if self.ended else -2
            data = bytes(self.incoming[:n])
            del self.incoming[:n]
            return data

    def send(self, data: bytes) -> int:
        with self.lock:
            n = min(len(data), self.room)
            if n == 0:
                return -2
            self.room -= n
            self.sent += data[:n]
            return n

    def abort(self) -> None:
        self.aborted = True

    def ready(self) -> int:
        with self.lock:
            ev = READABLE if self.incoming or self.ended else 0
            return ev | (WRITABLE if self.room else 0)


class FakeLoop:
    """One thread dispatching callbacks, as libvirt's default event loop does."""

    def __init__(self) -> None:
        self.handles: dict[int, tuple[int, int, Callable[[int], None]]] = {}
        self.streams: list[FakeStream] = []
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def add_handle(self, fd: int, events: int, cb: Callable[[int], None]) -> int:
        watch = len(self.handles) + 1
        self.handles[watch] = (fd, events, cb)
        return watch

    def update_handle(self, watch: int, events: int) -> None:
        fd, _, cb = self.handles[watch]
        self.handles[watch] = (fd, events, cb)

    def remove_handle(self, watch: int) -> None:
        self.handles.pop(watch, None)

    def run(self) -> None:
        while not self.stop:
            for st in list(self.streams):
                ev = st.ready() & (st.interest | ERROR | HANGUP)
                if st.cb is not None and ev & st.interest:
                    st.cb(st, ev & st.interest, None)
            for fd, events, cb in list(self.handles.values()):
                r, w, _ = select.select(
                    [fd] if events & READABLE else [], [fd] if events & WRITABLE else [], [], 0
                )
                ev = (READABLE if r else 0) | (WRITABLE if w else 0)
                if ev:
                    cb(ev)
            time.sleep(0.001)


@pytest.fixture
def loop() -> Any:
    lp = FakeLoop()
    yield lp
    lp.stop = True


def _soon(ok: Callable[[], bool]) -> bool:
    end = time.monotonic() + 5
    while not ok() and time.monotonic() < end:
        time.sleep(0.01)
    return ok()


def _read(sock: socket.socket, n: int) -> bytes:
    sock.settimeout(5)
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def test_bytes_flow_both_ways_and_the_end_reaches_the_reader(loop: FakeLoop) -> None:
    st = FakeStream(room=1000)  # libvirt takes the request in parts
    loop.streams.append(st)
    b = StreamBridge(st, "agent", loop, writable=True)
    request = bytes(range(256)) * 40
    b.outside.sendall(request)
    time.sleep(0.3)
    assert len(st.sent) == 1000, "a full stream takes no more bytes"
    st.room = 1 << 30
    assert _soon(lambda: bytes(st.sent) == request), "in order and whole, after -2"
    with st.lock:
        st.incoming += b"hello from the guest"
    assert _read(b.outside, 20) == b"hello from the guest"
    with st.lock:
        st.ended = True  # the domain is gone
    assert _read(b.outside, 1) == b""
    assert _soon(lambda: b.closed and st.aborted)


def test_a_flood_is_held_back_not_buffered(loop: FakeLoop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "BUFFER", 4096)
    st = FakeStream()
    loop.streams.append(st)
    b = StreamBridge(st, "console", loop, writable=False)
    with st.lock:
        st.incoming += b"x" * 3_000_000
    b.outside.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    time.sleep(0.3)  # nobody reads: the bridge stops pulling from the stream
    assert b.bytes_in < 1_500_000, b.bytes_in
    assert len(_read(b.outside, 100_000)) == 100_000, "and goes on once read"


def test_the_console_copy_is_kept_locally_and_rotated(
    loop: FakeLoop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "TEE_ROTATE", 100)
    log = tmp_path / "console.log"
    st = FakeStream()
    loop.streams.append(st)
    b = StreamBridge(st, "console", loop, writable=False, tee=log)
    for i in range(5):
        with st.lock:
            st.incoming += f"line {i} ".encode() * 5
        time.sleep(0.02)
    got = _read(b.outside, 5 * 35)
    assert got.startswith(b"line 0") and got.endswith(b"line 4 ")
    with st.lock:
        st.ended = True
    assert _read(b.outside, 1) == b""
    kept = log.read_bytes()
    assert kept.endswith(b"line 4 ") and len(kept) <= 100
    assert (tmp_path / "console.log.1").exists(), "rotated like virtlogd's log"
