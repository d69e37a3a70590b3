"""Values for typed fields: integers with their boundaries, strings, and raw memory images of structs.

Nothing here knows a driver: every value follows from a spec type (range,
enum values, flag bits, sizes) plus the boundaries any C code trips on
(0, 1, powers of two and their neighbours, sign bits, all ones, a page).
`valid` asks for values the spec allows; otherwise the value may step just
outside (min - 1, max + 1, a missing terminator, a length that lies).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from rig.gen.choose import Chooser, between, chance, pick
from rig.gen.hints import Hints
from rig.prog.program import MAX_PTRS, Buffer, Pointer, Reloc, Special
from rig.spec.types import (
    Array,
    Bytes,
    Int,
    Len,
    Ptr,
    Spec,
    String,
    Struct,
    StructRef,
    Type,
    type_size,
)

PAGE = 4096
_POW = [1 << i for i in range(65)]
INTERESTING = sorted(
    {0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 63, 64, 100, 127, 128, 255, 256, 511, 512, 1000}
    | {1023, 1024, 4095, 4096, 4097, 65535, 65536}
    | {p + d for p in _POW[8:] for d in (-1, 0, 1)}
    | {(1 << 63) - 1, 1 << 63, (1 << 64) - 1}
)
BUFFER_SIZES = [0, 1, 2, 4, 7, 8, 15, 16, 31, 32, 63, 64, 65, 127, 128, 255, 256, 512, 1024]
BUFFER_SIZES += [4095, 4096, 4097]
MAX_ARRAY = 64  # elements generated for an unbounded array
PRINTABLE = bytes(range(0x21, 0x7F))


def mask(v: int, size: int) -> int:
    return v & ((1 << (8 * size)) - 1)


def le(v: int, size: int) -> bytes:
    return mask(v, size).to_bytes(size, "little")


def interesting(size: int) -> list[int]:
    top = (1 << (8 * size)) - 1
    return [v for v in INTERESTING if v <= top] + [top, top >> 1, (top >> 1) + 1]


@dataclass(frozen=True)
class Extent:
    """What a length field describes: the buffer made, and what its type allows."""

    nbytes: int  # bytes of the buffer generated
    nelem: int  # its elements
    stride: int = 1  # bytes per element
    declared_max: int = 0  # the spec's largest count (elements), 0 if none
    # Sizes the struct's other integer fields hold: a driver that is told its
    # element size multiplies the count by that field, not by the spec's stride.
    strides: tuple[int, ...] = ()


def boundary_counts(e: Extent, size: int) -> list[int]:
    """Counts a driver must refuse or handle, for any length field of `size` bytes.

    0, the declared maximum and one past it, the field type's limits, and the
    counts whose `count * stride` wraps 32 and 64 bits (to 0 or just above),
    which a driver that checks the product rather than the count misses.
    The buffer behind the field stays as generated: shorter than such counts claim.
    """
    top = (1 << (8 * size)) - 1
    out = [0, e.nelem + 1, top, top >> 1, (top >> 1) + 1]
    if e.declared_max:
        out += [e.declared_max, e.declared_max + 1]
    for stride in dict.fromkeys((max(e.stride, 1), *e.strides)):
        for bits in (32, 64):
            wrap = -(-(1 << bits) // stride)  # the smallest count with count * stride >= 2**bits
            out += [wrap, wrap + 1]
    return [v for v in dict.fromkeys(out) if 0 <= v <= top]


MAX_STRIDE = 1 << 16  # a sibling value above this is no element size


def sibling_strides(s: Struct, data: bytes | bytearray) -> tuple[int, ...]:
    """Values of `s`'s plain integer fields in `data` that could be an element size (2..64 KiB)."""
    out = []
    for f in s.fields:
        if isinstance(f.type, Int):  # bytes past `data` are zero, as in the buffer
            v = int.from_bytes(data[f.offset : f.offset + f.type.size], "little")
            if 2 <= v <= MAX_STRIDE:
                out.append(v)
    return tuple(dict.fromkeys(out))


SMALL = 10  # 0..SMALL-1: counts, indices, modes and ids a driver takes first
HINT_SLOTS = 64  # one draw picks a hint, whatever the number known


def int_value(
    c: Chooser, t: Int, valid: bool, hints: Hints | None = None, key: str | None = None
) -> int:
    """A value for an integer field, as an unsigned number of t.size bytes.

    `hints` are operands the driver was seen comparing (rig.gen.hints);
    `key` names the field, so operands compared with its own earlier values
    come first, and the value chosen now is noted for the next comparison.
    A plain integer (no range, values or flags) is most often small: indices,
    counts and selectors live there, as in syzkaller's randInt.
    """
    if t.const is not None and (valid or not chance(c, 30)):
        return mask(t.const, t.size)
    lo = t.lo if t.min is None else t.min
    hi = t.hi if t.max is None else t.max
    options = ["raw", "interesting"]
    if t.values:
        options += ["value", "value"]
    if t.flags:
        options += ["flags", "flags"]
    if not t.values and not t.flags:
        options += ["small"] * (4 if t.min is None and t.max is None else 1)
    # Hints come and go as results arrive, so they never change which draws are
    # made: hypothesis replays a choice sequence and must see the same shape.
    options += ["hint", "scoped", "scoped"]  # late: a zero draw stays the simplest
    if t.min is not None or t.max is not None:
        options += ["range", "edge"]
    if not valid:
        options += ["outside", "outside", "raw"]
    how = pick(c, options)
    if how == "value":
        v = pick(c, t.values)
    elif how == "flags":
        v = 0
        for f in t.flags:
            if chance(c, 50):
                v |= f
        if not valid and chance(c, 30):
            v |= 1 << c.below(8 * t.size)
    elif how == "small":
        base = 0 if lo <= 0 <= hi else lo
        v = base + (c.below(SMALL) if chance(c, 85) else between(c, SMALL, 255))
    elif how == "range":
        v = between(c, lo, min(hi, lo + (1 << 32)))
    elif how == "edge":
        v = pick(c, [lo, hi, lo + 1, hi - 1] if hi > lo else [lo])
    elif how == "outside":
        v = pick(c, [lo - 1, hi + 1, t.lo, t.hi, -1, hi * 2, 1 << (8 * t.size - 1)])
    elif how == "raw":
        v = c.uint(t.size)
    elif how == "interesting":
        v = pick(c, interesting(t.size))
    else:
        got = [] if hints is None else hints.of(t.size) if how == "hint" else hints.of_field(key)
        i = c.below(HINT_SLOTS)
        v = got[-1 - i % len(got)] if got else i % SMALL  # newest first
    free = how in ("raw", "small", "interesting", "hint", "scoped")
    if valid and free and not lo <= (_signed(v, t.size) if t.signed else v) <= hi:
        span = min(hi, lo + (1 << 32)) - lo + 1
        v = lo + v % span if how in ("raw", "small") else lo
    v = mask(v, t.size)
    if hints is not None and key is not None:
        hints.place(key, t.size, v)
    return v


def _signed(v: int, size: int) -> int:
    return v - (1 << (8 * size)) if v >> (8 * size - 1) else v


def text_bytes(c: Chooser, spec: Spec, max_len: int, valid: bool) -> bytes:
    """A word of the spec or random printable text, at most max_len bytes when valid."""
    if spec.words and chance(c, 60):
        word = pick(c, spec.words).encode()
    else:
        n = between(c, 0, max(max_len, 1))
        word = bytes(PRINTABLE[b % len(PRINTABLE)] for b in c.bytes(n))
    if not valid and chance(c, 50):
        n = pick(c, [max_len, max_len + 1, max_len + 2, 2 * max_len + 1, PAGE])
        filler = PRINTABLE[c.below(len(PRINTABLE))]
        word = (word + bytes([filler]) * n)[: max(n, 0)]
    return word if not valid else word[:max_len]


@dataclass
class Mem:
    """A memory image being built: bytes plus the pointers stored in it."""

    data: bytearray
    ptrs: list[Reloc] = field(default_factory=list)

    def put(self, offset: int, raw: bytes) -> None:
        end = min(offset + len(raw), len(self.data))
        if offset < end:
            self.data[offset:end] = raw[: end - offset]

    def buffer(self, c: Chooser, valid: bool) -> Buffer:
        """This image as a buffer; when not valid, maybe cut short by an unmapped page."""
        data = bytes(self.data).rstrip(b"\0")
        size = len(self.data)
        self.ptrs = self.ptrs[:MAX_PTRS]
        if not valid and size and chance(c, 15):
            mapped = between(c, 0, size - 1)
            ptrs = tuple(r for r in self.ptrs if r.offset + r.width <= mapped)
            return Buffer(data[:mapped], size, mapped, ptrs)
        return Buffer(data, size, None, tuple(self.ptrs))


class ValueBuilder:
    """Builds memory for spec types: structs, arrays, strings, pointers to buffers."""

    def __init__(self, spec: Spec, c: Chooser, hints: Hints | None = None) -> None:
        self.spec, self.c, self.hints = spec, c, hints

    def size_of(self, t: Type) -> int:
        return type_size(t, self.spec)

    def struct(self, s: Struct, valid: bool, depth: int = 0) -> Mem:
        mem = Mem(bytearray(s.size))
        lengths: dict[str, Extent] = {}  # pointer field -> what it points to
        for f in s.fields:
            if isinstance(f.type, Ptr):
                ptr, nbytes, nelem = self.pointer(f.type, valid, depth)
                mem.ptrs.append(Reloc(f.offset, ptr, f.type.size))
                lengths[f.name] = self.extent(f.type, nbytes, nelem)
        # In declared order (hypothesis shrinks best when the draws keep their
        # shape); a length sees the sizes its earlier siblings hold, and typed
        # mutation (rig.gen.mutate) later offers those of all of them.
        for f in s.fields:
            if isinstance(f.type, Ptr):
                continue
            if f.out and valid and not chance(self.c, 10):
                continue
            if isinstance(f.type, Len) and f.type.of in lengths:
                strides = sibling_strides(s, mem.data)
                lengths[f.type.of] = replace(lengths[f.type.of], strides=strides)
            mem_f = self.inline(f.type, valid, depth, lengths, key=f"{s.name}.{f.name}")
            mem.put(f.offset, bytes(mem_f.data))
            mem.ptrs += [Reloc(f.offset + r.offset, r.target, r.width) for r in mem_f.ptrs]
        return mem

    def extent(self, p: Ptr, nbytes: int, nelem: int) -> Extent:
        t = p.target
        if isinstance(t, Array):
            top = t.count if t.count is not None else t.max
            return Extent(nbytes, nelem, self.size_of(t.elem), top)
        if isinstance(t, Bytes):
            return Extent(nbytes, nelem, 1, t.max)
        return Extent(nbytes, nelem, max(nbytes, 1))

    def inline(
        self,
        t: Type,
        valid: bool,
        depth: int,
        lengths: dict[str, Extent] | None = None,
        key: str | None = None,
    ) -> Mem:
        """The bytes a type occupies inside a struct (`key` names the field, for hints)."""
        c = self.c
        if isinstance(t, Int):
            return Mem(bytearray(le(int_value(c, t, valid, self.hints, key), t.size)))
        if isinstance(t, Len):
            e = (lengths or {}).get(t.of, Extent(0, 0))
            v = e.nelem if t.unit == "elements" else e.nbytes
            if not valid and chance(c, 60):
                if t.unit != "elements":
                    e = Extent(e.nbytes, e.nbytes, 1, e.declared_max * e.stride, e.strides)
                v = pick(c, [v + 1, max(v - 1, 0), v * 2, c.uint(t.size), *interesting(t.size)])
                if chance(c, 60):  # the counts a driver's own arithmetic trips on
                    v = pick(c, boundary_counts(e, t.size))
            return Mem(bytearray(le(v, t.size)))
        if isinstance(t, String):
            raw = text_bytes(c, self.spec, t.max_len, valid)
            if valid or chance(c, 50):
                raw = raw[: max(t.size - 1, 0)] + b"\0"
            return Mem(bytearray((raw + bytes(t.size))[: t.size]))
        if isinstance(t, StructRef):
            s = self.spec.struct(t.name)
            return self.struct(s, valid, depth + 1) if s and depth < 4 else Mem(bytearray())
        if isinstance(t, Array):
            return self.array(t, t.count or 0, valid, depth)
        if isinstance(t, Ptr):
            return Mem(bytearray(8))
        return Mem(bytearray(c.bytes(t.min)))

    def array(self, t: Array, count: int, valid: bool, depth: int) -> Mem:
        stride = self.size_of(t.elem)
        mem = Mem(bytearray(stride * count))
        for i in range(count):
            if isinstance(t.elem, Int) and not t.elem.values and not valid:
                mem.put(i * stride, self.c.bytes(stride))
                continue
            e = self.inline(t.elem, valid, depth)
            mem.put(i * stride, bytes(e.data))
            mem.ptrs += [Reloc(i * stride + r.offset, r.target, r.width) for r in e.ptrs]
        return mem

    def pointer(self, p: Ptr, valid: bool, depth: int) -> tuple[Pointer, int, int]:
        """What a pointer points to, and that target's length in bytes and elements."""
        c = self.c
        if depth >= 6 or (not valid and chance(c, 15)):
            return pick(c, list(Special)), 0, 0
        t = p.target
        if isinstance(t, Bytes):
            hi = max(t.max, t.min)
            sizes = [s for s in BUFFER_SIZES if t.min <= s <= hi] or [t.min]
            n = pick(c, [*sizes, between(c, t.min, min(hi, 512))])
            if not valid and chance(c, 30):
                n = pick(c, [hi + 1, 2 * hi + 1, PAGE + 1, 65536])
            data = c.bytes(min(n, 256))
            return self._buffer(Mem(bytearray(data) + bytearray(n - len(data))), valid), n, n
        if isinstance(t, Array):
            hi = t.count if t.count is not None else min(t.max, MAX_ARRAY)
            n = t.count if t.count is not None else between(c, min(t.min, hi), hi)
            if not valid and t.count is None and chance(c, 20):
                n = pick(c, [hi + 1, 0, 2 * hi])
            n = min(n, 4 * MAX_ARRAY)
            mem = self.array(t, n, valid, depth + 1)
            return self._buffer(mem, valid), len(mem.data), n
        mem = self.inline(t, valid, depth + 1)
        return self._buffer(mem, valid), len(mem.data), 1

    def _buffer(self, mem: Mem, valid: bool) -> Buffer:
        return mem.buffer(self.c, valid)
