"""Programs for 32-bit processes: built from the layout 32-bit callers see, kept so by mutation."""

from __future__ import annotations

from collections import Counter

import pytest

from rig.gen.build import Builder
from rig.gen.choose import RandomChooser
from rig.gen.mutate import Mutator
from rig.prog.program import Buffer, Ioctl, Program
from rig.spec.load import SpecError, dumps, loads

# A legacy struct with a C pointer and a long, as the header import writes it:
# 24 bytes for 64-bit callers, 12 for 32-bit ones, so the two codes differ too.
SPEC_TEXT = """\
rig-spec: 1
name: legacy
devices:
- {path: /dev/legacy, ioctls: [LEGACY_PEEK, LEGACY_FIXED]}
ioctls:
- {name: LEGACY_PEEK, code: 0xc018b708, arg: {ptr: {struct: peek}, dir: inout},
   abi32: {code: 0xc00cb708}}
- {name: LEGACY_FIXED, code: 0x4008b709, arg: {ptr: {struct: fixed}, dir: in}}
structs:
- name: peek
  size: 24
  align: 8
  fields:
  - {name: buf, offset: 0, type: {ptr: {bytes: [1, 64]}, dir: out}}
  - {name: len, offset: 8, type: {len: buf, int: u64}}
  - {name: offset, offset: 16, type: u64}
  abi32:
    size: 12
    align: 4
    fields:
    - {name: buf, offset: 0, type: {ptr: {bytes: [1, 64]}, dir: out, size: 4}}
    - {name: len, offset: 4, type: {len: buf, int: u32}}
    - {name: offset, offset: 8, type: u32}
- name: fixed
  size: 8
  align: 8
  fields:
  - {name: addr, offset: 0, type: {ptr: bytes}}
"""


def test_abi32_layouts_read_back_and_are_checked() -> None:
    spec = loads(SPEC_TEXT)
    assert loads(dumps(spec)) == spec
    peek32 = spec.for_abi(32).struct("peek")
    assert peek32 is not None and peek32.size == 12
    assert spec.for_abi(32).ioctl("LEGACY_PEEK").code == 0xC00CB708  # type: ignore[union-attr]
    assert spec.for_abi(32).struct("fixed") == spec.struct("fixed"), "one layout: kept"
    bad = SPEC_TEXT.replace(
        "    - {name: offset, offset: 8, type: u32}", "    - {name: offset, offset: 10, type: u32}"
    )
    with pytest.raises(SpecError, match=r"offset \(abi32\): offset 10 \+ size 4 > struct size 12"):
        loads(bad)


def test_both_abis_get_programs_in_their_own_layout() -> None:
    spec = loads(SPEC_TEXT)
    b = Builder(spec, RandomChooser(seed=3), ("ioctl",), malformed=0, abis=(64, 32))
    seen: Counter[tuple[int, int, int]] = Counter()
    for _ in range(400):
        p = b.program()
        p.validate()
        for c in p.calls:
            if isinstance(c, Ioctl) and isinstance(c.arg, Buffer) and c.cmd & 0xFF == 0x08:
                widths = {r.width for r in c.arg.ptrs}
                seen[(p.abi, c.cmd, c.arg.size)] += 1
                assert widths <= {4 if p.abi == 32 else 8}
    assert set(seen) == {(64, 0xC018B708, 24), (32, 0xC00CB708, 12)}
    share = sum(n for (abi, _, _), n in seen.items() if abi == 32) / sum(seen.values())
    assert 0.3 < share < 0.7, seen


def test_mutation_keeps_a_programs_abi() -> None:
    spec = loads(SPEC_TEXT)
    b = Builder(spec, RandomChooser(seed=5), ("ioctl",), malformed=0, abis=(64, 32))
    m = Mutator(b)
    progs = [b.program() for _ in range(40)]
    for p in progs:
        for q in progs[:5]:
            out = m.mutate(p, q, rounds=3)
            out.validate()
            assert out.abi == p.abi
            for c in out.calls:
                if p.abi == 64 and isinstance(c, Ioctl) and isinstance(c.arg, Buffer):
                    assert {r.width for r in c.arg.ptrs} <= {8}, "no 32-bit pointer in 64-bit"


def test_default_is_64_bit_only() -> None:
    b = Builder(loads(SPEC_TEXT), RandomChooser(seed=1), ("ioctl",))
    assert {b.program().abi for _ in range(50)} == {64}
    assert Program().abi == 64
