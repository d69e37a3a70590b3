"""A VM's durable program log: every program, with its sequence number, written before it is sent.

Each record is one separator line and the program's text form:

    === program 17 ===
    rig-program 1
    driver ...
    ...

Records are written with one unbuffered write(2) each, so they survive the
death of the host process (not of the host); the console's marker
`rig: executing program 17` then names the record of the program that was
running. A record cut short by a crash of the writer is skipped on reading.

A log is bounded: past `MAX_BYTES` it moves to `programs.log.1` (replacing the
one before) and starts again, so a VM that runs all night keeps at most twice
that, and the newest programs are always whole. A blind engine writing big
buffers logs about 8 MB/s per VM: unbounded, a night fills any disk.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from rig.errors import ConfigError
from rig.prog import text
from rig.prog.program import Program

log = logging.getLogger(__name__)

_SEPARATOR = re.compile(r"^=== program (\d+) ===$", re.MULTILINE)
MAX_BYTES = 64 * 1024 * 1024


def previous(path: Path) -> Path:
    """Where a log's older part went when it reached its bound."""
    return path.with_name(path.name + ".1")


@dataclass(frozen=True)
class LoggedProgram:
    seq: int
    file: text.ProgramFile


class ProgramLog:
    """Appends programs to a log file; one instance per VM."""

    def __init__(
        self, path: Path, header: text.Header | None = None, max_bytes: int = MAX_BYTES
    ) -> None:
        self.path = path
        self.header = header or text.Header()
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = self._open()
        self._size = os.fstat(self._fd).st_size

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)

    def append(self, seq: int, program: Program) -> None:
        record = format_record(seq, text.ProgramFile(program, self.header)).encode()
        if self._size and self._size + len(record) > self.max_bytes:
            self._rotate()
        written = os.write(self._fd, record)
        if written != len(record):
            raise OSError(f"short write to {self.path}: {written} of {len(record)} bytes")
        self._size += written

    def _rotate(self) -> None:
        # Between whole records, so each file holds only whole ones.
        os.replace(self.path, previous(self.path))
        os.close(self._fd)
        self._fd = self._open()
        self._size = 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ProgramLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def format_record(seq: int, pf: text.ProgramFile) -> str:
    """One record of a program log (also how a crash keeps the programs that preceded it)."""
    return f"=== program {seq} ===\n{text.dumps(pf.program, pf.header)}"


def read_log(path: Path, tail_bytes: int | None = None) -> list[LoggedProgram]:
    """The programs of a log in order; torn or unreadable records are skipped with a warning.

    With `tail_bytes`, only the records that start within the log's last
    `tail_bytes` bytes: what ran just before a crash, without reading hours of log.
    The part of the log moved aside at its bound (`previous()`) comes first.
    """
    try:
        data = _read(path, tail_bytes).decode("utf-8", errors="replace")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read program log: {e}") from None
    marks = list(_SEPARATOR.finditer(data))
    out = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(data)
        body = data[m.end() + 1 : end]
        try:
            out.append(LoggedProgram(int(m.group(1)), text.loads(body, f"{path} #{m.group(1)}")))
        except ConfigError as e:
            log.warning("skipping a damaged record of %s: %s", path, e)
    return out


def _read(path: Path, tail_bytes: int | None) -> bytes:
    """The log's bytes (its last `tail_bytes`), older part first."""
    size = path.stat().st_size
    chunks = [_tail(path, size, tail_bytes)]
    older = previous(path)
    want = None if tail_bytes is None else tail_bytes - size
    if (want is None or want > 0) and older.exists():
        # Records never span the two files: the older one ends with a whole record.
        chunks.insert(0, _tail(older, older.stat().st_size, want))
    return b"".join(chunks)


def _tail(path: Path, size: int, n: int | None) -> bytes:
    with path.open("rb") as f:
        if n is not None:
            f.seek(max(0, size - n))
        return f.read()


def find(path: Path, seq: int) -> LoggedProgram | None:
    """The last record with this sequence number (the one a console marker names)."""
    return next((p for p in reversed(read_log(path)) if p.seq == seq), None)
