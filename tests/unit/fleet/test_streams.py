"""Stream bridges: a libvirt stream's bytes through a socketpair, both ways, teed and bounded."""

from __future__ import annotations

import queue
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rig.fleet import streams
from rig.fleet.streams import StreamBridge


class FakeStream:
    """libvirt's blocking virStream: recv blocks, b'' at the end; abort ends it."""

    def __init__(self) -> None:
        self.incoming: queue.Queue[bytes] = queue.Queue()
        self.sent = bytearray()
        self.aborted = False

    def recv(self, n: int) -> bytes:
        data = self.incoming.get()
        return data[:n]

    def send(self, data: bytes) -> int:
        self.sent += data
        return len(data)

    def abort(self) -> None:
        self.aborted = True
        self.incoming.put(b"")


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


def test_bytes_flow_both_ways_and_the_end_reaches_the_reader(tmp_path: Path) -> None:
    st = FakeStream()
    b = StreamBridge(st, "agent", writable=True)
    st.incoming.put(b"hello from the guest")
    assert _read(b.outside, 20) == b"hello from the guest"
    b.outside.sendall(b"request")
    assert _soon(lambda: bytes(st.sent) == b"request")
    st.incoming.put(b"")  # the domain is gone
    assert _read(b.outside, 1) == b""
    assert _soon(lambda: b.closed and st.aborted)


def test_the_console_copy_is_kept_locally_and_rotated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streams, "TEE_ROTATE", 100)
    log = tmp_path / "console.log"
    st = FakeStream()
    b = StreamBridge(st, "console", writable=False, tee=log)
    for i in range(5):
        st.incoming.put(f"line {i} ".encode() * 5)
    got = _read(b.outside, 5 * 35)
    assert got.startswith(b"line 0") and got.endswith(b"line 4 ")
    st.incoming.put(b"")
    assert _read(b.outside, 1) == b""
    kept = log.read_bytes()
    assert kept.endswith(b"line 4 ") and len(kept) <= 100
    assert (tmp_path / "console.log.1").exists(), "rotated like virtlogd's log"
