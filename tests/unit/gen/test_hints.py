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


def test_an_operand_compared_with_a_fields_own_value_is_scoped_to_that_field() -> None:
    """`if (b->elem_size < 24)`: 24 goes to elem_size, not to every 4-byte field."""
    batch = Struct(
        "batch", 8, 4, (Field("count", 0, Int(4)), Field("elem_size", 4, Int(4, max=256)))
    )
    spec = Spec("any", structs=(batch,))
    h = Hints()
    values = ValueBuilder(spec, RandomChooser(5), h)
    for _ in range(50):
        h.start()
        mem = values.struct(batch, valid=True)
        count, elem = struct.unpack("<II", bytes(mem.data))
        # the driver checks elem_size against a constant; count it compares with nothing
        h.add([(SIZE4 | CONST, 0x50, 24, elem)])
        if count != elem:
            assert 24 not in h.of_field("batch.count")
    assert h.of_field("batch.elem_size") == [24]
    draws = [
        struct.unpack("<II", bytes(values.struct(batch, valid=True).data))[1] for _ in range(400)
    ]
    assert draws.count(24) >= 40, "the scoped operand is one of the field's likely values"


def test_hints_never_change_the_shape_of_the_draws() -> None:
    """hypothesis replays choice sequences; hints arriving in between must not break them."""
    from rig.gen.choose import Chooser
    from rig.gen.values import int_value

    class Recording:
        def __init__(self, inner: Chooser) -> None:
            self.inner, self.bounds = inner, []

        def below(self, n: int) -> int:
            self.bounds.append(("below", n))
            return self.inner.below(n)

        def uint(self, size: int) -> int:
            self.bounds.append(("uint", size))
            return self.inner.uint(size)

        def bytes(self, n: int) -> bytes:
            self.bounds.append(("bytes", n))
            return self.inner.bytes(n)

    t = Int(4, max=1000)
    for seed in range(200):
        empty, full = Hints(), Hints()
        full.add([(SIZE4 | CONST, 0, v, 0) for v in (5000, 77, 123456)])
        full.start()
        full.place("f", 4, 0)
        full.add([(SIZE4 | CONST, 0, 99, 0)])
        a, b = Recording(RandomChooser(seed)), Recording(RandomChooser(seed))
        int_value(a, t, seed % 2 == 0, empty, "f")
        int_value(b, t, seed % 2 == 0, full, "f")
        assert a.bounds == b.bounds


def test_grammar_numbers_take_compared_operands() -> None:
    """A text command's number that the driver compares with a code learns the code."""
    from rig.spec.types import File, FileKind, Grammar, TextCommand

    g = Grammar("commands", commands=(TextCommand("warn", (Grammar("int", min=0, max=255),), ":"),))
    spec = Spec("any", files=(File("/sys/kernel/debug/x/inject", 0o200, FileKind.DEBUGFS, g),))
    h = Hints()
    b = Builder(spec, RandomChooser(1), doors=("debugfs",), malformed=0, hints=h)
    f = spec.files[0]
    for _ in range(40):
        h.start()
        text = b.file_data(f, valid=True).strip()
        n = int(text.split(b":")[1])
        h.add([(SIZE4 | CONST, 0x60, 0x5A, n)])
    assert h.of_field("file:/sys/kernel/debug/x/inject:warn.0") == [0x5A]
    texts = [b.file_data(f, valid=True).strip() for _ in range(300)]
    assert texts.count(b"warn:90") >= 20


def test_an_id_the_driver_handed_back_is_offered_to_a_later_field_of_that_name() -> None:
    """GET fills {index, id}; USE takes an id: the driver's own id comes back to it."""
    from rig.gen.feedback import Feedback
    from rig.gen.returned import OutputStructs
    from rig.prog.program import Buffer, Ioctl, Program
    from rig.spec.types import Dir, Ptr, StructRef
    from rig.spec.types import Ioctl as IoctlSpec

    got = Struct("got", 8, 4, (Field("index", 0, Int(4)), Field("id", 4, Int(4))))
    use = Struct("use", 8, 4, (Field("id", 0, Int(4)), Field("flags", 4, Int(4))))
    get_io = IoctlSpec("GET", 0x80087701, Dir.OUT, 0x77, 1, 8, Ptr(StructRef("got")))
    spec = Spec("any", ioctls=(get_io,), structs=(got, use))
    p = Program((Ioctl(0, 0x80087701, Buffer.of(size=8)),))
    back = OutputStructs(spec).values(p, [(0, struct.pack("<II", 3, 0xC0FFEE))])
    assert back == (("index", 4, 3), ("id", 4, 0xC0FFEE))
    assert OutputStructs(spec).values(p, [(-1, struct.pack("<II", 3, 0xC0FFEE))]) == (), "failed"

    h = Hints()
    h.add_returned(Feedback(returned=back).returned)
    values = ValueBuilder(spec, RandomChooser(9), h)
    ids = [struct.unpack_from("<I", values.struct(use, valid=True).data)[0] for _ in range(300)]
    flags = [
        struct.unpack_from("<I", values.struct(use, valid=True).data, 4)[0] for _ in range(300)
    ]
    assert ids.count(0xC0FFEE) >= 30 and 0xC0FFEE not in flags
