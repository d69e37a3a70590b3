"""Round trips: object -> text -> object and object -> wire -> object are exact."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from rig.prog import text, wire
from rig.prog.arbitrary import programs
from rig.prog.program import Buffer, Ioctl, Open, Program, Reloc

hashes = st.one_of(st.none(), st.text("0123456789abcdef", min_size=64, max_size=64))


@settings(max_examples=300, deadline=None)
@given(programs(), hashes, hashes)
def test_text_round_trip(program: Program, driver: str | None, spec: str | None) -> None:
    header = text.Header(driver, spec)
    s = text.dumps(program, header)
    assert text.loads(s) == text.ProgramFile(program, header)
    assert text.dumps(text.loads(s).program, header) == s


@settings(max_examples=300, deadline=None)
@given(programs())
def test_wire_round_trip(program: Program) -> None:
    data = wire.encode(program)
    assert wire.decode(data) == program
    assert wire.encode(wire.decode(data)) == data


@settings(max_examples=200, deadline=None)
@given(programs())
def test_text_and_wire_agree(program: Program) -> None:
    via_text = text.loads(text.dumps(program)).program
    assert wire.encode(via_text) == wire.encode(program)


ABI32_TEXT = """\
rig-program 1
driver -
spec -
abi 32
r0 = open("/dev/boundary", 0x2, 0x0)
ioctl(r0, 0xc00cb708, buf(size=12, data=x"0000000008000000", @0=ptr32(buf(size=8))))
ioctl(r0, 0xc018b703, buf(size=24, @0=buf(size=5, data="hello"), @16=ptr32(null)))
"""


def test_abi32_and_4_byte_pointers_in_text() -> None:
    f = text.loads(ABI32_TEXT)
    peek, xfer = f.program.calls[1], f.program.calls[2]
    assert f.program.abi == 32
    assert isinstance(peek, Ioctl) and isinstance(peek.arg, Buffer)
    assert peek.arg.ptrs == (Reloc(0, Buffer(b"", 8), 4),)
    assert isinstance(xfer, Ioctl) and isinstance(xfer.arg, Buffer)
    assert [r.width for r in xfer.arg.ptrs] == [8, 4], "a __u64 carrying a pointer stays 8"
    assert text.dumps(f.program) == ABI32_TEXT


def test_defaults_write_nothing_new_so_old_files_read_the_same() -> None:
    old = ABI32_TEXT.replace("abi 32\n", "").replace("ptr32(buf(size=8))", "buf(size=8)")
    old = old.replace("ptr32(null)", "null")
    p = text.loads(old).program
    bufs = [c.arg for c in p.calls if isinstance(c, Ioctl) and isinstance(c.arg, Buffer)]
    assert p.abi == 64 and {r.width for b in bufs for r in b.ptrs} == {8}
    assert text.dumps(p) == old
    labelled = old.replace("r0 = open", "abi = open").replace("(r0,", "(abi,")
    assert text.loads(labelled).program == p, "a call labelled abi is still a call"


def test_wire_carries_the_abi_and_each_pointer_width() -> None:
    inner = Buffer.of(size=8)
    p = Program((Open("/x"), Ioctl(0, 7, Buffer.of(size=12, ptrs=(Reloc(4, inner, 4),)))), 32)
    data = wire.encode(p)
    assert data[:12] == struct.pack("<IHHI", wire.MAGIC, 3, 2, 32)
    # buffer: tag, size, mapped, blob data, nptrs, then offset and width of its pointer
    entry = struct.pack("<BIIIH", 4, 12, 0xFFFFFFFF, 0, 1) + struct.pack("<IB", 4, 4)
    assert entry in data
    assert wire.decode(data) == p
