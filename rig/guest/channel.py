"""Host side of the guest agent's protocol over a connected stream, with programs pipelined.

The agent is untrusted: every reply's length is checked against a bound
before it is buffered, every wait has a deadline (the caller's, and the
longest the agent may legitimately take for the request at the head of the
queue), and anything off-protocol breaks the channel with a
GuestProtocolError. Replies arrive in request order, so several programs can
be in flight (`submit`/`collect`, `run_many`) and the channel is never idle.

Typical use (message formats in rig.guest.protocol):

    with Channel.connect(socket_path, Deadline(30)) as ch:
        ch.handshake(Deadline(30))
        ch.configure(AgentConfig(allow_paths=("/dev/boundary",)), Deadline(10))
        for result in ch.run_many(enumerate(programs), window=8):
            ...
"""

from __future__ import annotations

import logging
import random
import select
import socket
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from rig.deadline import Deadline
from rig.errors import ConfigError, GuestProtocolError, InfraError, RigBug
from rig.guest.protocol import (
    FRAME_HDR,
    FRAME_MAGIC,
    MAX_REPLY,
    MAX_REQUEST,
    PROTO_VERSION,
    REPLY,
    AgentConfig,
    AgentError,
    AgentInfo,
    BenchResult,
    ConfigReply,
    ExecResult,
    MsgType,
    ProgramResult,
    decode_bench_reply,
    decode_config_reply,
    decode_error,
    decode_exec_reply,
    decode_hello,
    decode_result,
    encode_bench,
    encode_exec,
    encode_hello,
    encode_run,
    frame,
)
from rig.prog import wire
from rig.prog.program import Program

log = logging.getLogger(__name__)

KILL_GRACE_S = 0.5  # the agent's wait for a killed child (KILL_GRACE_NS in run.c)
FAMILY_LOOKUP_S = 1.0  # the agent's receive timeout per family lookup
HELPER_SLACK_S = 2.0  # the 32-bit helper's start and reply (HELPER_SLACK_MS in relay.c)
SLOW_LINK_BPS = 8e6  # a pessimistic virtio-serial rate under TCG, for big requests
_MAGIC_BYTES = FRAME_MAGIC.to_bytes(4, "little")


class AgentSilent(GuestProtocolError):
    """The agent said nothing within the time the request allows."""


class AgentGone(GuestProtocolError):
    """The connection to the agent closed."""


@dataclass(frozen=True)
class ChannelLimits:
    max_reply: int = MAX_REPLY  # longest reply payload accepted
    stale_bytes: int = 4 << 20  # bytes skipped while looking for the hello reply
    margin_s: float = 3.0  # slack above the longest a request may take in the agent
    hello_retry_s: float = 1.5  # resend hello: a stale partial frame may have eaten it
    recv_chunk: int = 1 << 18


@dataclass
class _Pending:
    tag: int
    type: MsgType
    budget_s: float  # longest the agent may take once this request is at the head
    what: str
    seq: int = 0
    ncalls: int = 0
    max_output: int = 0
    config: AgentConfig | None = None


_Reply = ProgramResult | ExecResult | BenchResult | ConfigReply | AgentError
R = TypeVar("R", ProgramResult, ExecResult, BenchResult, ConfigReply)


def _helper_s(program: Program, config: AgentConfig) -> float:
    """What the agent may add for an abi-32 program: the helper's start, and its config."""
    if program.abi == 64:
        return 0.0
    return HELPER_SLACK_S + 2.0 + FAMILY_LOOKUP_S * len(config.allow_families)


def connect_unix(path: Path, deadline: Deadline) -> socket.socket:
    """Connect to a unix socket, waiting for it to appear until the deadline."""
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(max(0.05, deadline.remaining()))
            sock.connect(str(path))
            return sock
        except (FileNotFoundError, ConnectionRefusedError, TimeoutError) as e:
            sock.close()
            if deadline.expired():
                raise InfraError(f"cannot connect to the agent at {path}: {e}") from None
            time.sleep(min(0.05, deadline.remaining()))
        except OSError:
            sock.close()
            raise


class Channel:
    """One connection to one agent; not thread-safe."""

    def __init__(self, sock: socket.socket, limits: ChannelLimits | None = None) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._limits = limits or ChannelLimits()
        self._poll = select.poll()
        self._rbuf = bytearray()
        self._wq: deque[memoryview] = deque()  # frames not yet (fully) sent
        self._pending: deque[_Pending] = deque()
        self._done: deque[_Reply] = deque()
        self._head_since = time.monotonic()
        self._tag = random.getrandbits(30) + 1
        self._stale_hellos: set[int] = set()
        self._broken: str | None = None
        self.info: AgentInfo | None = None
        self.config: AgentConfig | None = None

    @classmethod
    def connect(
        cls, path: Path, deadline: Deadline, limits: ChannelLimits | None = None
    ) -> Channel:
        """Connect to the agent's unix socket, waiting for it to appear until the deadline."""
        return cls(connect_unix(path, deadline), limits)

    def close(self) -> None:
        self._broken = self._broken or "closed"
        self._sock.close()

    def __enter__(self) -> Channel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def in_flight(self) -> int:
        """Requests sent whose replies have not been collected."""
        return len(self._pending) + len(self._done)

    # ------------------------------------------------------------ requests

    def handshake(self, deadline: Deadline) -> AgentInfo:
        """Greet the agent, skipping whatever a previous connection left in the stream.

        Requests in flight are abandoned, so this also recovers a channel that
        broke on a silent agent (once the agent answers again).
        """
        if self._broken == "closed":
            raise GuestProtocolError("channel closed")
        self._broken = None
        self._pending.clear()
        self._done.clear()
        self._wq.clear()
        nonce = random.getrandbits(64)
        tags: list[int] = []
        skipped = 0
        next_hello = 0.0
        while True:
            if time.monotonic() >= next_hello:
                tags.append(self._next_tag())
                self._wq.append(memoryview(frame(MsgType.HELLO, tags[-1], encode_hello(nonce))))
                next_hello = time.monotonic() + self._limits.hello_retry_s
            if deadline.expired():
                raise self._fail(AgentSilent(f"no hello from the agent in {deadline.seconds}s"))
            wait = min(deadline.remaining(), max(0.0, next_hello - time.monotonic()))
            self._io(wait)
            found, skipped = self._scan_hello(tags, nonce, skipped)
            if found is not None:
                break
        if skipped:
            log.info("skipped %d stale bytes before the agent's hello", skipped)
        tag, info = found
        self._stale_hellos = set(tags) - {tag}
        if info.version != PROTO_VERSION:
            raise self._fail(
                GuestProtocolError(f"agent speaks protocol {info.version}, not {PROTO_VERSION}")
            )
        self.info = info
        self.config = None
        return info

    def configure(self, config: AgentConfig, deadline: Deadline | None = None) -> ConfigReply:
        """Tell the agent what programs may touch; needed before the first program."""
        budget = 2.0 + FAMILY_LOOKUP_S * len(config.allow_families)
        p = _Pending(self._next_tag(), MsgType.CONFIG, budget, "config", config=config)
        self._send(p, config.encode())
        reply = self._collect(ConfigReply, deadline)
        self.config = config
        return reply

    def require_abi(self, abi: int) -> None:
        """Refuse, with what to do about it, programs of an ABI the agent cannot run.

        Call it before a campaign of abi-32 programs: an image built before the
        32-bit agent existed, or on a host without gcc-multilib, has no
        /bin/rig-agent32.
        """
        if self.info is None:
            raise RigBug("require_abi() before handshake()")
        if not self.info.runs(abi):
            raise ConfigError(
                f"the guest agent cannot run abi-{abi} programs: the image has no "
                "/bin/rig-agent32 (its HELLO lacks FEAT_ABI32); rebuild it with "
                "`rig image build` on a host with gcc-multilib (`rig doctor` checks)"
            )

    def submit(self, program: Program, seq: int) -> None:
        """Queue a program for execution; its result comes from `collect`, in order."""
        config = self._configured()
        if self.info is not None:
            self.require_abi(program.abi)
        budget = len(program.calls) * config.call_timeout_s + KILL_GRACE_S
        budget += _helper_s(program, config)
        p = _Pending(
            self._next_tag(),
            MsgType.RUN,
            budget,
            f"program {seq}",
            seq=seq,
            ncalls=len(program.calls),
            max_output=config.max_output,
        )
        self._send(p, encode_run(seq, wire.encode(program)))

    def collect(self, deadline: Deadline | None = None) -> ProgramResult:
        """The result of the oldest program submitted and not yet collected."""
        return self._collect(ProgramResult, deadline)

    def run(self, program: Program, seq: int, deadline: Deadline | None = None) -> ProgramResult:
        if self.in_flight:
            raise RigBug("run() with programs in flight; use collect()")
        self.submit(program, seq)
        return self.collect(deadline)

    def run_many(
        self, programs: Iterable[tuple[int, Program]], window: int = 8
    ) -> Iterator[ProgramResult]:
        """Results of (seq, program) pairs in order, keeping up to `window` in flight."""
        if window < 1:
            raise RigBug("window must be at least 1")
        it = iter(programs)
        exhausted = False
        while True:
            while not exhausted and self.in_flight < window:
                item = next(it, None)
                if item is None:
                    exhausted = True
                else:
                    self.submit(item[1], item[0])
            if not self.in_flight:
                return
            yield self.collect()

    def exec_binary(
        self,
        binary: bytes,
        args: tuple[str, ...] = (),
        timeout_s: float = 30.0,
        max_output: int = 64 << 10,
        deadline: Deadline | None = None,
    ) -> ExecResult:
        """Run a static binary in the guest with a time limit (what reproducers use)."""
        payload = encode_exec(binary, args, timeout_s, max_output)
        budget = timeout_s + KILL_GRACE_S + 0.2 + len(payload) / SLOW_LINK_BPS
        p = _Pending(self._next_tag(), MsgType.EXEC, budget, "binary", max_output=max_output)
        self._send(p, payload)
        return self._collect(ExecResult, deadline)

    def bench(
        self,
        program: Program,
        count: int,
        max_s: float,
        seq_base: int = 0,
        deadline: Deadline | None = None,
    ) -> BenchResult:
        """Run a program up to `count` times inside the guest for at most `max_s` seconds."""
        config = self._configured()
        if self.info is not None:
            self.require_abi(program.abi)
        budget = max_s + len(program.calls) * config.call_timeout_s + KILL_GRACE_S
        budget += _helper_s(program, config)
        p = _Pending(self._next_tag(), MsgType.BENCH, budget, "bench")
        self._send(p, encode_bench(seq_base, count, max_s, wire.encode(program)))
        return self._collect(BenchResult, deadline)

    # ------------------------------------------------------------ machinery

    def _next_tag(self) -> int:
        self._tag = self._tag % 0xFFFFFFFF + 1
        return self._tag

    def _configured(self) -> AgentConfig:
        if self.config is None:
            raise RigBug("programs before configure()")
        return self.config

    def _fail(self, e: GuestProtocolError) -> GuestProtocolError:
        self._broken = str(e)
        return e

    def _check(self) -> None:
        if self._broken is not None:
            raise GuestProtocolError(f"channel unusable: {self._broken}")

    def _send(self, p: _Pending, payload: bytes) -> None:
        self._check()
        if len(payload) > MAX_REQUEST:
            raise ConfigError(f"{p.what}: request of {len(payload)} bytes, at most {MAX_REQUEST}")
        if not self._pending:
            self._head_since = time.monotonic()
        p.budget_s += self._limits.margin_s
        self._pending.append(p)
        self._wq.append(memoryview(frame(p.type, p.tag, payload)))

    def _collect(self, kind: type[R], deadline: Deadline | None) -> R:
        while not self._done:
            self._check()
            if not self._pending:
                raise RigBug("collect() with nothing in flight")
            self._io(self._wait_time(deadline))
            self._parse()
        reply = self._done.popleft()
        if isinstance(reply, AgentError):
            raise reply
        if not isinstance(reply, kind):
            raise RigBug(f"collected a {type(reply).__name__} where a {kind.__name__} was due")
        return reply

    def _wait_time(self, deadline: Deadline | None) -> float:
        head = self._pending[0]
        left = self._head_since + head.budget_s - time.monotonic()
        if left <= 0:
            raise self._fail(AgentSilent(f"agent silent for {head.budget_s:.1f}s on {head.what}"))
        if deadline is not None:
            if deadline.expired():
                raise self._fail(AgentSilent(f"no reply for {head.what} by the deadline"))
            left = min(left, deadline.remaining())
        return left

    def _io(self, timeout_s: float) -> None:
        """Wait up to timeout_s, then send what the socket takes and read what is there."""
        events = select.POLLIN | (select.POLLOUT if self._wq else 0)
        self._poll.register(self._sock, events)
        try:
            ready = self._poll.poll(max(0, int(timeout_s * 1000) + 1))
        finally:
            self._poll.unregister(self._sock)
        if not ready:
            return
        revents = ready[0][1]
        try:
            if revents & select.POLLOUT and self._wq:
                sent = self._sock.send(self._wq[0])
                rest = self._wq[0][sent:]
                if rest:
                    self._wq[0] = rest
                else:
                    self._wq.popleft()
            if revents & (select.POLLIN | select.POLLHUP | select.POLLERR):
                data = self._sock.recv(self._limits.recv_chunk)
                if not data:
                    raise self._fail(AgentGone("the agent closed the channel"))
                self._rbuf += data
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            raise self._fail(AgentGone(f"channel to the agent failed: {e}")) from None

    def _header(self) -> tuple[int, int, int, int] | None:
        """(type, flags, tag, len) of the frame at the front, checked; None until 16 bytes."""
        if len(self._rbuf) < FRAME_HDR.size:
            return None
        magic, type_, flags, tag, length = FRAME_HDR.unpack_from(self._rbuf)
        if magic != FRAME_MAGIC:
            raise self._fail(GuestProtocolError(f"bad frame magic {magic:#x} from the agent"))
        if length > self._limits.max_reply:
            raise self._fail(
                GuestProtocolError(
                    f"agent frame of {length} bytes, at most {self._limits.max_reply}"
                )
            )
        return type_, flags, tag, length

    def _parse(self) -> None:
        while (hdr := self._header()) is not None:
            type_, flags, tag, length = hdr
            if len(self._rbuf) < FRAME_HDR.size + length:
                return
            payload = bytes(self._rbuf[FRAME_HDR.size : FRAME_HDR.size + length])
            del self._rbuf[: FRAME_HDR.size + length]
            if flags:
                raise self._fail(GuestProtocolError(f"agent frame flags {flags:#x}"))
            try:
                self._deliver(type_, tag, payload)
            except GuestProtocolError as e:
                raise self._fail(e) from None

    def _deliver(self, type_: int, tag: int, payload: bytes) -> None:
        if type_ == REPLY | MsgType.HELLO and tag in self._stale_hellos:
            self._stale_hellos.discard(tag)
            return
        if not self._pending or tag != self._pending[0].tag:
            want = f"tag {self._pending[0].tag}" if self._pending else "nothing"
            raise GuestProtocolError(f"agent reply type {type_:#x} tag {tag}, expected {want}")
        p = self._pending.popleft()
        self._head_since = time.monotonic()
        self._done.append(self._decode(p, type_, payload))

    def _decode(self, p: _Pending, type_: int, payload: bytes) -> _Reply:
        if type_ == MsgType.ERROR:
            return decode_error(payload)
        if type_ != REPLY | p.type:
            raise GuestProtocolError(f"agent reply type {type_:#x} to a {p.type.name} request")
        if p.type == MsgType.RUN:
            return decode_result(payload, p.seq, p.ncalls, p.max_output)
        if p.type == MsgType.EXEC:
            return decode_exec_reply(payload, p.max_output)
        if p.type == MsgType.BENCH:
            return decode_bench_reply(payload)
        assert p.config is not None
        return decode_config_reply(payload, p.config)

    def _scan_hello(
        self, tags: list[int], nonce: int, skipped: int
    ) -> tuple[tuple[int, AgentInfo] | None, int]:
        """Look for our hello reply, dropping anything before it (bounded)."""
        buf = self._rbuf
        while True:
            if skipped > self._limits.stale_bytes:
                raise self._fail(
                    GuestProtocolError(f"more than {skipped} bytes before the agent's hello")
                )
            i = buf.find(_MAGIC_BYTES)
            if i < 0:
                keep = min(len(buf), 3)
                skipped += len(buf) - keep
                del buf[: len(buf) - keep]
                return None, skipped
            skipped += i
            del buf[:i]
            if len(buf) < FRAME_HDR.size:
                return None, skipped
            _, type_, flags, tag, length = FRAME_HDR.unpack_from(buf)
            if type_ == REPLY | MsgType.HELLO and tag in tags and not flags and length <= 4096:
                if len(buf) < FRAME_HDR.size + length:
                    return None, skipped
                payload = bytes(buf[FRAME_HDR.size : FRAME_HDR.size + length])
                got, info = decode_hello(payload)
                if got == nonce:
                    del buf[: FRAME_HDR.size + length]
                    return (tag, info), skipped
            # Anything else is left over from before: step past its magic and rescan.
            del buf[:1]
            skipped += 1
