"""Test support: build the guest agent natively, run it on a socketpair, fake agents."""

from __future__ import annotations

import atexit
import functools
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from rig.guest.channel import Channel, ChannelLimits
from rig.guest.protocol import FRAME_HDR, FRAME_MAGIC

AGENT_SRC = Path(__file__).resolve().parents[3] / "vmimages" / "agent"


@functools.cache
def _build_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="rig-agent-test-"))
    atexit.register(shutil.rmtree, path, True)
    return path


BINARIES = {"all": "rig-agent", "fuzz": "fuzz-decode", "test-agent": "rig-agent-fakecov"}


def helper_of(agent: Path) -> Path:
    """The 32-bit agent built beside a 64-bit one (rig-agent32, rig-agent32-fakecov)."""
    return agent.with_name(agent.name.replace("rig-agent", "rig-agent32", 1))


@functools.cache
def build(target: str) -> Path:
    """make a target of vmimages/agent/Makefile (see BINARIES), once per test run."""
    if not shutil.which("gcc") or not shutil.which("make"):
        pytest.skip("gcc and make are needed to build the guest agent")
    out = _build_dir()
    proc = subprocess.run(
        ["make", "-s", "-C", str(AGENT_SRC), f"O={out}", "CFLAGS=-Werror", target],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        pytest.fail(f"agent build failed:\n{proc.stdout}{proc.stderr}")
    return out / BINARIES[target]


@dataclass
class RunningAgent:
    proc: subprocess.Popen[bytes]
    channel: Channel
    sock: socket.socket
    kmsg: Path

    def alive(self) -> bool:
        return self.proc.poll() is None


@contextmanager
def run_agent(
    binary: Path, workdir: Path, limits: ChannelLimits | None = None, args: tuple[str, ...] = ()
) -> Iterator[RunningAgent]:
    """The real agent serving one end of a socketpair; markers go to workdir/kmsg."""
    ours, theirs = socket.socketpair()
    kmsg = workdir / "kmsg"
    kmsg.touch()
    proc = subprocess.Popen(
        [str(binary), "-f", str(theirs.fileno()), "-k", str(kmsg), *args],
        pass_fds=[theirs.fileno()],
    )
    theirs.close()
    channel = Channel(ours, limits)
    try:
        yield RunningAgent(proc, channel, ours, kmsg)
    finally:
        channel.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def frame(type_: int, tag: int, payload: bytes, magic: int = FRAME_MAGIC) -> bytes:
    return FRAME_HDR.pack(magic, type_, 0, tag, len(payload)) + payload


def read_frame(sock: socket.socket) -> tuple[int, int, bytes]:
    """(type, tag, payload) of the next frame; blocking, for tests only."""
    hdr = _read_exact(sock, FRAME_HDR.size)
    magic, type_, _flags, tag, length = FRAME_HDR.unpack(hdr)
    assert magic == FRAME_MAGIC
    return type_, tag, _read_exact(sock, length)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise EOFError("peer closed")
        out += chunk
    return bytes(out)


class FakeAgent:
    """A scripted agent on the other end of a socketpair, run in a thread.

    `script(fake)` reads requests with `fake.request()` and answers with
    `fake.send(...)`; whatever it raises is re-raised by `join()`.
    """

    def __init__(self, script: Callable[[FakeAgent], None]) -> None:
        self.host_sock, self.sock = socket.socketpair()
        self.sock.settimeout(10)
        self._script = script
        self._error: BaseException | None = None
        self.stop = threading.Event()  # set by join(): stop waiting, sleeping, trickling
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._script(self)
        except BaseException as e:  # reported by join()
            self._error = e

    def request(self) -> tuple[int, int, bytes]:
        return read_frame(self.sock)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request_of(self, want: int) -> tuple[int, bytes]:
        """(tag, payload) of the next request of type `want`, answering hellos resent meanwhile."""
        while True:
            type_, tag, payload = self.request()
            if type_ == want:
                return tag, payload
            assert type_ == 1, f"request type {type_} while waiting for {want}"
            self._answer_hello(tag, payload)

    def _answer_hello(self, tag: int, payload: bytes, version: int = 1) -> None:
        nonce = struct.unpack("<IQ", payload)[1]
        release = b"6.1.0-test"
        body = struct.pack("<IQIII", version, nonce, 1234, 33 << 20, 0)
        self.send(frame(0x81, tag, body + struct.pack("<I", len(release)) + release))

    def hello(self, version: int = 1) -> None:
        """Answer the host's hello."""
        tag, payload = self.request_of(1)
        self._answer_hello(tag, payload, version)

    def config(self, nfamilies: int = 0) -> None:
        tag, _ = self.request_of(2)
        body = struct.pack("<H", nfamilies) + b"\0\0\0\0" * nfamilies + struct.pack("<I", 0)
        self.send(frame(0x82, tag, body))

    def idle(self, seconds: float) -> None:
        """Say nothing for a while (or until the test is over)."""
        self.stop.wait(seconds)

    def join(self) -> None:
        self.stop.set()
        self._thread.join(10)
        self.sock.close()
        if self._error is not None:
            raise self._error


def result_payload(seq: int, calls: list[bytes], status: int = 0) -> bytes:
    return struct.pack("<QIIIII", seq, status, 0, 0, 0, len(calls)) + b"".join(calls)


def call_record(
    status: int = 0, ret: int = 0, err: int = 0, out: bytes = b"", pcs: tuple[int, ...] = ()
) -> bytes:
    return (
        struct.pack("<BBHIqQ", status, 0, 0, err, ret, 1000)
        + struct.pack("<I", len(out))
        + out
        + struct.pack(f"<I{len(pcs)}I", len(pcs), *pcs)
        + struct.pack("<I", 0)
    )
