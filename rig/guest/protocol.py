"""Messages between the host and the guest agent: frames, requests and the replies' meaning.

Twin of vmimages/agent/wire.h (which carries the same specification) and
agent.c: change them together and bump PROTO_VERSION. Programs themselves are
encoded by rig.prog.wire. All integers are little-endian, without padding.

    frame := u32 magic 0x41474952 ("RIGA") | u16 type | u16 flags (0) | u32 tag | u32 len
             | payload[len]           (len <= MAX_REQUEST to the agent, MAX_REPLY back)

    request (type)  payload                                      reply (type | 0x80)
    HELLO  1   u32 version | u64 nonce                   u32 version | u64 nonce | u32 pid
                                                         | u32 max_request | u32 features
                                                         | str release
               features: FEAT_ABI32 (1) abi-32 programs can run
    CONFIG 2   u32 call_ms | u32 max_output | u32 flags  u16 n | u32 family_id * n
               | str cov_path | u16 n | str path * n     | u32 ndenied
               | u16 n | str family * n
    RUN    3   u64 seq | u32 flags (0) | program         result (below)
    EXEC   4   u32 timeout_ms | u32 max_output | u16 argc | str arg * argc | blob binary
                                                         u32 status | i32 code
                                                         | u64 duration_ns | u32 flags
                                                         | blob output
    BENCH  5   u64 seq_base | u32 count | u32 max_ms | program
                                                         u32 done | u32 timeouts | u32 died
                                                         | u64 elapsed_ns
    any        -                                         ERROR 0xff: u32 code | str message

    result := u64 seq | u32 status | u32 detail | u32 cov_status | u32 cov_errno | u32 ncalls
              | (u8 status | u8 flags | u16 0 | u32 errno | i64 ret | u64 duration_ns
                 | blob output | u32 npcs | u32 pc * npcs
                 | u32 ncmps | (u32 type | u32 pc | u64 arg1 | u64 arg2) * ncmps) * ncalls
    str, blob := u32 len | bytes

Replies come in the order of the requests. Before each program the agent
writes `<5>rig: executing program <seq>` to /dev/kmsg.

A 64-bit agent runs abi-32 programs (RUN, BENCH) in its 32-bit helper,
/bin/rig-agent32, which it starts when the first one comes; the reply is the
helper's, as it sent it. When the helper is missing, dies or stops answering
the reply is ERROR HELPER saying why, and the next abi-32 program starts a new
one. HELLO's FEAT_ABI32 says whether the helper is there at all.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import TypeVar

from rig.errors import ConfigError, GuestProtocolError
from rig.prog.program import MAX_CALLS, MAX_FAMILY, MAX_PATH, Buffer, IoctlArg, printable
from rig.prog.wire import Reader, blob
from rig.spec import netlink

FRAME_MAGIC = 0x41474952
FRAME_HDR = struct.Struct("<IHHII")
PROTO_VERSION = 1
MAX_REQUEST = 33 << 20
MAX_REPLY = 16 << 20
MAX_OUTPUT = 1 << 20
MAX_CALL_MS = 600_000
MAX_ALLOW = 64
MAX_FAMILIES = 16
MAX_ARGC = 32
MAX_EXEC_MS = 3_600_000
MAX_BENCH = 10_000_000
MAX_PCS = 16384
MAX_CMPS = 4096
REPLY = 0x80
CFG_COV_DEDUP = 1
CFG_NO_MARKERS = 2
FEAT_ABI32 = 1  # HELLO features: the agent can run abi-32 programs (it has /bin/rig-agent32)
MARKER_RE = r"rig: executing program (\d+)"


class MsgType(enum.IntEnum):
    HELLO = 1
    CONFIG = 2
    RUN = 3
    EXEC = 4
    BENCH = 5
    ERROR = 0xFF


class ErrorCode(enum.IntEnum):
    BAD_FRAME = 1
    UNKNOWN_TYPE = 2
    MALFORMED = 3
    NOT_CONFIGURED = 4
    INTERNAL = 5
    TOO_LARGE = 6
    HELPER = 7  # the 32-bit helper for abi-32 programs is missing, died or is silent


class ProgStatus(enum.IntEnum):
    OK = 0
    TIMED_OUT = 1  # a call overran the per-call limit; the child was killed
    DIED = 2  # the child died (detail: signal, or 0x100 | exit status)
    SETUP_FAILED = 3  # the agent could not start the child (detail: errno)


class CallStatus(enum.IntEnum):
    OK = 0  # the call ran: ret and errno are the kernel's
    NOT_RUN = 1
    TIMED_OUT = 2
    REFUSED = 3  # the agent's policy refused it (errno EACCES, EPERM or ENOENT)
    FAILED = 4  # the child died during the call


class CallFlag(enum.IntFlag):
    NONE = 0
    TRUNCATED = 1  # output longer than max_output
    PCS_OVERFLOW = 2  # the driver's PC buffer overflowed
    CMPS_OVERFLOW = 4
    COV_ERROR = 8  # the coverage file did not answer as specified
    COV_DROPPED = 16  # no room left for this call's coverage


class CovStatus(enum.IntEnum):
    OFF = 0
    ON = 1
    UNAVAILABLE = 2  # configured but the file did not open (cov_errno says why)


class ExecStatus(enum.IntEnum):
    EXITED = 0
    SIGNALED = 1
    TIMED_OUT = 2
    FAILED = 3  # could not be started (code: errno)


class AgentError(GuestProtocolError):
    """The agent refused a request with an ERROR reply."""

    def __init__(self, code: int, message: str) -> None:
        try:
            name = ErrorCode(code).name
        except ValueError:
            name = str(code)
        super().__init__(f"agent error {name}: {message}")
        self.code = code
        self.message = message


def frame(type_: int, tag: int, payload: bytes) -> bytes:
    return FRAME_HDR.pack(FRAME_MAGIC, type_, 0, tag, len(payload)) + payload


# ---------------------------------------------------------------- requests


def encode_hello(nonce: int) -> bytes:
    return struct.pack("<IQ", PROTO_VERSION, nonce)


@dataclass(frozen=True)
class AgentConfig:
    """What the agent lets programs touch, and how long a call may take.

    A path ending in '/' allows everything beneath that directory (no symlink
    leads out); any other path allows exactly that file. Coverage files,
    module parameters, /proc/sysrq-trigger and the like are refused whatever
    is listed here.
    """

    allow_paths: tuple[str, ...] = ()
    allow_families: tuple[str, ...] = ()
    call_timeout_s: float = 5.0
    coverage_path: str | None = None
    max_output: int = 64 << 10
    dedup_coverage: bool = False
    markers: bool = True

    @property
    def call_ms(self) -> int:
        return max(1, round(self.call_timeout_s * 1000))

    def check(self) -> None:
        if not 1 <= self.call_ms <= MAX_CALL_MS:
            raise ConfigError(f"call timeout {self.call_timeout_s}s is out of range")
        if not 0 <= self.max_output <= MAX_OUTPUT:
            raise ConfigError(f"max_output {self.max_output} is not in 0..{MAX_OUTPUT}")
        paths = [*self.allow_paths, *([self.coverage_path] if self.coverage_path else [])]
        for p in paths:
            if not (p.startswith("/") and printable(p) and len(p) <= MAX_PATH):
                raise ConfigError(f"path {p!r} must be absolute printable ASCII")
        if len(self.allow_paths) > MAX_ALLOW:
            raise ConfigError(f"{len(self.allow_paths)} allowed paths, at most {MAX_ALLOW}")
        if len(self.allow_families) > MAX_FAMILIES:
            raise ConfigError(f"{len(self.allow_families)} families, at most {MAX_FAMILIES}")
        for f in self.allow_families:
            if not (0 < len(f) <= MAX_FAMILY and printable(f)):
                raise ConfigError(f"family name {f!r} is not 1..{MAX_FAMILY} printable characters")

    def encode(self) -> bytes:
        self.check()
        flags = (CFG_COV_DEDUP if self.dedup_coverage else 0) | (
            0 if self.markers else CFG_NO_MARKERS
        )
        out = bytearray(struct.pack("<III", self.call_ms, self.max_output, flags))
        out += blob((self.coverage_path or "").encode())
        out += struct.pack("<H", len(self.allow_paths))
        for p in self.allow_paths:
            out += blob(p.encode())
        out += struct.pack("<H", len(self.allow_families))
        for f in self.allow_families:
            out += blob(f.encode())
        return bytes(out)


def encode_run(seq: int, program: bytes) -> bytes:
    return struct.pack("<QI", seq, 0) + program


def encode_bench(seq_base: int, count: int, max_s: float, program: bytes) -> bytes:
    max_ms = max(1, round(max_s * 1000))
    if not 1 <= count <= MAX_BENCH or max_ms > MAX_CALL_MS:
        raise ConfigError(f"bench of {count} programs in {max_s}s is out of range")
    return struct.pack("<QII", seq_base, count, max_ms) + program


def encode_exec(binary: bytes, args: tuple[str, ...], timeout_s: float, max_output: int) -> bytes:
    timeout_ms = max(1, round(timeout_s * 1000))
    if not binary or timeout_ms > MAX_EXEC_MS or not 0 <= max_output <= MAX_OUTPUT:
        raise ConfigError("exec needs a binary, a time limit up to 1 h and max_output <= 1 MiB")
    if len(args) > MAX_ARGC or not all(printable(a) and len(a) <= MAX_PATH for a in args):
        raise ConfigError(f"exec takes at most {MAX_ARGC} printable arguments")
    out = bytearray(struct.pack("<IIH", timeout_ms, max_output, len(args)))
    for a in args:
        out += blob(a.encode())
    out += blob(binary)
    return bytes(out)


# ---------------------------------------------------------------- replies


E = TypeVar("E", bound=enum.IntEnum)


def _enum(cls: type[E], value: int, what: str) -> E:
    try:
        return cls(value)
    except ValueError:
        raise GuestProtocolError(f"{what}: unknown value {value}") from None


@dataclass(frozen=True)
class AgentInfo:
    version: int
    pid: int
    max_request: int
    features: int
    release: str

    @property
    def abi32(self) -> bool:
        """Whether the agent can run abi-32 programs (in its 32-bit helper)."""
        return bool(self.features & FEAT_ABI32)

    def runs(self, abi: int) -> bool:
        """Whether the agent can run programs of this ABI (64 always)."""
        return abi == 64 or (abi == 32 and self.abi32)


def decode_hello(payload: bytes) -> tuple[int, AgentInfo]:
    """The nonce and what the agent says about itself."""
    r = Reader(payload, "hello reply")
    version, nonce, pid, max_request, features = r.unpack("<IQIII")
    release = r.blob(256).decode("ascii", "replace")
    r.end()
    return nonce, AgentInfo(version, pid, max_request, features, release)


@dataclass(frozen=True)
class ConfigReply:
    family_ids: dict[str, int]  # 0: the family is not registered in the guest
    denied: int  # files refused whatever the allowlist says


def decode_config_reply(payload: bytes, config: AgentConfig) -> ConfigReply:
    r = Reader(payload, "config reply")
    n = r.u16()
    if n != len(config.allow_families):
        raise GuestProtocolError(
            f"config reply: {n} families, asked for {len(config.allow_families)}"
        )
    ids = {f: r.u32() for f in config.allow_families}
    denied = r.u32()
    r.end()
    return ConfigReply(ids, denied)


@dataclass(frozen=True)
class Cmp:
    """A comparison the driver made during a call: one operand may be a constant."""

    type: int
    pc: int
    arg1: int
    arg2: int

    @property
    def const(self) -> bool:
        return bool(self.type & 1)

    @property
    def size(self) -> int:
        return 1 << ((self.type >> 1) & 3)


@dataclass(frozen=True)
class CallResult:
    status: CallStatus
    ret: int = 0
    errno: int = 0
    duration_ns: int = 0
    output: bytes = b""
    pcs: tuple[int, ...] = ()  # offsets from the module's text base
    cmps: tuple[Cmp, ...] = ()
    flags: CallFlag = CallFlag.NONE

    @property
    def ok(self) -> bool:
        return self.status == CallStatus.OK and self.ret >= 0


@dataclass(frozen=True)
class ProgramResult:
    seq: int
    status: ProgStatus
    detail: int
    cov_status: CovStatus
    cov_errno: int
    calls: tuple[CallResult, ...] = field(default_factory=tuple)

    @property
    def timed_out(self) -> bool:
        return self.status == ProgStatus.TIMED_OUT


_CMP = struct.Struct("<IIQQ")


def _call_result(r: Reader, max_output: int) -> CallResult:
    status, flags, zero, errno, ret, duration = r.unpack("<BBHIqQ")
    if zero:
        raise GuestProtocolError("result: reserved field not zero")
    output = r.blob(max_output)
    npcs = r.u32()
    if npcs > MAX_PCS:
        raise GuestProtocolError(f"result: {npcs} PCs, at most {MAX_PCS}")
    pcs = struct.unpack(f"<{npcs}I", r.take(4 * npcs))
    ncmps = r.u32()
    if ncmps > MAX_CMPS:
        raise GuestProtocolError(f"result: {ncmps} comparisons, at most {MAX_CMPS}")
    raw = r.take(_CMP.size * ncmps)
    cmps = tuple(Cmp(*c) for c in _CMP.iter_unpack(raw))
    return CallResult(
        _enum(CallStatus, status, "call status"),
        ret,
        errno,
        duration,
        output,
        pcs,
        cmps,
        CallFlag(flags & 0x1F),
    )


def decode_result(payload: bytes, seq: int, ncalls: int, max_output: int) -> ProgramResult:
    """A RUN reply for the program with `ncalls` calls sent as `seq`; checks every count."""
    r = Reader(payload, "result")
    got_seq, status, detail, cov, cov_errno, n = r.unpack("<QIIIII")
    if got_seq != seq or n != ncalls or n > MAX_CALLS:
        raise GuestProtocolError(
            f"result for program {got_seq} with {n} calls, expected {seq} with {ncalls}"
        )
    calls = tuple(_call_result(r, max_output) for _ in range(n))
    r.end()
    return ProgramResult(
        seq,
        _enum(ProgStatus, status, "program status"),
        detail,
        _enum(CovStatus, cov, "coverage status"),
        cov_errno,
        calls,
    )


@dataclass(frozen=True)
class ExecResult:
    status: ExecStatus
    code: int  # exit status, signal number or errno
    duration_ns: int
    output: bytes
    truncated: bool


def decode_exec_reply(payload: bytes, max_output: int) -> ExecResult:
    r = Reader(payload, "exec reply")
    status, code, duration, flags = r.unpack("<IiQI")
    output = r.blob(max_output)
    r.end()
    return ExecResult(
        _enum(ExecStatus, status, "exec status"), code, duration, output, bool(flags & 1)
    )


@dataclass(frozen=True)
class BenchResult:
    done: int
    timeouts: int
    died: int
    elapsed_ns: int

    @property
    def rate(self) -> float:
        """Programs per second inside the guest, markers included."""
        return self.done / (self.elapsed_ns / 1e9) if self.elapsed_ns else 0.0


def decode_bench_reply(payload: bytes) -> BenchResult:
    r = Reader(payload, "bench reply")
    result = BenchResult(*r.unpack("<IIIQ"))
    r.end()
    return result


def decode_error(payload: bytes) -> AgentError:
    r = Reader(payload, "error reply")
    code = r.u32()
    message = r.blob(4096).decode("ascii", "replace")
    r.end()
    return AgentError(code, message)


# ---------------------------------------------------------------- output helpers


def netlink_errors(output: bytes) -> list[int]:
    """The error codes (0 is an ack, else -errno) of the NLMSG_ERROR replies in an output."""
    return [
        struct.unpack_from("<i", payload)[0]
        for type_, _, payload in netlink.messages(output)
        if type_ == netlink.NLMSG_ERROR and len(payload) >= 4
    ]


def ioctl_buffers(arg: IoctlArg, output: bytes) -> list[bytes]:
    """An ioctl call's output split into its buffers' mapped bytes, in `Buffer.walk()` order."""
    if not isinstance(arg, Buffer):
        return []
    parts = []
    pos = 0
    for buf in arg.walk():
        parts.append(output[pos : pos + buf.visible])
        pos += buf.visible
    return parts
