"""Comparison hints: the operands the driver was seen comparing, offered back as values.

rigcov records each comparison the module makes (KCOV's layout: bit 0 of the
type says arg1 is a compile-time constant, bits 1-2 give log2 of the operand
size). A magic number or command code a driver compares input against is
therefore known after the first program that reaches the comparison, from
the binary itself and for any driver. Integer fields of the same size or
wider then take those values now and then (`rig.gen.values.int_value`),
in every engine that builds programs through the shared builder.
"""

from __future__ import annotations

from collections.abc import Iterable

from rig.gen.feedback import Cmp

SIZES = (1, 2, 4, 8)
PER_SIZE = 512  # newest distinct operands kept per operand size


class Hints:
    """Distinct comparison operands by operand size, newest kept; bounded."""

    def __init__(self, per_size: int = PER_SIZE) -> None:
        self.per_size = per_size
        self._by_size: dict[int, dict[int, None]] = {s: {} for s in SIZES}
        self._fits: dict[int, list[int]] = {s: [] for s in SIZES}

    def add(self, cmps: Iterable[Cmp]) -> int:
        """Take the operands of `cmps`; returns how many were new."""
        new = 0
        for kind, _pc, a1, a2 in cmps:
            size = 1 << ((kind >> 1) & 3)
            top = (1 << (8 * size)) - 1
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
