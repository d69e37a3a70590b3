"""The blind baseline: random calls and random bytes on what `ls` shows, no spec, no coverage.

It knows only the driver's device and file paths and its netlink family
name. It exists to measure the other engines against; netlink messages get a
correct outer nlmsghdr half of the time (general netlink knowledge, not the
driver's), everything else is random.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

from rig.prog.program import (
    BAD_FD,
    Buffer,
    Call,
    Close,
    FdKind,
    FileRead,
    FileWrite,
    Ioctl,
    IoctlArg,
    NlSend,
    NlSocket,
    Open,
    Program,
    Read,
    Special,
    Write,
    result_kind,
)


class BlindGenerator:
    def __init__(
        self,
        devices: Sequence[str] = (),
        files: Sequence[str] = (),
        families: Sequence[str] = (),
        seed: int = 0,
        max_calls: int = 12,
        abis: Sequence[int] = (64,),
    ) -> None:
        self.abis = tuple(abis) or (64,)
        self.devices, self.files, self.families = list(devices), list(files), list(families)
        self.rng = random.Random(seed)
        self.max_calls = max_calls
        self.kinds = (["dev"] * 4 if self.devices else []) + (["file"] * 3 if self.files else [])
        self.kinds += ["nl"] * 3 if self.families else []

    def _blob(self, top: int = 256) -> bytes:
        r = self.rng
        n = r.choice([0, r.randrange(top + 1), r.randrange(8192)]) if r.random() < 0.9 else 65536
        return r.randbytes(n)

    def _ref(self, calls: list[Call], kind: FdKind) -> int:
        ok = [i for i, c in enumerate(calls) if result_kind(c) == kind]
        return self.rng.choice(ok) if ok and self.rng.random() < 0.9 else BAD_FD

    def _arg(self) -> IoctlArg:
        r = self.rng
        how = r.randrange(3)
        if how == 0:
            return r.getrandbits(64)
        if how == 1:
            return r.choice(list(Special))
        data = r.randbytes(r.randrange(257))
        return Buffer(data, len(data) + r.randrange(64))

    def call(self, calls: list[Call]) -> list[Call]:
        r = self.rng
        kind = r.choice(self.kinds)
        if kind == "dev":
            if not any(isinstance(c, Open) for c in calls) or r.random() < 0.1:
                return [Open(r.choice(self.devices), r.choice([0, 1, 2, r.getrandbits(32)]))]
            fd = self._ref(calls, FdKind.FILE)
            what = r.randrange(10)
            if what < 6:
                return [Ioctl(fd, r.getrandbits(32), self._arg())]
            if what < 8:
                return [Write(fd, self._blob())]
            if what < 9:
                return [Read(fd, r.randrange(8192))]
            return [Close(fd)]
        if kind == "file":
            path = r.choice(self.files)
            if r.random() < 0.6:
                return [FileWrite(path, self._blob())]
            return [FileRead(path, r.randrange(8192))]
        out: list[Call] = []
        if not any(isinstance(c, NlSocket) for c in calls):
            out.append(NlSocket())
        sock = self._ref([*calls, *out], FdKind.SOCK)
        body = self._blob(128)
        if r.random() < 0.5:
            body = struct.pack("<IHHII", 16 + len(body), 0, 1 | 4, 1, 0) + body
        out.append(NlSend(sock, r.choice(self.families), body))
        return out

    def program(self) -> Program:
        calls: list[Call] = []
        if not self.kinds:
            return Program()
        abi = self.rng.choice(self.abis)  # raw bytes: no layout to follow either way
        n = 1 + self.rng.randrange(self.max_calls)
        while len(calls) < n:
            calls += self.call(calls)
        return Program(tuple(calls), abi)
