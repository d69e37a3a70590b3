"""Replay candidates in real VMs from a crash's image: one try, one verdict, as few boots as honest.

A VM that ran a candidate without incident is kept for the next one: most
candidates of a search do not crash, and a boot costs seconds under TCG.
But a used VM carries state (a leaked lock, a label, a threshold), so it
can crash for reasons the candidate alone does not have. So only a fresh VM
may deliver a crash: a report, or a call that blocks, on a used VM is
inconclusive; the VM is destroyed at once (no waiting for the kernel's
verdict on a hang) and the candidate runs again on a fresh one. A quiet
candidate on a used VM counts as "no crash".

After each candidate the replayer sends an empty program and waits for its
console marker: everything the candidate made the kernel print is on the
console before that marker, so a WARNING that arrives a little after the
program's results is still seen, and attributed to the right candidate.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from rig.config import Limits
from rig.console.watcher import Ending
from rig.crash.kinds import VERDICT_TITLES, Kind
from rig.crash.parse import contains_report, parse_first
from rig.errors import BootError, GuestProtocolError, InfraError
from rig.guest.protocol import AgentConfig, CallStatus, ExecStatus
from rig.guest.surface import default_config
from rig.image.build import Image
from rig.prog import text
from rig.prog.program import Program
from rig.repro.csource import EXIT_TIMED_OUT
from rig.repro.oracle import Verdict
from rig.session import Session
from rig.vmhost import VmHost

log = logging.getLogger(__name__)

BOOT_ATTEMPTS = 2


@dataclass
class _Try:
    title: str | None = None
    inconclusive: bool = False
    keep_vm: bool = True
    detail: str = ""


@dataclass
class VmReplayer:
    """Runs candidates in VMs booted from `image`; `close()` destroys what is left."""

    host: VmHost
    image: Image
    campaign: str
    config: AgentConfig | None = None
    header: text.Header = field(default_factory=text.Header)
    boots: int = 0
    inconclusive: int = 0
    _session: Session | None = None
    _used: bool = False

    def __post_init__(self) -> None:
        if self.config is None:
            self.config = default_config(self.image.module, self.limits.call_s)

    @property
    def limits(self) -> Limits:
        return self.host.ctx.limits

    @property
    def agent_config(self) -> AgentConfig:
        assert self.config is not None
        return self.config

    # ------------------------------------------------------------ VMs

    def _boot(self) -> Session:
        assert self.config is not None
        last: BootError | None = None
        for _ in range(BOOT_ATTEMPTS):
            try:
                session = self.host.session(
                    self.image, self.config, campaign=self.campaign, header=self.header
                )
            except BootError as e:
                log.warning("boot failed, trying once more: %s", e)
                last = e
                continue
            self.boots += 1
            if not session.alive:
                session.close()
                raise InfraError(
                    f"{session.instance.name} ended before any program ran: {session.ending}"
                )
            self._session, self._used = session, False
            return session
        assert last is not None
        raise last

    def discard(self) -> None:
        """Destroy the current VM, if any."""
        if self._session is not None:
            session, self._session = self._session, None
            with contextlib.suppress(Exception):
                session.close()

    def close(self) -> None:
        self.discard()

    def _ready(self) -> tuple[Session, bool]:
        """A VM to run on and whether it is fresh; a used VM that died meanwhile is replaced."""
        if self._session is not None and not self._session.alive:
            self.discard()
        if self._session is None:
            return self._boot(), True
        return self._session, not self._used

    # ------------------------------------------------------------ tries

    def replay(self, programs: Sequence[Program]) -> Verdict:
        """One try of a candidate; a crash it reports came from a fresh VM."""
        t0 = time.monotonic()
        while True:
            session, fresh = self._ready()
            self._used = True
            got = self._run(session, programs, fresh)
            if got.inconclusive:
                self.inconclusive += 1
                log.info("used VM reported or hung (%s); trying on a fresh one", got.detail)
                self.discard()
                continue
            if not got.keep_vm:
                self.discard()
            return Verdict(got.title, time.monotonic() - t0, fresh, got.detail)

    def _run(self, session: Session, programs: Sequence[Program], fresh: bool) -> _Try:
        mark = self._mark(session)
        results = list(session.run_many(list(programs)))
        timed_out = any(c.status == CallStatus.TIMED_OUT for r in results for c in r.calls)
        if session.alive and timed_out:
            if not fresh:
                return _Try(inconclusive=True, detail="a call timed out")
            session.wait_for_report(self.limits.settle_s)
        return self._settle(session, mark, fresh, keep=not timed_out)

    def run_binary(self, binary: bytes, args: tuple[str, ...], timeout_s: float) -> Verdict:
        """Run a static binary through the agent on a fresh VM; the VM is destroyed after."""
        t0 = time.monotonic()
        self.discard()
        session = self._boot()
        self._used = True
        assert session.channel is not None
        mark = self._mark(session)
        timed_out = True
        detail = ""
        try:
            res = session.channel.exec_binary(binary, args, timeout_s=timeout_s)
            timed_out = res.status == ExecStatus.TIMED_OUT or (
                res.status == ExecStatus.EXITED and res.code == EXIT_TIMED_OUT
            )
            detail = f"{res.status.name.lower()} {res.code}: " + res.output[-400:].decode(
                "utf-8", "replace"
            )
        except (GuestProtocolError, InfraError) as e:
            detail = f"the agent went away: {e}"
        if timed_out or not session.alive:
            session.wait_for_report(self.limits.settle_s)
        got = self._settle(session, mark, True, keep=False)
        self.discard()
        return Verdict(got.title, time.monotonic() - t0, True, got.detail or detail)

    # ------------------------------------------------------------ verdicts

    @staticmethod
    def _mark(session: Session) -> int:
        watcher = session.instance.watcher
        return watcher.transcript.total if watcher is not None else 0

    def _settle(self, session: Session, mark: int, fresh: bool, keep: bool) -> _Try:
        """Wait until the console has caught up with the candidate, then name what happened."""
        if session.alive:
            session.fence(self.limits.fence_s)
        if session.alive and self._report_since(session, mark):
            session.wait_for_report(self.limits.report_grace_s + 5)
        if session.alive:
            return _Try(keep_vm=keep)
        if not fresh:
            return _Try(inconclusive=True, detail="a kernel report on a used VM")
        return _Try(self._title(session, mark), keep_vm=False, detail=self._detail(session))

    @staticmethod
    def _since(session: Session, mark: int) -> bytes:
        """Console bytes since `mark` (all of them if the transcript dropped some)."""
        watcher = session.instance.watcher
        if watcher is None:
            return b""
        t = watcher.transcript
        return t.data() if t.dropped else t.data()[mark:]

    def _report_since(self, session: Session, mark: int) -> bool:
        return contains_report(self._since(session, mark))

    def _title(self, session: Session, mark: int) -> str | None:
        ending = session.ending
        if ending is None:
            return None
        if ending.ending is Ending.REPORT:
            # What the candidate caused, not something the kernel said while booting.
            report = parse_first(self._since(session, mark)) or parse_first(
                session.instance.console_text()
            )
            if report is not None:
                return report.title
            return VERDICT_TITLES[Kind.LOST_CONNECTION]
        if ending.ending is Ending.NO_OUTPUT:
            return VERDICT_TITLES[Kind.NO_OUTPUT]
        return VERDICT_TITLES[Kind.LOST_CONNECTION]

    @staticmethod
    def _detail(session: Session) -> str:
        ending = session.ending
        return (
            "" if ending is None else f"{ending.ending.value}: {ending.first_line or ending.detail}"
        )
