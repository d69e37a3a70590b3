"""Spec-driven program building: every engine's calls come from here, through a `Chooser`.

A program is a sequence over the driver's doors (`DOORS`): the character
device (open, ioctl, read, write, close), generic netlink (a socket, then
requests) and sysfs/procfs/debugfs files (one write or read per call).
Resources are reused: an ioctl runs on an fd an earlier `open` of that
device returned, a request goes out on an earlier socket, and a missing
resource is created first. `malformed` is the percentage of calls built to
step outside the spec (wrong ioctl size or direction bits, neighbouring
codes, special pointers, lying lengths, broken netlink, oversized writes);
0 builds only valid calls, and a shrunk or exhausted chooser tends to valid.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rig.gen.choose import Chooser, between, chance, pick
from rig.gen.hints import Hints
from rig.gen.nlgen import NetlinkBuilder
from rig.gen.rtnl import RtnlBuilder
from rig.gen.values import PAGE, PRINTABLE, ValueBuilder, int_value, interesting, text_bytes
from rig.prog.program import (
    BAD_FD,
    MAP_NORESERVE,
    MAP_PRIVATE,
    MAP_SHARED,
    MAX_CALLS,
    MAX_MAP,
    NETLINK_GENERIC,
    NETLINK_ROUTE,
    Call,
    Close,
    FdKind,
    FileRead,
    FileWrite,
    Ioctl,
    IoctlArg,
    Mmap,
    Munmap,
    NlSend,
    NlSocket,
    Open,
    Poll,
    Program,
    Read,
    Special,
    Write,
    result_kind,
)
from rig.spec.types import ROUTE_FAMILY, Device, File, FileKind, Grammar, Int, Ptr, Spec
from rig.spec.types import Ioctl as IoctlSpec

DOORS = ("ioctl", "netlink", "sysfs", "procfs", "debugfs")
READ_COUNTS = [0, 1, 2, 16, 64, 256, 4095, 4096, 4097, 65536]
WRITE_SIZES = [0, 1, 2, 31, 32, 33, 63, 64, 65, 255, 256, 1023, 1024, 4095, 4096, 4097]
BIG_WRITES = [8192, 65536, 1 << 20]
O_FLAGS = [0, 1, 2, 0o4000, 0o2000, 0o100, 0o1000, 0o40000, 0o2000000, 0o20000000]
# mmap: whole pages mostly; then the sizes and offsets a driver's bounds check trips on
MAP_PAGES = [1, 1, 2, 4, 16, 256]
MAP_ODD = [0, 1, PAGE - 1, PAGE + 1, 1 << 30, MAX_MAP]
MAP_OFFSETS = [PAGE, 2 * PAGE, 1 << 20, 1 << 32, (1 << 63) - PAGE, (1 << 64) - PAGE]
POLL_MASKS = [0x1, 0x4, 0x5, 0x2, 0x41, 0x8]  # IN, OUT, IN|OUT, PRI, IN|RDNORM, ERR


def door_of(call: Call) -> str:
    """The door a call goes through: a device (ioctl and the calls beside it), netlink, a file."""
    if isinstance(call, NlSocket | NlSend):
        return "netlink"
    if isinstance(call, FileWrite | FileRead):
        kind = FileKind.of(call.path)
        return kind.value if kind != FileKind.OTHER else "file"
    return "ioctl"


def check_doors(doors: Iterable[str]) -> tuple[str, ...]:
    out = tuple(doors)
    bad = [d for d in out if d not in DOORS]
    if bad:
        raise ValueError(f"unknown door(s) {', '.join(bad)}; doors are {', '.join(DOORS)}")
    return out


@dataclass
class _State:
    """The resources a program has made so far, by call index."""

    calls: list[Call] = field(default_factory=list)
    closed: set[int] = field(default_factory=set)

    def fds(self, kind: FdKind, path: str | None = None, live: bool = True) -> list[int]:
        out = []
        for i, c in enumerate(self.calls):
            if result_kind(c) != kind or (live and i in self.closed):
                continue
            if path is not None and isinstance(c, Open) and c.path != path:
                continue
            out.append(i)
        return out


class Builder:
    """Builds programs and single calls from a spec with one chooser."""

    def __init__(
        self,
        spec: Spec,
        c: Chooser,
        doors: Iterable[str] = DOORS,
        malformed: int = 30,
        max_calls: int = 12,
        hints: Hints | None = None,
        abis: Sequence[int] = (64,),
    ) -> None:
        self.base, self.spec, self.c, self.hints = spec, spec, c, hints
        self.doors = check_doors(doors)
        self.malformed = malformed
        self.max_calls = min(max_calls, MAX_CALLS - 2)
        # A program runs in a 64- or a 32-bit process and is laid out for it.
        self.abis = tuple(abis) or (64,)
        self.by_abi = {abi: ValueBuilder(spec.for_abi(abi), c, hints) for abi in self.abis}
        self.use_abi(self.abis[0])
        self.netlink = NetlinkBuilder(spec, c, hints)
        kinds = {"sysfs": FileKind.SYSFS, "procfs": FileKind.PROCFS, "debugfs": FileKind.DEBUGFS}
        want = {kinds[d] for d in self.doors if d in kinds}
        self.files = [f for f in spec.files if f.kind in want or f.kind == FileKind.OTHER]
        self.devices = list(spec.devices) if "ioctl" in self.doors else []
        self.families = list(spec.families) if "netlink" in self.doors else []
        self.links = spec.links if "netlink" in self.doors else ()
        self.rtnl = RtnlBuilder(self.links, c, self.netlink)
        self.actions = self._actions()

    def _actions(self) -> list[str]:
        out: list[str] = []
        if self.devices:
            out += ["ioctl"] * 5 + ["open", "read", "write", "close", "mmap", "munmap", "poll"]
            if not any(self.spec.device_ioctls(d) for d in self.devices):
                out = [a for a in out if a != "ioctl"] + ["read", "write"]
        if self.families:
            out += ["nl_send"] * 5
        if self.links:
            out += ["rtnl"] * 5
        if any(f.writable for f in self.files):
            out += ["file_write"] * 4
        if any(f.readable for f in self.files):
            out += ["file_read"] * 2
        return out

    @property
    def empty(self) -> bool:
        return not self.actions

    def valid(self) -> bool:
        return not chance(self.c, self.malformed)

    # ---------------------------------------------------------------- programs

    def program(self) -> Program:
        state = _State()
        if self.hints is not None:
            self.hints.start()
        if self.empty:
            return Program()
        self.use_abi(pick(self.c, self.abis) if len(self.abis) > 1 else self.abis[0])
        n = 1 + self.c.below(self.max_calls)
        while len(state.calls) < n:
            self.add_call(state)
        return Program(tuple(state.calls[:MAX_CALLS]), self.abi)

    def use_abi(self, abi: int) -> None:
        """Build what follows for a process of `abi`: its struct layouts and ioctl codes."""
        if abi not in self.by_abi:
            self.by_abi[abi] = ValueBuilder(self.base.for_abi(abi), self.c, self.hints)
        self.abi, self.values = abi, self.by_abi[abi]
        self.spec = self.values.spec

    def calls_for(self, prefix: Sequence[Call], abi: int = 64) -> list[Call]:
        """New calls (one, plus any resource they need) to follow `prefix` in a program of `abi`."""
        self.use_abi(abi)
        state = _State(list(prefix))
        for call in prefix:
            if isinstance(call, Close) and call.fd >= 0:
                state.closed.add(call.fd)
        start = len(state.calls)
        if not self.empty:
            self.add_call(state)
        return state.calls[start:]

    def add_call(self, state: _State) -> None:
        action = pick(self.c, self.actions)
        getattr(self, "_" + action)(state)

    # ---------------------------------------------------------------- device

    def device(self, want_ioctls: bool = False) -> Device:
        devs = [d for d in self.devices if self.spec.device_ioctls(d)] if want_ioctls else []
        return pick(self.c, devs or self.devices)

    def _fd(self, state: _State, dev: Device) -> int:
        """An fd of `dev`: usually a live one, else a fresh open; sometimes a dead one."""
        c = self.c
        live = state.fds(FdKind.FILE, dev.path)
        if not self.valid():
            dead = [i for i in state.fds(FdKind.FILE, live=False) if i in state.closed]
            return pick(c, [BAD_FD, *dead, *live])
        if live and not chance(c, 10):
            return pick(c, live)
        return self._open_device(state, dev)

    def _open_device(self, state: _State, dev: Device) -> int:
        c = self.c
        flags = pick(c, dev.open_flags)
        if not self.valid():
            flags = pick(c, O_FLAGS) | pick(c, [0, 1, 2, 3])
        state.calls.append(Open(dev.path, flags, 0))
        return len(state.calls) - 1

    def _open(self, state: _State) -> None:
        self._open_device(state, self.device())

    def _close(self, state: _State) -> None:
        c = self.c
        fds = state.fds(FdKind.FILE) + state.fds(FdKind.SOCK)
        if not fds:
            self._open(state)
            return
        fd = pick(c, fds)
        state.calls.append(Close(fd))
        state.closed.add(fd)

    def _read(self, state: _State) -> None:
        dev = self.device()
        fd = self._fd(state, dev)
        state.calls.append(Read(fd, self._count()))

    def _write(self, state: _State) -> None:
        dev = self.device()
        fd = self._fd(state, dev)
        state.calls.append(Write(fd, self._blob()))

    def _mmap(self, state: _State) -> None:
        c = self.c
        fd = self._fd(state, self.device())
        valid = self.valid()
        length = PAGE * pick(c, MAP_PAGES) if valid else pick(c, MAP_ODD)
        offset = 0 if valid and chance(c, 70) else pick(c, MAP_OFFSETS)
        prot = 0x3 if valid and chance(c, 70) else c.below(4)
        flags = pick(c, [MAP_SHARED, MAP_SHARED, MAP_PRIVATE, MAP_SHARED | MAP_NORESERVE])
        touch = 3 if chance(c, 60) else c.below(4)
        state.calls.append(Mmap(fd, length, offset, prot, flags, touch))

    def _munmap(self, state: _State) -> None:
        maps = state.fds(FdKind.MAP)
        if not maps:
            self._mmap(state)
            return
        m = pick(self.c, maps)
        state.calls.append(Munmap(m))
        state.closed.add(m)

    def _poll(self, state: _State) -> None:
        c = self.c
        fds = state.fds(FdKind.FILE) + state.fds(FdKind.SOCK)
        fd = pick(c, fds) if fds else self._fd(state, self.device())
        events = pick(c, POLL_MASKS) if self.valid() else c.uint(2)
        state.calls.append(Poll(fd, events))

    def _ioctl(self, state: _State) -> None:
        dev = self.device(want_ioctls=True)
        ioctls = self.spec.device_ioctls(dev)
        if not ioctls:
            self._write(state)
            return
        fd = self._fd(state, dev)
        state.calls.append(self.ioctl(fd, pick(self.c, ioctls)))

    def ioctl(self, fd: int, io: IoctlSpec) -> Ioctl:
        valid = self.valid()
        cmd = io.code if valid or chance(self.c, 40) else self.wrong_code(io)
        return Ioctl(fd, cmd, self.ioctl_arg(io, valid))

    def wrong_code(self, io: IoctlSpec) -> int:
        """A code next to a valid one: another size, direction, number or type."""
        c = self.c
        how = c.below(5)
        d, t, nr, size = io.dir.ioc, io.type, io.nr, io.size
        if how == 0:
            size = pick(c, [0, size - 1, size + 1, size + 8, size * 2, 0x3FFF, c.uint(2) & 0x3FFF])
        elif how == 1:
            d = pick(c, [x for x in range(4) if x != d])
        elif how == 2:
            nr = pick(c, [nr - 1, nr + 1, 0, 0xFF, c.uint(1)])
        elif how == 3:
            t = pick(c, [t - 1, t + 1, c.uint(1)])
        else:
            return c.uint(4)
        return ((d & 3) << 30) | ((size & 0x3FFF) << 16) | ((t & 0xFF) << 8) | (nr & 0xFF)

    def ioctl_arg(self, io: IoctlSpec, valid: bool) -> IoctlArg:
        c = self.c
        arg = io.arg
        if arg is None:
            if valid or chance(c, 50):
                return 0
            choices: list[IoctlArg] = [c.uint(8), pick(c, interesting(8)), pick(c, list(Special))]
            return pick(c, choices)
        if not valid and chance(c, 25):
            bad: list[IoctlArg] = [*Special, 0, c.uint(8)]
            return pick(c, bad)
        if isinstance(arg, Ptr):
            return self.values.pointer(arg, valid, 0)[0]
        if isinstance(arg, Int):
            return int_value(c, arg, valid, self.hints, f"ioctl:{io.name}")
        return c.uint(8)

    # ---------------------------------------------------------------- netlink

    def _socket(self, state: _State, protocol: int) -> int:
        """A netlink socket of `protocol`: a live one, a new one, or now and then a dead one."""
        c = self.c
        socks = [
            i
            for i in state.fds(FdKind.SOCK)
            if isinstance(s := state.calls[i], NlSocket) and s.protocol == protocol
        ]
        if not socks or chance(c, 5):
            state.calls.append(NlSocket(protocol))
            socks = [len(state.calls) - 1]
        sock = pick(c, socks)
        if not self.valid() and chance(c, 20):
            dead = [i for i in state.fds(FdKind.SOCK, live=False) if i in state.closed]
            sock = pick(c, [BAD_FD, *dead]) if dead or chance(c, 30) else sock
        return sock

    def _nl_send(self, state: _State) -> None:
        sock = self._socket(state, NETLINK_GENERIC)
        fam = pick(self.c, self.families)
        state.calls.append(NlSend(sock, fam.name, self.netlink.message(fam, self.valid())))

    def _rtnl(self, state: _State) -> None:
        sock = self._socket(state, NETLINK_ROUTE)
        state.calls.append(NlSend(sock, ROUTE_FAMILY, self.rtnl.message(self.valid())))

    # ---------------------------------------------------------------- files

    def _file_write(self, state: _State) -> None:
        f = pick(self.c, [f for f in self.files if f.writable])
        state.calls.append(FileWrite(f.path, self.file_data(f, self.valid())))

    def _file_read(self, state: _State) -> None:
        f = pick(self.c, [f for f in self.files if f.readable])
        state.calls.append(FileRead(f.path, self._count()))

    def file_data(self, f: File, valid: bool) -> bytes:
        c = self.c
        if not valid and chance(c, 40):
            return self._oversized()
        data = self.grammar_text(f.grammar, valid, f"file:{f.path}")
        if chance(c, 70):
            data += b"\n"
        return data

    def grammar_text(self, g: Grammar, valid: bool, key: str = "") -> bytes:
        """Text in grammar `g`; `key` names where it goes, for comparison hints."""
        c = self.c
        if g.kind == "int":
            t = Int(8, True, g.min, g.max)
            v = int_value(c, t, valid, self.hints, key or None)
            v = v - (1 << 64) if v >> 63 else v
            if not valid and chance(c, 30):
                return pick(c, [hex(v), f"{v}x", f" {v}", f"+{v}", f"{v}{v}", "-", ""]).encode()
            return str(v).encode()
        if g.kind == "enum" and g.values:
            word = pick(c, g.values).encode()
            return word if valid or chance(c, 50) else text_bytes(c, self.spec, 16, False)
        if g.kind == "string":
            top = g.max_len if g.max_len is not None else 64
            return text_bytes(c, self.spec, top, valid)
        if g.kind == "commands" and g.commands:
            cmd = pick(c, g.commands)
            args = [
                self.grammar_text(a, valid, f"{key}:{cmd.word}.{i}") for i, a in enumerate(cmd.args)
            ]
            if not valid and chance(c, 30):
                args = [*args[: c.below(len(args) + 1)], text_bytes(c, self.spec, 8, False)]
            return cmd.sep.encode().join([cmd.word.encode(), *args])
        return self.free_text(valid)

    def free_text(self, valid: bool) -> bytes:
        """Words the driver declares, numbers and separators: what text commands look like."""
        c = self.c
        parts: list[bytes] = []
        for _ in range(between(c, 1, 3)):
            how = c.below(3) if self.spec.words else 2
            if how == 0 or how == 1:
                parts.append(pick(c, self.spec.words).encode())
            else:
                parts.append(str(pick(c, interesting(4))).encode())
        sep = pick(c, [b" ", b":", b"=", b","]) if valid or chance(c, 50) else b"\t"
        return sep.join(parts)

    def _oversized(self) -> bytes:
        """From empty to far beyond a page, in printable runs or raw bytes."""
        c = self.c
        n = pick(c, [*WRITE_SIZES, *WRITE_SIZES, *BIG_WRITES])
        if chance(c, 30):
            head = c.bytes(min(n, 64))
            return (head * (n // max(len(head), 1) + 1))[:n] if head else bytes(n)
        ch = PRINTABLE[c.below(len(PRINTABLE))]
        return bytes([ch]) * n

    # ---------------------------------------------------------------- small values

    def _count(self) -> int:
        c = self.c
        return pick(c, READ_COUNTS) if chance(c, 80) else between(c, 0, 2 * PAGE)

    def _blob(self) -> bytes:
        c = self.c
        n = pick(c, WRITE_SIZES)
        if not self.valid() and chance(c, 30):
            n = pick(c, BIG_WRITES)
        head = c.bytes(min(n, 256))
        return head + bytes(n - len(head))
