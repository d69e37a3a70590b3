"""Mutation operators on programs: insert, remove and splice calls, tweak arguments.

Every operator returns a program that passes `Program.validate()` (it falls
back to the input otherwise). fd references stay meaningful: removing a call
renumbers the later references, and a reference whose call is gone or of
the wrong kind is re-pointed at the nearest earlier call of the right kind
(or `badfd` when there is none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from rig.gen.build import Builder
from rig.gen.choose import Chooser, between, chance, pick
from rig.gen.values import Extent, boundary_counts, interesting, le, sibling_strides
from rig.prog.program import (
    BAD_FD,
    MAX_CALLS,
    Buffer,
    Call,
    FileRead,
    FileWrite,
    Ioctl,
    IoctlArg,
    NlSend,
    Program,
    ProgramError,
    Read,
    Reloc,
    Special,
    Write,
    fd_uses,
    result_kind,
    with_ref,
)
from rig.spec.types import Len, Ptr, Struct, StructRef, type_size

MAX_BLOB_GROWTH = 4096


def repair(calls: list[Call], abi: int = 64) -> Program:
    """`calls` with every fd reference pointing at an earlier call of the right kind."""
    out: list[Call] = []
    for i, call in enumerate(calls):
        use = fd_uses(call)
        if use is not None:
            ref, kinds = use
            ok = 0 <= ref < i and result_kind(out[ref]) in kinds
            if ref != BAD_FD and not ok:
                earlier = [j for j in range(i - 1, -1, -1) if result_kind(out[j]) in kinds]
                call = with_ref(call, earlier[0] if earlier else BAD_FD)
        out.append(call)
    return Program(tuple(out[:MAX_CALLS]), abi)


def _shift(calls: list[Call], at: int, delta: int) -> list[Call]:
    """Renumber references to calls at or after `at` by `delta` (an insert or a removal)."""
    out = []
    for call in calls:
        use = fd_uses(call)
        if use is not None and use[0] >= at:
            call = with_ref(call, use[0] + delta)
        out.append(call)
    return out


class Mutator:
    def __init__(self, builder: Builder) -> None:
        self.b = builder
        self.c: Chooser = builder.c
        # Operands the driver compared against (comparison hints), fed by the engine.
        self.hints: list[int] = []
        self.ops: list[Callable[[Program], Program]] = [
            self.insert,
            self.insert,
            self.remove,
            self.tweak,
            self.tweak,
            self.tweak,
            self.duplicate,
        ]

    def hint(self, values: list[int], limit: int = 4096) -> None:
        """Remember comparison operands; the oldest go first past `limit`."""
        known = set(self.hints)
        self.hints += [v for v in dict.fromkeys(values) if v not in known]
        del self.hints[: max(len(self.hints) - limit, 0)]

    def mutate(self, p: Program, other: Program | None = None, rounds: int = 0) -> Program:
        """One to a few mutations of `p` (a splice with `other` when given)."""
        rounds = rounds or between(self.c, 1, 3)
        for _ in range(rounds):
            if other is not None and chance(self.c, 15):
                q = self.splice(p, other)
            else:
                q = pick(self.c, self.ops)(p)
            try:
                q.validate()
            except ProgramError:
                continue
            p = q
        return p

    def insert(self, p: Program) -> Program:
        if len(p.calls) >= MAX_CALLS - 4:
            return self.remove(p)
        at = between(self.c, 0, len(p.calls))
        new = self.b.calls_for(p.calls[:at], p.abi)
        # References in the new calls already point into the prefix; later calls shift.
        tail = _shift(list(p.calls[at:]), at, len(new))
        return repair([*p.calls[:at], *new, *tail], p.abi)

    def remove(self, p: Program) -> Program:
        if not p.calls:
            return self.insert(p)
        at = self.c.below(len(p.calls))
        calls = list(p.calls)
        del calls[at]
        fixed = []
        for i, call in enumerate(calls):
            use = fd_uses(call)
            if use is not None and i >= at:
                ref = use[0]
                if ref == at:
                    call = with_ref(call, -2)  # dangling: repair re-points it
                elif ref > at:
                    call = with_ref(call, ref - 1)
            fixed.append(call)
        return repair(fixed, p.abi)

    def duplicate(self, p: Program) -> Program:
        if not p.calls or len(p.calls) >= MAX_CALLS - 1:
            return p
        i = self.c.below(len(p.calls))
        calls = list(p.calls)
        calls.insert(i + 1, calls[i])
        return repair(calls[: i + 2] + _shift(calls[i + 2 :], i + 1, 1), p.abi)

    def splice(self, p: Program, other: Program) -> Program:
        if other.abi != p.abi:  # layouts differ: the other's buffers mean nothing here
            return p
        a = between(self.c, 0, len(p.calls))
        b = between(self.c, 0, len(other.calls))
        tail = _shift(list(other.calls[b:]), 0, a - b)
        return repair([*p.calls[:a], *tail], p.abi)

    def tweak(self, p: Program) -> Program:
        if not p.calls:
            return self.insert(p)
        i = self.c.below(len(p.calls))
        calls = list(p.calls)
        call = calls[i]
        typed = (
            self.tweak_field(call, p.abi)
            if isinstance(call, Ioctl) and chance(self.c, 50)
            else None
        )
        calls[i] = typed or self.tweak_call(call)
        return repair(calls, p.abi)

    def tweak_field(self, call: Ioctl, abi: int) -> Ioctl | None:
        """`call` with one field of its argument struct made anew from the field's type.

        The rest of the struct stays as it was, so a program that already gets
        deep (a configured fd, a valid header) keeps doing so while one value
        moves: a count takes the counts that trip the driver's arithmetic on
        what it describes, an integer its own comparison hints. This is
        syzkaller's typed argument mutation; byte tweaks cannot aim at a field.
        None when the call's code or argument is not one the spec lays out.
        """
        buf = call.arg
        if not isinstance(buf, Buffer):
            return None
        self.b.use_abi(abi)
        vb = self.b.values
        s = self._arg_struct(call.cmd)
        fields = [f for f in s.fields if not isinstance(f.type, Ptr)] if s else []
        if s is None or not fields:
            return None
        f = pick(self.c, fields)
        end = f.offset + type_size(f.type, vb.spec)
        if end > buf.visible:
            return None  # the field lies past the mapped bytes: nothing the driver reads
        data = bytearray(buf.data.ljust(end, b"\0"))
        if isinstance(f.type, Len):
            # A length is mutated to lie: restoring the true count undoes nothing useful.
            e = self._extents(s, buf, data).get(f.type.of, Extent(0, 0))
            if f.type.unit != "elements":
                e = Extent(e.nbytes, e.nbytes, 1, e.declared_max * e.stride, e.strides)
            raw = le(pick(self.c, boundary_counts(e, f.type.size)), f.type.size)
            if chance(self.c, 50):
                raw = bytes(vb.inline(f.type, False, 0, {f.type.of: e}).data)
        else:
            raw = bytes(vb.inline(f.type, self.b.valid(), 0, {}, key=f"{s.name}.{f.name}").data)
        data[f.offset : end] = raw[: end - f.offset].ljust(end - f.offset, b"\0")
        return replace(call, arg=replace(buf, data=bytes(data).rstrip(b"\0")))

    def _arg_struct(self, cmd: int) -> Struct | None:
        spec = self.b.spec
        io = next((i for i in spec.ioctls if i.code == cmd), None)
        if io is None or not isinstance(io.arg, Ptr) or not isinstance(io.arg.target, StructRef):
            return None
        s = spec.struct(io.arg.target.name)
        return None if s is None or s.union else s

    def _extents(self, s: Struct, buf: Buffer, data: bytearray) -> dict[str, Extent]:
        """What each pointer field of `s` points to in `buf`, as length fields describe it."""
        vb = self.b.values
        out: dict[str, Extent] = {}
        strides = sibling_strides(s, data)
        for f in s.fields:
            if not isinstance(f.type, Ptr):
                continue
            r = next((r for r in buf.ptrs if r.offset == f.offset), None)
            n = r.target.size if r is not None and isinstance(r.target, Buffer) else 0
            stride = max(vb.extent(f.type, n, n).stride, 1)
            e = vb.extent(f.type, n, n // stride)
            out[f.name] = replace(e, strides=strides)
        return out

    def tweak_call(self, call: Call) -> Call:
        c = self.c
        if isinstance(call, Ioctl):
            if chance(c, 25):
                return replace(call, cmd=self._tweak_int(call.cmd, 4))
            return replace(call, arg=self._tweak_arg(call.arg))
        if isinstance(call, NlSend):
            return replace(call, msg=self.tweak_bytes(call.msg, aligned=True))
        if isinstance(call, FileWrite):
            if chance(c, 50):
                f = next((f for f in self.b.spec.files if f.path == call.path), None)
                if f is not None:
                    return replace(call, data=self.b.file_data(f, self.b.valid()))
            return replace(call, data=self.tweak_bytes(call.data))
        if isinstance(call, Write):
            return replace(call, data=self.tweak_bytes(call.data))
        if isinstance(call, Read | FileRead):
            return replace(call, count=self.b._count())
        return call

    def _tweak_arg(self, arg: IoctlArg) -> IoctlArg:
        c = self.c
        if isinstance(arg, Buffer):
            if arg.ptrs and chance(c, 25):
                k = c.below(len(arg.ptrs))
                r = arg.ptrs[k]
                target = self._tweak_arg(r.target)
                if not isinstance(target, Buffer | Special):
                    target = Special.NULL
                ptrs = (*arg.ptrs[:k], Reloc(r.offset, target, r.width), *arg.ptrs[k + 1 :])
                return replace(arg, ptrs=ptrs)
            data = self.tweak_bytes(arg.data, aligned=True, limit=arg.visible)
            return replace(arg, data=data[: arg.visible])
        if isinstance(arg, Special):
            return pick(c, list(Special))
        return self._tweak_int(arg, 8)

    def _tweak_int(self, v: int, size: int) -> int:
        c = self.c
        how = c.below(4)
        top = (1 << (8 * size)) - 1
        if how == 0:
            return (v + pick(c, [-1, 1, -8, 8, 16])) & top
        if how == 1:
            return v ^ (1 << c.below(8 * size))
        if how == 2:
            return pick(c, self.hints if self.hints and chance(c, 50) else interesting(size)) & top
        return c.uint(size)

    def tweak_bytes(self, data: bytes, aligned: bool = False, limit: int | None = None) -> bytes:
        """Flip, overwrite, insert or delete bytes; `aligned` also writes boundary integers."""
        c = self.c
        buf = bytearray(data)
        how = c.below(6 if aligned else 5)
        if how == 0 and buf:
            i = c.below(len(buf))
            buf[i] ^= 1 << c.below(8)
        elif how == 1 and buf:
            i = c.below(len(buf))
            buf[i] = c.uint(1)
        elif how == 2:
            i = between(c, 0, len(buf))
            buf[i:i] = c.bytes(pick(c, [1, 2, 4, 8, 16]))
        elif how == 3 and buf:
            i = c.below(len(buf))
            del buf[i : i + between(c, 1, 8)]
        elif how == 4:
            buf += c.bytes(between(c, 1, 64))
            if chance(c, 10):
                buf += bytes([buf[-1]]) * between(c, 1, MAX_BLOB_GROWTH)
        elif how == 5 and len(buf) >= 4:
            size = pick(c, [1, 2, 4, 8])
            i = c.below(max(len(buf) - size, 0) // size + 1) * size
            v = pick(c, self.hints) if self.hints and chance(c, 60) else pick(c, interesting(size))
            buf[i : i + size] = le(v, size)
        out = bytes(buf)
        return out if limit is None else out[:limit]
