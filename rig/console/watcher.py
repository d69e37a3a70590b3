"""The only module that imports pexpect: watch one serial console and name how it ended.

The console is consumed line by line (long lines are cut at MAX_LINE bytes,
so nothing the guest prints can grow the buffer), every line is recorded in
a bounded transcript, and each is checked against the report table in
`rig.crash.formats`, the same table the parser uses. On a report the watcher
keeps reading until the report's end pattern, the console closing, or a
grace period, and then says so; destroying the VM is the caller's job.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pexpect.fdpexpect

from rig.config import MODULE_FAILED_MARKER, READY_MARKER, Limits
from rig.console.transcript import Transcript, clean
from rig.crash.formats import START_RE, ReportFormat, classify
from rig.deadline import Deadline

log = logging.getLogger(__name__)

MAX_LINE = 4096
LINE_END = re.compile(rb"\n")
LONG_LINE = re.compile(rb"[^\n]{%d}" % MAX_LINE)
PROGRAM_MARKER = re.compile(r"rig: executing program (\d+)")
CHUNK = 4096
LOG_ANCHOR = 512  # transcript bytes looked for in the log file to know where the pty stopped
LOG_MERGE_WINDOW = 4 * 1024 * 1024  # of the log file's tail; a report's rest is far smaller


def missing_tail(anchor: bytes, log_tail: bytes, seen: int) -> bytes:
    """Pure: the bytes of `log_tail` after the last place `anchor` (what we saw last) occurs.

    With nothing seen yet, the whole tail is missing. If the anchor is not
    in the tail, the pty and the file disagree and nothing is taken.
    """
    if seen == 0 or not anchor:
        return log_tail
    at = log_tail.rfind(anchor)
    return b"" if at < 0 else log_tail[at + len(anchor) :]


class Ending(enum.Enum):
    """How watching a console ended."""

    READY = "ready marker seen"
    REPORT = "kernel report"
    GONE = "VM gone without a report"
    NO_OUTPUT = "no output for too long"
    MODULE_FAILED = "driver failed to load"
    DEADLINE = "deadline reached with the guest running"
    LOST_VM = "VM destroyed by someone else"


@dataclass
class Outcome:
    ending: Ending
    report_format: ReportFormat | None = None
    first_line: str = ""
    last_program: int | None = None
    detail: str = ""

    @property
    def is_report(self) -> bool:
        return self.ending is Ending.REPORT

    @property
    def infra(self) -> bool:
        """The host, not the guest, ended the VM: never a crash of the driver."""
        return self.ending is Ending.LOST_VM


class ConsoleWatcher:
    """Reads a console fd through pexpect; not thread-safe, one thread per console."""

    def __init__(self, fd: int, limits: Limits, log_file: Path | None = None) -> None:
        self.limits = limits
        self.log_file = log_file
        self.transcript = Transcript(limits.console_cap_bytes)
        self.last_program: int | None = None
        self.first_byte_at: float | None = None  # monotonic time the guest first said anything
        self.eof = False  # the console closed (the guest or its QEMU is gone)
        self.closed = False  # our end is released
        self._spawn = pexpect.fdpexpect.fdspawn(fd, timeout=1, maxread=CHUNK)
        self._patterns = [LINE_END, LONG_LINE, pexpect.EOF, pexpect.TIMEOUT]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self._spawn.close()

    def send(self, text: str) -> None:
        """Type into the guest's console (its debug shell)."""
        self._spawn.send(text.encode())

    def _next_line(self, timeout: float) -> str | None:
        """The next console line; None on timeout; raises EOFError when the console closed."""
        idx = self._spawn.expect_list(self._patterns, timeout=max(timeout, 0.0))
        if idx == 2:
            rest = self._spawn.before or b""
            if rest:
                self.transcript.feed(rest)
            self.eof = True
            raise EOFError
        if idx == 3:
            return None
        raw = (self._spawn.before or b"") + (self._spawn.after if idx == 1 else b"\n")
        if self.first_byte_at is None:
            self.first_byte_at = time.monotonic()
        self.transcript.feed(raw)
        line = clean(raw)
        m = PROGRAM_MARKER.search(line)
        if m:
            self.last_program = int(m.group(1))
        return line

    def shell(self, command: str, deadline: Deadline) -> tuple[int | None, str, Outcome | None]:
        """Run `command` in the guest's console shell: (exit status, output, report if one came).

        The end marker is built by printf, so the shell's echo of the command
        line never matches it.
        """
        token = secrets.token_hex(4)
        end = re.compile(rf"RIG-END-{token} rc=(\d+)")
        self.send(f"{command}; printf 'RIG-%s-%s rc=%d\\n' END {token} $?\n")
        out: list[str] = []
        while True:
            try:
                line = self._next_line(deadline.remaining())
            except EOFError:
                return None, "\n".join(out), self._after_eof(None, "")
            if line is None:
                if deadline.expired():
                    return None, "\n".join(out), None
                continue
            m = end.search(line)
            if m:
                return int(m.group(1)), "\n".join(out), None
            fmt = classify(line) if START_RE.search(line) else None
            if fmt is not None:
                return None, "\n".join(out), self._collect(fmt, line)
            if token not in line:
                out.append(line)

    def wait_ready(self, deadline: Deadline) -> Outcome:
        """Read until the ready marker, a report, the console closing, or the deadline."""
        while True:
            try:
                line = self._next_line(deadline.remaining())
            except EOFError:
                return self._after_eof(None, "")
            if line is None:
                if deadline.expired():
                    return Outcome(
                        Ending.DEADLINE, detail=f"no ready marker in {deadline.seconds:.0f}s"
                    )
                continue
            if line.startswith(READY_MARKER):
                return Outcome(Ending.READY, first_line=line)
            if line.startswith(MODULE_FAILED_MARKER):
                return Outcome(Ending.MODULE_FAILED, first_line=line, detail=self._tail_text())
            fmt = classify(line) if START_RE.search(line) else None
            if fmt is not None:
                return self._collect(fmt, line)

    def watch(self, deadline: Deadline) -> Outcome:
        """Read until a report, the console closing, silence for the quiet limit, or the deadline."""
        while True:
            quiet = Deadline(self.limits.quiet_s)
            wait = min(quiet.remaining(), deadline.remaining())
            try:
                line = self._next_line(wait)
            except EOFError:
                return self._after_eof(None, "")
            if line is None:
                if deadline.expired():
                    return Outcome(Ending.DEADLINE, last_program=self.last_program)
                if quiet.expired():
                    return Outcome(
                        Ending.NO_OUTPUT,
                        last_program=self.last_program,
                        detail=f"no console output for {self.limits.quiet_s:.0f}s",
                    )
                continue
            fmt = classify(line) if START_RE.search(line) else None
            if fmt is not None:
                return self._collect(fmt, line)

    def _collect(self, fmt: ReportFormat, first: str) -> Outcome:
        """Keep reading the report until its end, the console closing, or the grace period."""
        grace = Deadline(self.limits.report_grace_s)
        log.info("report started: %s", first)
        while not grace.expired():
            try:
                line = self._next_line(grace.remaining())
            except EOFError:
                return self._after_eof(fmt, first)
            if line is not None and not fmt.fatal and fmt.end is not None and fmt.end.search(line):
                break
        return Outcome(Ending.REPORT, fmt, first, self.last_program)

    def _after_eof(self, fmt: ReportFormat | None, first: str) -> Outcome:
        """The console closed: the per-boot log file may hold what the pty did not deliver."""
        self._merge_log_file()
        if fmt is None:
            for line in self.transcript.text().splitlines():
                if START_RE.search(line):
                    found = classify(line)
                    if found is not None:
                        fmt, first = found, line
                        break
        if fmt is not None:
            return Outcome(Ending.REPORT, fmt, first, self.last_program)
        return Outcome(Ending.GONE, last_program=self.last_program, detail=self._tail_text())

    def _settled_size(self) -> int:
        """Size of the log file once virtlogd has stopped appending (it lags the pty)."""
        assert self.log_file is not None
        size, settle = -1, Deadline(1.0)
        while not settle.expired():
            now = self.log_file.stat().st_size
            if now == size:
                break
            size = now
            time.sleep(0.1)
        return max(size, 0)

    def _merge_log_file(self) -> None:
        """Append what the log file has beyond what the pty delivered.

        virtlogd rotates a console log past 2 MiB (keeping 3 backups), so a
        byte offset into the current file means nothing after a flood. The
        transcript's last bytes are looked for in the file's tail instead,
        and only what follows them is taken; without a match nothing is.
        """
        if self.log_file is None or not self.log_file.exists():
            return
        size = self._settled_size()
        window = min(size, LOG_MERGE_WINDOW)
        with self.log_file.open("rb") as f:
            f.seek(size - window)
            tail = f.read(window)
        rest = missing_tail(self.transcript.tail_bytes_of(LOG_ANCHOR), tail, self.transcript.total)
        if not rest:
            return
        rest = rest[: self.limits.console_cap_bytes]
        self.transcript.feed(rest)
        for raw in rest.splitlines():
            m = PROGRAM_MARKER.search(clean(raw))
            if m:
                self.last_program = int(m.group(1))

    def _tail_text(self, lines: int = 20) -> str:
        return "\n".join(self.transcript.text().splitlines()[-lines:])
