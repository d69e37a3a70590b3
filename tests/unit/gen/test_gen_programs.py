"""Generated programs: always valid for the agent, round-trip, reuse resources, reach malformed variants."""

from __future__ import annotations

import struct
from collections import Counter

import pytest
from gen_support import boundary_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig.gen.build import Builder
from rig.gen.choose import RandomChooser
from rig.gen.mutate import Mutator
from rig.gen.strategies import file_writes, ioctl_calls, netlink_messages, programs
from rig.gen.values import Extent, ValueBuilder, boundary_counts
from rig.prog import text, wire
from rig.prog.program import (
    BAD_FD,
    Buffer,
    FileWrite,
    Ioctl,
    NlSend,
    Open,
    Program,
    Reloc,
    Special,
)
from rig.spec import netlink as nl
from rig.spec.types import Array, Device, Dir, Field, Int, Len, Ptr, Spec, Struct, StructRef
from rig.spec.types import Ioctl as IoctlSpec

SPEC = boundary_spec()
FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def _round_trip(p: Program) -> None:
    p.validate()
    assert text.loads(text.dumps(p)).program == p
    assert wire.decode(wire.encode(p)) == p


@FAST
@given(programs(SPEC, malformed=0))
def test_valid_programs_validate_and_round_trip(p: Program) -> None:
    _round_trip(p)
    codes = {io.code for io in SPEC.ioctls}
    for i, c in enumerate(p.calls):
        if isinstance(c, Ioctl):
            assert c.cmd in codes
            assert c.fd != BAD_FD and isinstance(p.calls[c.fd], Open)  # an earlier open, reused
            assert c.fd < i


@FAST
@given(programs(SPEC, malformed=60))
def test_malformed_programs_validate_and_round_trip(p: Program) -> None:
    _round_trip(p)


@FAST
@given(st.integers(0, 2**32), st.sampled_from(["ioctl", "netlink", "sysfs", "procfs", "debugfs"]))
def test_doors_restrict_calls(seed: int, door: str) -> None:
    p = Builder(SPEC, RandomChooser(seed), (door,)).program()
    kinds = {type(c).__name__ for c in p.calls}
    allowed = {
        "ioctl": {"Open", "Ioctl", "Read", "Write", "Close", "Mmap", "Munmap", "Poll"},
        "netlink": {"NlSocket", "NlSend", "Close"},
    }.get(door, {"FileWrite", "FileRead"})
    assert kinds <= allowed


def _many(spec: Spec, n: int, malformed: int) -> list[Program]:
    b = Builder(spec, RandomChooser(7), malformed=malformed)
    return [b.program() for _ in range(n)]


def _nla_problems(msg: bytes) -> set[str]:
    """What is wrong with a generated netlink message, as far as an outer parse sees."""
    out = set()
    if len(msg) < 16 or struct.unpack_from("<I", msg)[0] != len(msg):
        out.add("nlmsg_len")
    body = msg[16 + 4 :]
    off = 0
    while off + 4 <= len(body):
        ln, kind = struct.unpack_from("<HH", body, off)
        if ln < 4 or off + ln > len(body):
            out.add("nla_len")
            break
        if kind & nl.NLA_TYPE_MASK > 12 or kind & nl.NLA_TYPE_MASK == 0:
            out.add("unknown type")
        off += (ln + 3) & ~3
    return out


def test_malformed_variants_are_reached() -> None:
    seen: Counter[str] = Counter()
    codes = {io.code for io in SPEC.ioctls}
    for p in _many(SPEC, 1500, 40):
        for c in p.calls:
            if isinstance(c, Ioctl):
                if c.cmd not in codes:
                    seen["wrong ioctl code"] += 1
                    if any((c.cmd & 0x3FFF_FFFF) == (k & 0x3FFF_FFFF) for k in codes):
                        seen["wrong direction bits"] += 1
                    if any((c.cmd & 0xC000_FFFF) == (k & 0xC000_FFFF) for k in codes):
                        seen["wrong size bits"] += 1
                if isinstance(c.arg, Special):
                    seen["special pointer"] += 1
                if isinstance(c.arg, Buffer) and c.arg.mapped is not None:
                    seen["buffer into unmapped page"] += 1
                if c.fd == BAD_FD:
                    seen["bad fd"] += 1
            if isinstance(c, NlSend):
                seen.update(_nla_problems(c.msg))
            if isinstance(c, FileWrite):
                if not c.data:
                    seen["empty write"] += 1
                if len(c.data) > 4096:
                    seen["write beyond a page"] += 1
    wanted = [
        "wrong ioctl code",
        "wrong direction bits",
        "wrong size bits",
        "special pointer",
        "buffer into unmapped page",
        "bad fd",
        "nlmsg_len",
        "nla_len",
        "unknown type",
        "empty write",
        "write beyond a page",
    ]
    assert [w for w in wanted if not seen[w]] == [], seen


def test_valid_netlink_is_well_formed() -> None:
    for p in _many(SPEC, 300, 0):
        for c in p.calls:
            if isinstance(c, NlSend):
                assert _nla_problems(c.msg) == set(), c.msg.hex()


def test_pointers_and_lengths_agree_when_valid() -> None:
    xfer = next(io for io in SPEC.ioctls if io.name.endswith("XFER"))
    b = Builder(SPEC, RandomChooser(3), malformed=0)
    for _ in range(200):
        call = b.ioctl(0, xfer)
        assert isinstance(call.arg, Buffer)
        (ptr,) = [r for r in call.arg.ptrs if r.offset == 0]
        data = call.arg.data.ljust(call.arg.size, b"\0")
        length = struct.unpack_from("<I", data, 8)[0]
        target = ptr.target
        assert isinstance(target, Buffer) and length == target.size


@FAST
@given(ioctl_calls(SPEC), netlink_messages(SPEC), file_writes(SPEC))
def test_door_strategies(call: Ioctl, msg: tuple[str, bytes], write: tuple[str, bytes]) -> None:
    assert msg[0] == "boundary"
    assert write[0] in {f.path for f in SPEC.files}
    Program((Open("/dev/boundary"), call)).validate()


@FAST
@given(programs(SPEC), programs(SPEC), st.integers(0, 2**32))
def test_mutations_stay_valid(p: Program, q: Program, seed: int) -> None:
    m = Mutator(Builder(SPEC, RandomChooser(seed)))
    m.hint([0xDEADBEEF, 7])
    for _ in range(5):
        p = m.mutate(p, q)
        _round_trip(p)


def test_seeded_generation_is_reproducible() -> None:
    assert _many(SPEC, 50, 30) == _many(SPEC, 50, 30)


@pytest.mark.parametrize("stride", [1, 3, 16, 24, 4096])
def test_boundary_counts_include_the_products_that_wrap(stride: int) -> None:
    e = Extent(nbytes=2 * stride, nelem=2, stride=stride, declared_max=64)
    for size in (4, 8):
        counts = boundary_counts(e, size)
        top = (1 << (8 * size)) - 1
        assert {0, 64, 65, 3, top} <= set(counts)
        assert all(0 <= v <= top for v in counts)
        wraps32 = [v for v in counts if v * stride >= 1 << 32 and (v * stride) % (1 << 32) < stride]
        assert wraps32 or (1 << 32) // stride > top, (size, stride, counts)
        if size == 8 and stride > 1:  # a byte count of 64 bits cannot wrap 64 bits
            assert any((v * stride) % (1 << 64) < stride and v * stride >= 1 << 64 for v in counts)


def test_generated_count_fields_reach_the_wrapping_counts() -> None:
    """Any spec's count of an array of records reaches counts whose byte size wraps 32 bits."""
    rec = Struct(
        "rec", 24, 8, (Field("a", 0, Int(8)), Field("b", 8, Int(8)), Field("c", 16, Int(8)))
    )
    batch = Struct(
        "batch", 16, 8,
        (Field("items", 0, Ptr(Array(StructRef("rec"), max=32))),
         Field("count", 8, Len("items", 4, "elements"))),
    )  # fmt: skip
    spec = Spec("any", structs=(rec, batch))
    builder = ValueBuilder(spec, RandomChooser(7))
    counts = {
        struct.unpack_from("<I", builder.struct(batch, valid=False).data, 8)[0] for _ in range(3000)
    }
    wrapping = -(-(1 << 32) // 24)
    assert {wrapping, wrapping + 1} <= counts
    assert {0, 32, 33} <= counts


def test_devices_are_mapped_touched_unmapped_and_polled() -> None:
    """mmap is a door of every device node: whole pages mostly, odd sizes and offsets too."""
    from rig.prog.program import Mmap, Munmap, Poll

    progs = _many(SPEC, 400, malformed=30)
    calls = [c for p in progs for c in p.calls]
    maps = [c for c in calls if isinstance(c, Mmap)]
    assert (
        maps
        and any(isinstance(c, Munmap) for c in calls)
        and any(isinstance(c, Poll) for c in calls)
    )
    assert sum(m.length % 4096 == 0 and m.length > 0 for m in maps) > len(maps) // 2
    assert any(m.length % 4096 for m in maps) and any(m.offset for m in maps)
    assert any(m.touch == 3 for m in maps)
    for p in progs:
        for i, c in enumerate(p.calls):
            if isinstance(c, Munmap):
                assert isinstance(p.calls[c.map], Mmap) and c.map < i


def _sized_batch_spec() -> tuple[Spec, Struct]:
    """Any driver's shape: records the caller sizes itself (a count and an element size)."""
    rec = Struct(
        "rec", 24, 8, (Field("a", 0, Int(8)), Field("b", 8, Int(8)), Field("c", 16, Int(8)))
    )
    batch = Struct(
        "sized", 16, 8,
        (Field("items", 0, Ptr(Array(StructRef("rec"), max=8))),
         Field("count", 8, Len("items", 4, "elements")),
         Field("elem_size", 12, Int(4, values=(40,)))),
    )  # fmt: skip
    io = IoctlSpec("SIZED", 0x4010AA01, Dir.IN, 0xAA, 1, 16, Ptr(StructRef("sized")))
    spec = Spec("any", (Device("/dev/any", ("SIZED",)),), (io,), (rec, batch))
    return spec, batch


def test_count_fields_reach_the_counts_that_wrap_a_sibling_element_size() -> None:
    """A count is multiplied by the size the caller states (a field before it) as often as
    by the record's own size; for a size stated after it, typed mutation does (below)."""
    rec = Struct("rec", 24, 8, (Field("a", 0, Int(8)),))
    sized = Struct(
        "sized_first", 16, 8,
        (Field("items", 0, Ptr(Array(StructRef("rec"), max=8))),
         Field("elem_size", 8, Int(4, values=(40,))),
         Field("count", 12, Len("items", 4, "elements"))),
    )  # fmt: skip
    builder = ValueBuilder(Spec("any", structs=(rec, sized)), RandomChooser(3))
    seen = set()
    for _ in range(3000):
        elem, count = struct.unpack_from("<II", builder.struct(sized, valid=False).data, 8)
        if elem == 40:
            seen.add(count)
    assert -(-(1 << 32) // 40) in seen and -(-(1 << 32) // 40) + 1 in seen


def test_typed_mutation_moves_one_field_and_keeps_the_rest() -> None:
    """Mutating an ioctl's struct argument field by field: a count reaches the wrapping
    counts of the element size the caller states, and the fields not chosen stay as they were."""
    spec, _ = _sized_batch_spec()
    builder = Builder(spec, RandomChooser(11))
    mutator = Mutator(builder)
    items = Buffer(b"\x01" * 48, 48)
    arg = Buffer(struct.pack("<QII", 0, 2, 40), 16, None, (Reloc(0, items, 8),))
    call = Ioctl(0, 0x4010AA01, arg)
    counts = set()
    for _ in range(2000):
        got = mutator.tweak_field(call, 64)
        assert got is not None and isinstance(got.arg, Buffer)
        assert got.arg.ptrs == arg.ptrs and got.arg.size == 16
        count, elem = struct.unpack_from("<II", got.arg.data.ljust(16, b"\0"), 8)
        assert count == 2 or elem == 40  # exactly one of the two moved
        counts.add(count)
    assert -(-(1 << 32) // 40) + 1 in counts  # the product wraps to 40: a tiny allocation
    assert -(-(1 << 32) // 24) in counts  # and by the record's own size
    unknown = Ioctl(0, 0x1234, arg)
    assert mutator.tweak_field(unknown, 64) is None  # a code the spec does not lay out
