"""A guest for property tests: one VM of a driver's image that programs run on, one after another.

`RigVm` is what the pytest plugin's `rig_vm` fixture (`rig.pytest`) hands a
test. It boots lazily, on the first program, so a test module that never
runs one never needs libvirt. A VM that ran programs without incident is
kept for the next ones (a reset costs a snapshot restore, a second or so);
a program that ends in a kernel report raises `KernelCrash` (an
AssertionError, so hypothesis counts it as a failing example and shrinks
it) and the next program gets a fresh VM.

After each program the VM is fenced as the reproducer does
(`rig.repro.replay`): an empty program goes through and its console marker
is awaited, so a WARNING the kernel prints a little after the program's
results is still charged to that program, not to the next one.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

from rig.config import Home, Limits
from rig.console.watcher import Ending, Outcome
from rig.context import RunContext
from rig.crash.bucket import bucket_id
from rig.crash.kinds import VERDICT_TITLES, Kind
from rig.crash.parse import contains_report, parse_first
from rig.crash.title import printable
from rig.errors import RigError
from rig.guest.protocol import AgentConfig, CallResult, CallStatus, ProgramResult
from rig.guest.surface import default_config, spec_config
from rig.image.build import REPO, Image
from rig.prog import text
from rig.prog.program import (
    Buffer,
    Call,
    FileRead,
    FileWrite,
    Ioctl,
    IoctlArg,
    NlSend,
    NlSocket,
    Open,
    Program,
)
from rig.session import Session
from rig.spec import netlink as nl
from rig.spec.load import load as load_spec
from rig.spec.types import NL_INT_TYPES, NlAttrSet, NlFamily, Spec
from rig.vmhost import VmHost

log = logging.getLogger(__name__)

# When a VM is replaced by a fresh one besides after a kernel report:
#   crash: never (programs share a VM until one crashes it)
#   test:  also before each test, so tests do not see each other's state
#   run:   before every program, so every example starts from a booted guest
RESETS = ("crash", "test", "run")
REPORT_LINES = 40  # of the kernel's report, in a KernelCrash message


class KernelCrash(AssertionError):
    """A program ended in a kernel report (or the guest died or hung); the test failed.

    The message starts with the title `rig crashes` would show for it.
    """

    def __init__(
        self, title: str, program: Program, *, fresh: bool, report: str = "", detail: str = ""
    ) -> None:
        self.title = title
        self.program = program
        self.fresh = fresh
        self.report = report
        self.detail = detail
        super().__init__(crash_message(title, program, fresh=fresh, report=report, detail=detail))


def crash_message(
    title: str, program: Program, *, fresh: bool, report: str = "", detail: str = ""
) -> str:
    """The title first (what a reader and a grep look for), then the program, then the report."""
    where = "a fresh VM" if fresh else "a VM that had run earlier programs"
    n = len(program.calls)
    lines = [
        f"kernel report: {title}",
        f"bucket {bucket_id(title)}, on {where}",
        *([f"ending: {detail}"] if detail else []),
        f"program ({n} call{'s' if n != 1 else ''}; save it as a file for `rig run`):",
        *("  " + line for line in text.dumps(program).splitlines()),
    ]
    if report:
        body = report.splitlines()
        cut = body[:REPORT_LINES]
        lines += ["report:", *("  " + line for line in cut)]
        if len(body) > len(cut):
            lines.append(f"  [{len(body) - len(cut)} more lines]")
    return "\n".join(lines)


class VmLost(RigError):
    """The host, not the driver, ended the VM (libvirt, a destroyed domain): not a finding."""


@dataclass(frozen=True)
class VmTarget:
    """What a VM boots and what its programs may touch."""

    driver: Path = REPO / "driver"
    module: str | None = None
    params: str = ""
    spec: Path | None = None  # None: corpora/specs/MODULE.yaml when it exists


def default_spec(module: str) -> Path | None:
    path = REPO / "corpora" / "specs" / f"{module}.yaml"
    return path if path.is_file() else None


@dataclass
class HostOpener:
    """Opens the libvirt host on first use, so collecting or skipping tests never connects."""

    home: Path
    uri: str | None = None
    snapshots: bool = True
    limits: Limits | None = None
    _host: VmHost | None = None

    def __call__(self) -> VmHost:
        if self._host is None:
            ctx = RunContext.create(
                Home(self.home).ensure(), uri=self.uri, snapshots=self.snapshots,
                limits=self.limits,
            )  # fmt: skip
            self._host = ctx.open()
        return self._host

    @property
    def opened(self) -> bool:
        return self._host is not None

    def close(self) -> None:
        if self._host is not None:
            host, self._host = self._host, None
            host.close()


ProgramLike = Program | Sequence[Call]


def as_program(p: ProgramLike) -> Program:
    return p if isinstance(p, Program) else Program(tuple(p))


@dataclass(repr=False)
class RigVm:
    """Programs on one VM at a time; see the module doc for when it is replaced."""

    host_of: Callable[[], VmHost]
    target: VmTarget = field(default_factory=VmTarget)
    reset_policy: str = "crash"
    campaign: str = "pytest"
    boots: int = 0  # VMs started (snapshot restores included)
    crashes: int = 0
    runs: int = 0
    built: Image | None = None  # the target's image once built (or given: tests of fakes)
    config: AgentConfig | None = None  # what programs may touch; None: from the spec
    record: bool = False  # put each crash into the home's crash store, as a campaign does
    _spec: Spec | None = None
    _spec_loaded: bool = False
    _session: Session | None = None
    _used: bool = False

    def __repr__(self) -> str:
        # Short: hypothesis prints it in every falsifying example.
        params = f" {self.target.params}" if self.target.params else ""
        return f"<rig_vm {self.target.driver.name}{params}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        # hypothesis' printer spells out every field of a dataclass unless told otherwise.
        p.text(repr(self))

    def __post_init__(self) -> None:
        if self.reset_policy not in RESETS:
            raise ValueError(f"reset {self.reset_policy!r} is not one of {', '.join(RESETS)}")

    # ------------------------------------------------------------ what it boots

    def retarget(self, target: VmTarget) -> None:
        """Boot `target` from now on (another image when the driver or parameters differ)."""
        if target == self.target:
            return
        log.info("rig_vm: switching to %s", target)
        self.discard()
        if (target.driver, target.module, target.params) != (
            self.target.driver, self.target.module, self.target.params,
        ):  # fmt: skip
            self.built = None
        self._spec, self._spec_loaded = None, False
        self.target = target

    def with_params(self, params: str) -> VmTarget:
        return replace(self.target, params=params)

    @property
    def host(self) -> VmHost:
        return self.host_of()

    @property
    def limits(self) -> Limits:
        return self.host.ctx.limits

    @property
    def image(self) -> Image:
        """The target's image, built (or found in the home's cache) on first use."""
        if self.built is None:
            t = self.target
            t0 = time.monotonic()
            self.built = self.host.ctx.build_image(t.driver, t.module, t.params)
            log.info("rig_vm: image %s in %.1fs", self.built.id, time.monotonic() - t0)
        return self.built

    @property
    def spec(self) -> Spec | None:
        """The target's spec: the one named, else the repository's spec of the module, if any."""
        if not self._spec_loaded:
            path = self.target.spec or default_spec(self.target.module or self.image.module)
            self._spec = load_spec(path) if path is not None else None
            self._spec_loaded = True
        return self._spec

    def agent_config(self) -> AgentConfig:
        """What programs may touch: the spec's doors, else the paths named after the module."""
        if self.config is not None:
            return self.config
        call_s = self.limits.call_s
        spec = self.spec
        return (
            spec_config(spec, call_s)
            if spec is not None
            else default_config(self.image.module, call_s)
        )

    # ------------------------------------------------------------ VMs

    @property
    def session(self) -> Session:
        """The VM programs run on now; a fresh one if there is none or it died."""
        if self._session is not None and not self._session.alive:
            self.discard()
        if self._session is None:
            t0 = time.monotonic()
            session = self.host.session(self.image, self.agent_config(), campaign=self.campaign)
            self.boots += 1
            if not session.alive:
                ending = session.ending
                session.close()
                raise VmLost(f"{session.instance.name} ended before any program ran: {ending}")
            log.info("rig_vm: %s ready in %.1fs", session.instance.name, time.monotonic() - t0)
            self._session, self._used = session, False
        return self._session

    @property
    def fresh(self) -> bool:
        """Whether the next program runs on a VM no program has touched."""
        return self._session is None or not self._used

    def reset(self) -> None:
        """The next program runs on a fresh VM (a snapshot restore where the host has one)."""
        if not self.fresh:
            self.discard()

    def discard(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            with contextlib.suppress(Exception):
                session.close()

    def close(self) -> None:
        self.discard()

    def __enter__(self) -> RigVm:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------ programs

    def run(self, program: ProgramLike) -> ProgramResult:
        """Run a program (or a sequence of calls); its result, one CallResult per call.

        Raises KernelCrash when the kernel reported (or the guest died or went
        silent) during the program or right after it, ProgramError when the
        program breaks a rule of the model, VmLost when the host lost the VM.
        """
        prog = as_program(program)
        prog.validate()
        if self.reset_policy == "run":
            self.reset()
        session = self.session
        fresh = not self._used
        self._used = True
        self.runs += 1
        mark = _mark(session)
        result = session.run(prog)
        limits = self.limits
        if result is not None and session.alive and _timed_out(result):
            session.wait_for_report(limits.settle_s)  # a blocked call: the hang detector's turn
        if session.alive:
            session.fence(self.limits.fence_s)
        if session.alive and contains_report(_since(session, mark)):
            session.wait_for_report(limits.report_grace_s + 5)
        if session.alive and result is not None:
            return result
        self._crashed(session, mark, prog, fresh)

    def _crashed(self, session: Session, mark: int, prog: Program, fresh: bool) -> NoReturn:
        ending = session.ending
        if ending is not None and ending.infra:
            self.discard()
            raise VmLost(f"{session.instance.name}: {ending.ending.value} {ending.detail}")
        title, report = _title(session, mark)
        detail = (
            "" if ending is None else f"{ending.ending.value}: {ending.first_line or ending.detail}"
        )
        if self.record and ending is not None:
            detail += self._record(session, ending)
        self.discard()
        self.crashes += 1
        log.info("rig_vm: %s after %d call(s)", title, len(prog.calls))
        raise KernelCrash(title, prog, fresh=fresh, report=report, detail=detail)

    def _record(self, session: Session, ending: Outcome) -> str:
        """Store the crash with the programs before it; a note for the message."""
        from rig.campaign.record import record_ending
        from rig.crash.store import CrashStore

        with CrashStore.open(self.host.ctx.home.root) as store:
            got = record_ending(store, session.instance, ending, self.campaign, self.agent_config())
        if got is None:
            return ""
        return f" (recorded: rig crashes show {got.bucket_id})"

    # ------------------------------------------------------------ helpers

    def _call(self, calls: Sequence[Call]) -> CallResult:
        """Run calls; the last call's result, after failing loudly if an earlier one failed."""
        result = self.run(calls)
        for call, res in zip(calls[:-1], result.calls[:-1], strict=True):
            if not res.ok:
                raise OSError(res.errno, f"{text.format_call(call)}: {_status(res)}")
        return result.calls[-1]

    def ioctl(self, path: str, cmd: int | str, arg: IoctlArg | bytes = 0) -> CallResult:
        """open(path, O_RDWR) then ioctl(cmd, arg): the ioctl's result, its output the buffer after.

        `cmd` is a code or an ioctl name from the spec; `arg` is an integer, a
        `Buffer`, a `Special` pointer, or bytes (a buffer holding them).
        """
        code = cmd if isinstance(cmd, int) else self._ioctl_code(cmd)
        value = Buffer.of(arg) if isinstance(arg, bytes) else arg
        return self._call([Open(path), Ioctl(0, code, value)])

    def _ioctl_code(self, name: str) -> int:
        spec = self._need_spec(f"ioctl {name}")
        io = spec.ioctl(name)
        if io is None:
            raise ValueError(f"spec {spec.name} has no ioctl {name!r}")
        return io.code

    def sysfs_write(self, path: str, data: bytes | str) -> CallResult:
        """One write(2) of `data` to a file (sysfs, procfs or debugfs); ret is the count written."""
        raw = data.encode() if isinstance(data, str) else data
        return self._call([FileWrite(path, raw)])

    def sysfs_read(self, path: str, count: int = 4096) -> bytes:
        """One read(2) of up to `count` bytes of a file; OSError if it failed."""
        res = self._call([FileRead(path, count)])
        if not res.ok:
            raise OSError(res.errno, f"read {path}: {_status(res)}")
        return res.output

    def genl(
        self,
        family: str,
        cmd: str | int,
        attrs: Mapping[str, Any] | None = None,
        *,
        dump: bool = False,
    ) -> CallResult:
        """One generic netlink request; the result's output is the kernel's replies.

        Attributes are given by name and encoded by their type in the spec
        (integers, strings, bytes, True for a flag, a mapping for a nest).
        `netlink_errno(result.output)` is the errno of the kernel's ack.
        """
        spec = self._need_spec(f"family {family}")
        msg = genl_request(spec, family, cmd, attrs or {}, dump=dump)
        return self._call([NlSocket(), NlSend(0, family, msg)])

    def _need_spec(self, what: str) -> Spec:
        spec = self.spec
        if spec is None:
            raise ValueError(f"{what}: no spec (give --rig-spec or the rig marker's spec=)")
        return spec


def genl_request(
    spec: Spec, family: str, cmd: str | int, attrs: Mapping[str, Any], *, dump: bool = False
) -> bytes:
    """A generic netlink request of `family`'s command `cmd` with `attrs` encoded per the spec."""
    from rig.strategies import find_command

    fam, command = find_command(spec, family, cmd)
    aset = fam.attr_set(command.attr_set) or NlAttrSet(command.attr_set)
    flags = nl.NLM_F_REQUEST | (nl.NLM_F_DUMP if dump else nl.NLM_F_ACK)
    body = nl.genl(command.id, fam.version, encode_attrs(fam, aset, attrs))
    return nl.nlmsg(0, flags, body, seq=1)


def encode_attrs(fam: NlFamily, aset: NlAttrSet, attrs: Mapping[str, Any]) -> bytes:
    out = b""
    for name, value in attrs.items():
        a = aset.by_name(name)
        if a is None:
            known = ", ".join(x.name for x in aset.attrs)
            raise ValueError(f"attribute set {aset.name} has no {name!r}; it has: {known}")
        kind = a.id
        if a.type in NL_INT_TYPES:
            payload = int(value).to_bytes(
                NL_INT_TYPES[a.type], "little", signed=a.type.startswith("s")
            )
        elif a.type in ("uint", "sint"):
            payload = int(value).to_bytes(8, "little", signed=a.type == "sint")
        elif a.type == "flag":
            if not value:
                continue
            payload = b""
        elif a.type == "string":
            payload = value.encode() + b"\0" if isinstance(value, str) else bytes(value)
        elif a.type == "nest" and isinstance(value, Mapping):
            inner = fam.attr_set(a.nested or "") or NlAttrSet(a.nested or "")
            payload, kind = encode_attrs(fam, inner, value), kind | nl.NLA_F_NESTED
        elif a.type == "bitfield32" and isinstance(value, tuple):
            payload = b"".join(int(v).to_bytes(4, "little") for v in value)
        else:
            payload = bytes(value)
        out += nl.nla(kind, payload)
    return out


def netlink_errno(replies: bytes) -> int | None:
    """The errno of the first NLMSG_ERROR in netlink replies (0: an ack), None if there is none."""
    for kind, _flags, payload in nl.messages(replies):
        if kind == nl.NLMSG_ERROR and len(payload) >= 4:
            return -nl.s(payload[:4])
    return None


def _status(res: CallResult) -> str:
    if res.status is CallStatus.OK:
        return f"errno {res.errno}" if res.ret < 0 else f"returned {res.ret}"
    return res.status.name.lower().replace("_", " ")


def _timed_out(result: ProgramResult) -> bool:
    return any(c.status == CallStatus.TIMED_OUT for c in result.calls)


def _mark(session: Session) -> int:
    watcher = session.instance.watcher
    return watcher.transcript.total if watcher is not None else 0


def _since(session: Session, mark: int) -> bytes:
    """Console bytes since `mark` (all of them if the transcript dropped some)."""
    watcher = session.instance.watcher
    if watcher is None:
        return b""
    t = watcher.transcript
    return t.data() if t.dropped else t.data()[mark:]


def _title(session: Session, mark: int) -> tuple[str, str]:
    """The bucket title of how the session ended, as the store names it, and the report's text."""
    ending = session.ending
    if ending is not None and ending.ending is Ending.REPORT:
        # What this program caused, not something the kernel said while booting.
        report = parse_first(_since(session, mark)) or parse_first(session.instance.console_text())
        if report is not None:
            return printable(report.title) or "unknown crash", report.text
        return VERDICT_TITLES[Kind.LOST_CONNECTION], session.instance.console_tail()
    if ending is not None and ending.ending is Ending.NO_OUTPUT:
        return VERDICT_TITLES[Kind.NO_OUTPUT], session.instance.console_tail()
    return VERDICT_TITLES[Kind.LOST_CONNECTION], session.instance.console_tail()
