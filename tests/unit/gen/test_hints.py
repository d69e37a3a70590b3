"""Comparison hints: operands the driver compared are offered back to integer fields of any engine."""

from __future__ import annotations

import struct

from rig.gen.build import Builder
from rig.gen.choose import RandomChooser
from rig.gen.hints import Hints
from rig.gen.values import ValueBuilder
from rig.spec.types import Field, Int, Spec, Struct

CONST = 1
SIZE4, SIZE2 = 2 << 1, 1 << 1


def test_constants_are_kept_by_size_and_fit_wider_fields() -> None:
    h = Hints(per_size=3)
    new = h.add(
        [(SIZE4 | CONST, 0x10, 0xB0DA1234, 7), (SIZE2, 0x20, 0x1111, 0x2222), (SIZE4, 0, 0, 1)]
    )
    assert new == 3, "a constant's other operand is what the program sent, not a hint"
    assert h.of(4) == [0x1111, 0x2222, 0xB0DA1234] and h.of(2) == [0x1111, 0x2222]
    assert h.of(1) == [] and h.of(8) == h.of(4)
    assert h.add([(SIZE4 | CONST, 0x10, 0xB0DA1234, 9)]) == 0, "known"
    for v in range(10):
        h.add([(SIZE4 | CONST, 0, 100 + v, 0)])
    assert len(h.of(4)) == 2 + 3, "bounded per size, newest kept"
    assert 109 in h.of(4) and 100 not in h.of(4)


def test_a_compared_magic_number_reaches_the_field_it_guards() -> None:
    """No spec hint: the magic comes only from the comparison the driver made."""
    hdr = Struct("hdr", 8, 4, (Field("magic", 0, Int(4)), Field("len", 4, Int(4, max=64))))
    spec = Spec("any", structs=(hdr,))
    h = Hints()
    h.add([(SIZE4 | CONST, 0x44, 0xB0DA1234, 0)])
    values = ValueBuilder(spec, RandomChooser(3), h)
    magics = {struct.unpack_from("<I", values.struct(hdr, valid=True).data)[0] for _ in range(200)}
    assert 0xB0DA1234 in magics
    without = ValueBuilder(spec, RandomChooser(3))
    assert 0xB0DA1234 not in {
        struct.unpack_from("<I", without.struct(hdr, valid=True).data)[0] for _ in range(200)
    }
    # and a valid field keeps to its declared range whatever was compared
    h.add([(SIZE4 | CONST, 0x48, 5000, 0)])
    lens = {struct.unpack_from("<I", values.struct(hdr, valid=True).data, 4)[0] for _ in range(300)}
    assert max(lens) <= 64


def test_the_builder_hands_its_hints_to_values_and_netlink() -> None:
    h = Hints()
    b = Builder(Spec("any"), RandomChooser(0), hints=h)
    assert b.values.hints is h and b.netlink.hints is h


def test_the_modules_own_words_join_the_specs_words() -> None:
    from rig.campaign.worker import with_words

    spec = Spec("any", words=("status", "reset"))
    assert with_words(spec, ["reset", "enable", 3]).words == ("status", "reset", "enable")  # type: ignore[list-item]
