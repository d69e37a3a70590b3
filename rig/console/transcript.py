"""A bounded recorder of console bytes, with cleaned text lines for matching."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from rig.crash import lines

HEAD_BYTES = 256 * 1024


def clean(raw: bytes) -> str:
    """One console line as text: escapes and carriage returns removed, undecodable bytes replaced."""
    return lines.clean(raw.decode("utf-8", errors="replace")).rstrip("\n")


@dataclass
class Transcript:
    """Keeps the first HEAD_BYTES and the newest `cap` bytes; counts what it dropped."""

    cap: int
    head: bytearray = field(default_factory=bytearray)
    tail: deque[bytes] = field(default_factory=deque)
    tail_bytes: int = 0
    dropped: int = 0
    total: int = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = HEAD_BYTES - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail.append(chunk)
        self.tail_bytes += len(chunk)
        while self.tail_bytes > self.cap and self.tail:
            old = self.tail.popleft()
            self.tail_bytes -= len(old)
            self.dropped += len(old)

    def tail_bytes_of(self, n: int) -> bytes:
        """The newest `n` bytes recorded (fewer if fewer were)."""
        if n <= 0:
            return b""
        out = bytearray()
        for chunk in reversed(self.tail):
            out[:0] = chunk[-(n - len(out)) :]
            if len(out) >= n:
                return bytes(out[-n:])
        need = n - len(out)
        return bytes(self.head[-need:]) + bytes(out) if need > 0 else bytes(out)

    def data(self) -> bytes:
        gap = f"\n[rig: {self.dropped} console bytes dropped]\n".encode() if self.dropped else b""
        return bytes(self.head) + gap + b"".join(self.tail)

    def text(self) -> str:
        return lines.clean(self.data().decode("utf-8", errors="replace"))
