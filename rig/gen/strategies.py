"""Hypothesis strategies that build programs from a spec, valid first and then malformed.

Each strategy runs the shared builder (`rig.gen.build`) on hypothesis'
draws, so examples shrink towards short programs of valid calls (a zero
draw is the valid, simple choice) and are replayed from the database.

    programs(spec, malformed=0)     valid calls only, resources reused
    programs(spec, malformed=30)    about 30 % of calls deliberately malformed
    ioctl_calls / netlink_messages / file_writes    one door at a time (tests, targeted runs)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hypothesis import strategies as st

from rig.gen.build import DOORS, Builder
from rig.gen.choose import DrawChooser, pick
from rig.gen.hints import Hints
from rig.prog.program import Ioctl, Program
from rig.spec.types import Spec


def programs(
    spec: Spec,
    malformed: int = 30,
    doors: Iterable[str] = DOORS,
    max_calls: int = 12,
    hints: Hints | None = None,
    abis: Sequence[int] = (64,),
) -> st.SearchStrategy[Program]:
    """Programs for processes of `abis`; `hints` (filled by the caller as results come in)
    offers compared operands."""
    doors = tuple(doors)

    @st.composite
    def build(draw: st.DrawFn) -> Program:
        c = DrawChooser(draw)
        return Builder(spec, c, doors, malformed, max_calls, hints, abis).program()

    return build()


def ioctl_calls(spec: Spec, malformed: int = 30) -> st.SearchStrategy[Ioctl]:
    """One ioctl on fd reference 0 (the caller supplies the open)."""

    @st.composite
    def build(draw: st.DrawFn) -> Ioctl:
        b = Builder(spec, DrawChooser(draw), ("ioctl",), malformed)
        dev = b.device(want_ioctls=True)
        return b.ioctl(0, pick(b.c, spec.device_ioctls(dev)))

    return build()


def netlink_messages(spec: Spec, malformed: int = 30) -> st.SearchStrategy[tuple[str, bytes]]:
    """(family, message bytes)."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, bytes]:
        b = Builder(spec, DrawChooser(draw), ("netlink",), malformed)
        fam = pick(b.c, spec.families)
        return fam.name, b.netlink.message(fam, b.valid())

    return build()


def file_writes(spec: Spec, malformed: int = 30) -> st.SearchStrategy[tuple[str, bytes]]:
    """(path, data) for a writable file of any kind."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, bytes]:
        b = Builder(spec, DrawChooser(draw), DOORS, malformed)
        f = pick(b.c, [f for f in spec.files if f.writable])
        return f.path, b.file_data(f, b.valid())

    return build()
