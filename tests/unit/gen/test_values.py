"""Integer values with no spec range: small numbers first, as drivers take indices and counts."""

from __future__ import annotations

from collections import Counter

from rig.gen.choose import RandomChooser
from rig.gen.values import int_value
from rig.spec.types import Int


def test_small_values_dominate_a_plain_integer() -> None:
    """Each of 0..9 at >= 4% (syzkaller's randInt gives ~5%); a uniform draw gave 0.8%."""
    c = RandomChooser(11)
    n = 20000
    for t in (Int(4), Int(8), Int(2, signed=True)):
        got = Counter(int_value(c, t, valid=True) for _ in range(n))
        for v in range(10):
            assert got[v] / n >= 0.04, (t, v, got[v] / n)
        assert sum(got[v] for v in range(10)) / n < 0.75, "the rest is still reached"
        assert len(got) > 1000


def test_small_values_respect_a_declared_range() -> None:
    c = RandomChooser(2)
    t = Int(4, min=100, max=103)
    assert {int_value(c, t, valid=True) for _ in range(2000)} == {100, 101, 102, 103}
    signed = Int(4, signed=True, min=-5, max=5)
    got = {int_value(c, signed, valid=True) for _ in range(2000)}
    assert {(v - (1 << 32)) if v >> 31 else v for v in got} == set(range(-5, 6))
