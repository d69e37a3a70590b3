"""Comparison hints: the operands the driver was seen comparing, offered back as values.

rigcov records each comparison the module makes (KCOV's layout: bit 0 of the
type says arg1 is a compile-time constant, bits 1-2 give log2 of the operand
size). A magic number or command code a driver compares input against is
therefore known after the first program that reaches the comparison, from
the binary itself and for any driver. Integer fields of the same size or
wider then take those values now and then (`rig.gen.values.int_value`),
in every engine that builds programs through the shared builder.

Hints are also scoped to fields, as syzkaller's are to arguments: while a
program is built, every integer it places is noted with the field it went
to (`place`); when the driver then compares that very value against
something else, the other operand is remembered for that field
(`of_field`). `if (b->elem_size < sizeof(struct x))` thus teaches the
`elem_size` field the struct's size, not every 4-byte field at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from rig.gen.feedback import Cmp

SIZES = (1, 2, 4, 8)
PER_SIZE = 512  # newest distinct operands kept per operand size
PER_FIELD = 32  # newest distinct operands kept per field
MAX_FIELDS = 4096  # fields with scoped hints; the oldest is dropped beyond
MAX_PLACED = 1024  # values noted per program; a bigger program notes its first ones


class Hints:
    """Distinct comparison operands by operand size, newest kept; bounded."""

    def __init__(self, per_size: int = PER_SIZE, per_field: int = PER_FIELD) -> None:
        self.per_size, self.per_field = per_size, per_field
        self._by_size: dict[int, dict[int, None]] = {s: {} for s in SIZES}
        self._fits: dict[int, list[int]] = {s: [] for s in SIZES}
        self._field: dict[str, dict[int, None]] = {}
        self._returned: dict[str, dict[int, None]] = {}  # field name -> values handed back
        # (compared size, value) -> fields of the program being built that hold it
        self._placed: dict[tuple[int, int], list[str]] = {}
        self._nplaced = 0

    def start(self) -> None:
        """A new program is being built: forget where the last one put its values."""
        self._placed.clear()
        self._nplaced = 0

    def place(self, key: str, size: int, value: int) -> None:
        """The program being built holds `value` in field `key` (`size` bytes)."""
        if self._nplaced >= MAX_PLACED:
            return
        self._nplaced += 1
        for s in SIZES:
            if s <= size:
                self._placed.setdefault((s, value & ((1 << (8 * s)) - 1)), []).append(key)

    def of_field(self, key: str | None) -> list[int]:
        """Operands the driver compared with what field `key` held, then values it
        returned in fields of the same name (rig.gen.returned), newest last."""
        if key is None:
            return []
        got = self._field.get(key)
        back = self._returned.get(key.rsplit(".", 1)[-1]) if "." in key else None
        return [*(back or ()), *(got or ())]

    def add_returned(self, values: Iterable[tuple[str, int, int]]) -> None:
        """Take (field name, size, value) the driver filled in output structs."""
        for name, size, v in values:
            self._remember(self._returned, name, v & ((1 << (8 * size)) - 1))

    def _scoped(self, size: int, seen: int, other: int) -> None:
        for key in self._placed.get((size, seen), ()):
            if other != seen:
                self._remember(self._field, key, other)

    def _remember(self, table: dict[str, dict[int, None]], key: str, v: int) -> None:
        """`v` as the newest value of `key`; the oldest values and keys go past the bounds."""
        known = table.get(key)
        if known is None:
            if len(table) >= MAX_FIELDS:
                del table[next(iter(table))]
            known = table[key] = {}
        known.pop(v, None)
        known[v] = None
        if len(known) > self.per_field:
            del known[next(iter(known))]

    def add(self, cmps: Iterable[Cmp]) -> int:
        """Take the operands of `cmps`; returns how many were new."""
        new = 0
        for kind, _pc, a1, a2 in cmps:
            size = 1 << ((kind >> 1) & 3)
            top = (1 << (8 * size)) - 1
            if self._placed:
                self._scoped(size, a2 & top, a1 & top)
                if not kind & 1:
                    self._scoped(size, a1 & top, a2 & top)
            # A constant operand is what the code wants; a variable one is what it got.
            for v in (a1,) if kind & 1 else (a1, a2):
                v &= top
                if v in (0, 1, top) or v in self._by_size[size]:
                    continue  # the engines try these anyway
                self._by_size[size][v] = None
                new += 1
                if len(self._by_size[size]) > self.per_size:
                    del self._by_size[size][next(iter(self._by_size[size]))]
        if new:
            for s in SIZES:
                self._fits[s] = [v for t in SIZES if t <= s for v in self._by_size[t]]
        return new

    def of(self, size: int) -> list[int]:
        """Operands that fit a field of `size` bytes (compared at that size or smaller)."""
        return self._fits.get(size, self._fits[8] if size > 8 else [])

    def __len__(self) -> int:
        return sum(len(d) for d in self._by_size.values())
