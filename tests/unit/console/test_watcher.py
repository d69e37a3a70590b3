"""The console watcher names how a console ended, from scripted console output."""

from __future__ import annotations

import os
import threading
import time
import tty
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from rig.config import Limits
from rig.console.watcher import MAX_LINE, ConsoleWatcher, Ending
from rig.crash.kinds import Kind
from rig.deadline import Deadline

FAST = Limits(quiet_s=1.0, report_grace_s=1.0, console_cap_bytes=64 * 1024)

NULL_DEREF = b"""[    4.06] BUG: kernel NULL pointer dereference, address: 0000000000000000\r
[    4.07] #PF: supervisor write access in kernel mode\r
[    4.07] Oops: 0002 [#1] PREEMPT SMP NOPTI\r
[    4.07] RIP: 0010:boundary_crash_hook+0x5/0x20 [boundary]\r
[    4.08] Call Trace:\r
[    4.08]  hook_write+0x26/0x30 [boundary]\r
[    4.09] ---[ end trace 0000000000000000 ]---\r
[    4.10] Kernel panic - not syncing: Fatal exception\r
"""

WARNING = b"""[    5.00] ------------[ cut here ]------------\r
[    5.00] WARNING: CPU: 0 PID: 96 at drivers/boundary/boundary_debugfs.c:40 boundary_inject_warn+0x12/0x20 [boundary]\r
[    5.01] Call Trace:\r
[    5.01]  inject_write+0x40/0x60 [boundary]\r
[    5.02] ---[ end trace 0000000000000000 ]---\r
"""


@contextmanager
def console(
    script: list[bytes | float | None], log_file: Path | None = None, limits: Limits = FAST
) -> Iterator[ConsoleWatcher]:
    master, slave = os.openpty()
    tty.setraw(slave)
    watcher = ConsoleWatcher(slave, limits, log_file)

    def play() -> None:
        for step in script:
            if step is None:
                os.close(master)
                return
            if isinstance(step, float):
                time.sleep(step)
            else:
                os.write(master, step)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    try:
        yield watcher
    finally:
        thread.join(5)
        watcher.close()
        with suppress(OSError):
            os.close(master)


def test_ready_marker_ends_boot_wait() -> None:
    with console([b"[ 0.0] Linux version 6.1\r\n", b"RIG-READY boundary uptime=1.5\r\n"]) as w:
        out = w.wait_ready(Deadline(5))
    assert out.ending is Ending.READY
    assert "uptime=1.5" in out.first_line


def test_fatal_report_collected_until_console_closes() -> None:
    with console([b"RIG-READY m\r\n", b"noise\r\n", NULL_DEREF, 0.1, None]) as w:
        assert w.wait_ready(Deadline(5)).ending is Ending.READY
        out = w.watch(Deadline(10))
    assert out.ending is Ending.REPORT
    assert out.report_format is not None and out.report_format.kind is Kind.NULL_DEREF
    assert "BUG: kernel NULL pointer dereference" in out.first_line
    text = w.transcript.text()
    assert "Kernel panic - not syncing: Fatal exception" in text  # the whole report arrived
    assert "\r" not in text


def test_warning_is_a_report_and_ends_at_its_end_marker() -> None:
    # The guest keeps printing after the report: the watcher must stop at the end marker
    # rather than wait for the (long) grace period.
    alive = [b"still alive\r\n", 0.2] * 8
    with console([b"RIG-READY m\r\n", WARNING, *alive], limits=Limits(report_grace_s=30)) as w:
        w.wait_ready(Deadline(5))
        started = time.monotonic()
        out = w.watch(Deadline(10))
        elapsed = time.monotonic() - started
    assert out.ending is Ending.REPORT
    assert out.report_format is not None and out.report_format.kind is Kind.WARNING
    assert not out.report_format.fatal
    assert elapsed < 1.0


def test_console_closing_without_report_is_gone() -> None:
    with console([b"RIG-READY m\r\n", b"ordinary line\r\n", None]) as w:
        w.wait_ready(Deadline(5))
        out = w.watch(Deadline(10))
    assert out.ending is Ending.GONE


def test_silence_is_no_output() -> None:
    with console([b"RIG-READY m\r\n", 1.5]) as w:
        w.wait_ready(Deadline(5))
        out = w.watch(Deadline(10))
    assert out.ending is Ending.NO_OUTPUT
    assert "no console output" in out.detail


def test_report_only_in_log_file_is_found_after_eof(tmp_path: Path) -> None:
    # The pty can lose its last bytes when QEMU exits; the per-boot log has them.
    head = b"RIG-READY m\r\n"
    log = tmp_path / "console.log"
    log.write_bytes(head + NULL_DEREF)
    with console([head, None], log) as w:
        w.wait_ready(Deadline(5))
        out = w.watch(Deadline(10))
    assert out.ending is Ending.REPORT
    assert "NULL pointer" in out.first_line


def test_program_marker_is_tracked() -> None:
    script = [
        b"RIG-READY m\r\n",
        b"[ 9.1] rig: executing program 41\r\n",
        b"[ 9.2] rig: executing program 42\r\n",
        NULL_DEREF,
        0.2,
        None,
    ]
    with console(script) as w:
        w.wait_ready(Deadline(5))
        out = w.watch(Deadline(10))
    assert out.last_program == 42


def test_endless_line_and_flood_stay_bounded() -> None:
    flood = [b"A" * 65536] * 64 + [b"\r\n", b"B\r\n" * 20000, None]  # 4 MiB line, then many lines
    with console([b"RIG-READY m\r\n", *flood]) as w:
        w.wait_ready(Deadline(5))
        out = w.watch(Deadline(30))
        assert out.ending is Ending.GONE
        assert w.transcript.tail_bytes <= FAST.console_cap_bytes
        assert w.transcript.dropped > 0
        assert len(w.transcript.data()) < FAST.console_cap_bytes + 300 * 1024
    assert MAX_LINE <= 8192


def test_module_failure_marker() -> None:
    script = [b"[ 1.0] boundary: unknown bug 'nosuchbug'\r\n", b"RIG-MODULE-FAILED boundary\r\n"]
    with console(script) as w:
        out = w.wait_ready(Deadline(5))
    assert out.ending is Ending.MODULE_FAILED
    assert "unknown bug" in out.detail


def test_report_after_a_rotated_log_is_still_merged(tmp_path: Path) -> None:
    # virtlogd rotated the file: it holds only the newest bytes, at other offsets.
    flood = b"".join(b"flood line %06d\r\n" % i for i in range(2000))
    head = b"RIG-READY m\r\n" + flood
    log = tmp_path / "console.log"
    log.write_bytes(flood[-5000:] + NULL_DEREF)  # shorter than what the pty delivered
    with console([head, 0.5, None], log) as w:  # the pty delivers the flood, not the report
        w.wait_ready(Deadline(5))
        out = w.watch(Deadline(10))
    assert out.ending is Ending.REPORT
    assert w.transcript.data().count(b"flood line 001999") == 1


def test_log_that_disagrees_with_the_pty_adds_nothing(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_bytes(b"something else entirely\r\n" + NULL_DEREF)
    with console([b"RIG-READY m\r\n", b"ordinary line\r\n", 0.5, None], log) as w:
        w.wait_ready(Deadline(5))
        out = w.watch(Deadline(10))
    assert out.ending is Ending.GONE


@pytest.mark.parametrize("n", [0, 1, 5, 13, 100])
def test_transcript_tail_bytes(n: int) -> None:
    from rig.console.transcript import Transcript

    t = Transcript(cap=1 << 20)
    data = b"".join(bytes([65 + i % 26]) * (i % 7 + 1) for i in range(40))
    for i in range(0, len(data), 9):
        t.feed(data[i : i + 9])
    assert t.tail_bytes_of(n) == (data[len(data) - n :] if n else b"")


def test_closing_after_the_console_ended_releases_the_descriptor() -> None:
    # Found by `rig soak`: one pty descriptor per VM leaked when EOF came first.
    master, slave = os.openpty()
    watcher = ConsoleWatcher(slave, FAST)
    os.close(master)
    with pytest.raises(EOFError):
        watcher._next_line(2)
    watcher.close()
    with pytest.raises(OSError):
        os.fstat(slave)
