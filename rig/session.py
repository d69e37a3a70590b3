"""A booted VM in use: its agent channel, its program log and a thread watching its console.

Programs go through the agent while the console watcher runs beside them;
whichever notices the end first (a kernel report, the VM vanishing, the agent
falling silent), the session settles on one `Ending`. A silent or vanished
agent is not taken at its word at once: the console is watched for long
enough that the kernel's own hung-task or lockup report wins over a bare
"no output".
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from rig.config import Limits
from rig.console.watcher import Ending, Outcome
from rig.deadline import Deadline
from rig.errors import GuestProtocolError, InfraError
from rig.fleet.instance import Instance
from rig.guest.channel import Channel
from rig.guest.proglog import ProgramLog
from rig.guest.protocol import AgentConfig, AgentInfo, CallStatus, ConfigReply, ProgramResult
from rig.prog import text
from rig.prog.program import Program

log = logging.getLogger(__name__)

FAR_FUTURE_S = 365 * 24 * 3600.0


@dataclass
class Session:
    """Use as a context manager; `ending` is set once the VM is done for."""

    instance: Instance
    config: AgentConfig
    header: text.Header = field(default_factory=text.Header)
    window: int = 8
    channel: Channel | None = None
    program_log: ProgramLog | None = None
    agent: AgentInfo | None = None
    reply: ConfigReply | None = None
    ending: Outcome | None = None
    _outcome: Outcome | None = None
    _watched: threading.Event = field(default_factory=threading.Event)
    _seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _progress: float = field(default_factory=time.monotonic)

    @property
    def limits(self) -> Limits:
        return self.instance.limits

    @property
    def log_path(self) -> Path:
        return self.instance.dir / "programs.log"

    def start(self, deadline: Deadline | None = None) -> Session:
        """Connect to the booted instance's agent and configure it; start watching the console."""
        deadline = deadline or Deadline(self.limits.agent_ready_s)
        self.program_log = ProgramLog(self.log_path, self.header)
        threading.Thread(
            target=self._watch, name=f"watch-{self.instance.name}", daemon=True
        ).start()
        try:
            self.channel = Channel(self.instance.open_agent(deadline))
            self.agent = self.channel.handshake(deadline)
            self.reply = self.channel.configure(self.config, deadline)
        except (GuestProtocolError, InfraError) as e:
            self._settle(f"agent unreachable: {e}")
            if self.ending is not None and self.ending.ending is Ending.REPORT:
                return self
            raise
        return self

    def _watch(self) -> None:
        try:
            while True:
                outcome = self.instance.watch(Deadline(FAR_FUTURE_S))
                quiet = time.monotonic() - self._progress
                # A quiet console is no verdict while the agent keeps answering.
                if outcome.ending is Ending.NO_OUTPUT and quiet < self.limits.quiet_s:
                    continue
                self._outcome = outcome
                break
        except Exception as e:  # a watcher failure must still end the session
            log.exception("console watcher of %s failed", self.instance.name)
            self._outcome = Outcome(Ending.GONE, detail=f"console watcher failed: {e}")
        finally:
            self._watched.set()

    @property
    def alive(self) -> bool:
        if self.ending is None and self._watched.is_set():
            self.ending = self._outcome
        return self.ending is None

    def run(self, program: Program) -> ProgramResult | None:
        """Run one program; None when the VM ended during it (see `ending`)."""
        for result in self.run_many([program]):
            return result
        return None

    def fence(self, timeout_s: float) -> bool:
        """Run an empty program and wait until the console shows its marker.

        Whatever the programs before it made the kernel print is then on the
        console, so a WARNING printed just after a result is blamed on the
        program that caused it, not on the next one. False if the VM ended or
        the marker did not come within `timeout_s`.
        """
        watcher = self.instance.watcher
        result = self.run(Program(()))
        if result is None or watcher is None:
            return False
        until = Deadline(timeout_s)
        while self.alive and not until.expired():
            last = watcher.last_program
            if last is not None and last >= result.seq:
                return True
            time.sleep(0.02)
        if self.alive:
            log.warning("no console marker for fence program %d in %.0fs", result.seq, timeout_s)
        return False

    def run_many(self, programs: Iterator[Program] | list[Program]) -> Iterator[ProgramResult]:
        """Results in order, with up to `window` programs in flight; stops when the VM ends."""
        assert self.channel is not None and self.program_log is not None
        channel, plog = self.channel, self.program_log
        it = iter(programs)
        try:
            while self.alive:
                while channel.in_flight < self.window:
                    program = next(it, None)
                    if program is None:
                        break
                    seq = next(self._seq)
                    plog.append(seq, program)  # before it is sent: the log outlives us
                    channel.submit(program, seq)
                if not channel.in_flight:
                    return
                result = channel.collect()
                self._progress = time.monotonic()
                if any(c.status == CallStatus.TIMED_OUT for c in result.calls):
                    log.info("%s: program %d timed out", self.instance.name, result.seq)
                yield result
        except (GuestProtocolError, InfraError) as e:
            self._settle(str(e))

    def _settle(self, why: str) -> None:
        """The agent failed: give the kernel time to report before calling it a verdict."""
        window = self.limits.settle_s
        log.info("%s: %s; watching the console for %.0fs", self.instance.name, why, window)
        if self._watched.wait(window):
            self.ending = self._outcome
            return
        last = self.instance.watcher.last_program if self.instance.watcher else None
        self.ending = self.instance.host_lost(last) or Outcome(
            Ending.NO_OUTPUT,
            last_program=last,
            detail=f"{why}; no kernel report within {window:.0f}s",
        )

    def wait_for_report(self, seconds: float) -> Outcome | None:
        """After a timed-out call: the console's verdict if one comes within `seconds`."""
        if self._watched.wait(seconds):
            self.ending = self._outcome
        return self.ending

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
        if self.program_log is not None:
            self.program_log.close()
        self.instance.destroy()
        self._watched.wait(self.limits.stop_event_s)

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
