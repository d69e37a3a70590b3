"""Round trips: object -> text -> object and object -> wire -> object are exact."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rig.prog import text, wire
from rig.prog.arbitrary import programs
from rig.prog.program import Program

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
