"""Sources of choices for the program builder: a seeded PRNG, hypothesis draws, or fuzzer bytes.

The builder (`rig.gen.build`) asks a `Chooser` for every decision, so one
piece of spec-driven code serves all engines:

- `RandomChooser`: `random.Random(seed)`, for long seeded campaigns;
- `DrawChooser`: hypothesis' `draw`, so examples shrink and are stored;
- `FdpChooser`: atheris' FuzzedDataProvider. Decisions (`below`) come from
  the tail of the input and values (`uint`, `bytes`) from its head, raw and
  little-endian, so a value the driver compares against appears verbatim in
  the input and libFuzzer's comparison table can patch it in place. The same
  bytes always decode to the same program; an exhausted input yields zeros.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Chooser(Protocol):
    def below(self, n: int) -> int:
        """A number in 0..n-1 (n >= 1): a decision."""
        ...

    def uint(self, size: int) -> int:
        """An unsigned integer of `size` bytes: a value."""
        ...

    def bytes(self, n: int) -> bytes:
        """Up to n bytes (exactly n except from an exhausted fuzzer input)."""
        ...


def pick(c: Chooser, items: Sequence[T]) -> T:
    return items[c.below(len(items))]


def chance(c: Chooser, percent: int) -> bool:
    """True with `percent` % probability; a zero decision (shrunk, exhausted) is False."""
    return c.below(100) >= 100 - percent


def between(c: Chooser, lo: int, hi: int) -> int:
    """A number in lo..hi (inclusive)."""
    return lo + c.below(hi - lo + 1) if hi > lo else lo


class RandomChooser:
    def __init__(self, seed: int | None = None, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random(seed)

    def below(self, n: int) -> int:
        return self.rng.randrange(n) if n > 1 else 0

    def uint(self, size: int) -> int:
        return self.rng.getrandbits(8 * size)

    def bytes(self, n: int) -> bytes:
        return self.rng.randbytes(n)


class DrawChooser:
    """Choices drawn from hypothesis strategies inside `st.composite`."""

    def __init__(self, draw: Any) -> None:
        from hypothesis import strategies as st

        self.draw = draw
        self.st = st

    def below(self, n: int) -> int:
        return int(self.draw(self.st.integers(0, n - 1))) if n > 1 else 0

    def uint(self, size: int) -> int:
        return int(self.draw(self.st.integers(0, (1 << (8 * size)) - 1)))

    def bytes(self, n: int) -> bytes:
        return bytes(self.draw(self.st.binary(min_size=n, max_size=n)))


class FdpChooser:
    """Choices decoded from fuzzer input through atheris' FuzzedDataProvider."""

    def __init__(self, data: bytes) -> None:
        import atheris

        self.fdp = atheris.FuzzedDataProvider(data)

    def below(self, n: int) -> int:
        return int(self.fdp.ConsumeIntInRange(0, n - 1)) if n > 1 else 0

    def uint(self, size: int) -> int:
        return int(self.fdp.ConsumeUInt(size))

    def bytes(self, n: int) -> bytes:
        return bytes(self.fdp.ConsumeBytes(n))

    def remaining(self) -> int:
        return int(self.fdp.remaining_bytes())
