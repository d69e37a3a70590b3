"""Hypothesis strategies for arbitrary valid programs bound to no spec (round trips, blind runs)."""

from __future__ import annotations

from hypothesis import strategies as st

from rig.prog.program import (
    ABIS,
    BAD_FD,
    MAP_NORESERVE,
    MAP_PRIVATE,
    MAP_PROTS,
    MAP_SHARED,
    MAX_FAMILY,
    MAX_MAP,
    POLL_EVENTS,
    PTR_WIDTHS,
    RAW_FAMILIES,
    TOUCH_READ,
    TOUCH_WRITE,
    U32,
    U64,
    Buffer,
    Call,
    Close,
    FdKind,
    FileRead,
    FileWrite,
    Ioctl,
    IoctlArg,
    Mmap,
    Munmap,
    NlSend,
    NlSocket,
    Open,
    Poll,
    Program,
    Read,
    Reloc,
    Special,
    Write,
    result_kind,
)

u32s = st.integers(0, U32)
small_bytes = st.binary(max_size=48)
paths = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24).map(
    lambda s: "/" + s
)
families = st.one_of(
    st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=MAX_FAMILY
    ).filter(lambda s: not s.startswith("@")),
    st.sampled_from(sorted(RAW_FAMILIES)),
)
threads = st.one_of(st.just(0), st.integers(0, 255))
specials = st.sampled_from(list(Special))


@st.composite
def buffers(draw: st.DrawFn, depth: int = 0) -> Buffer:
    data = draw(small_bytes)
    size = len(data) + draw(st.integers(0, 40))
    mapped = draw(st.one_of(st.none(), st.integers(len(data), size)))
    visible = size if mapped is None else mapped
    ptrs: list[Reloc] = []
    if visible >= 4 and depth < 3:
        for _ in range(draw(st.integers(0, 3))):
            width = draw(st.sampled_from([w for w in PTR_WIDTHS if w <= visible]))
            target = draw(st.one_of(specials, buffers(depth + 1)))
            ptrs.append(Reloc(draw(st.integers(0, visible - width)), target, width))
    return Buffer(data, size, mapped, tuple(ptrs))


ioctl_args: st.SearchStrategy[IoctlArg] = st.one_of(st.integers(0, U64), specials, buffers())


@st.composite
def calls(draw: st.DrawFn, earlier: tuple[Call, ...]) -> Call:
    def ref(*kinds: FdKind) -> int:
        ok = [i for i, c in enumerate(earlier) if result_kind(c) in kinds]
        return draw(st.sampled_from([BAD_FD, *ok]))

    t = draw(threads)
    choice = draw(st.integers(0, 11))
    if choice == 0:
        return Open(draw(paths), draw(u32s), draw(u32s), thread=t)
    if choice == 1:
        return Close(ref(FdKind.FILE, FdKind.SOCK), thread=t)
    if choice == 2:
        return Read(ref(FdKind.FILE), draw(st.integers(0, 4096)), thread=t)
    if choice == 3:
        return Write(ref(FdKind.FILE), draw(small_bytes), thread=t)
    if choice == 4:
        return Ioctl(ref(FdKind.FILE), draw(u32s), draw(ioctl_args), thread=t)
    if choice == 5:
        return NlSocket(draw(st.sampled_from([16, 0, 31])), thread=t)
    if choice == 6:
        return NlSend(ref(FdKind.SOCK), draw(families), draw(small_bytes), thread=t)
    if choice == 7:
        return FileWrite(draw(paths), draw(small_bytes), thread=t)
    if choice == 8:
        return FileRead(draw(paths), draw(st.integers(0, 4096)), thread=t)
    if choice == 9:
        return Mmap(
            ref(FdKind.FILE),
            draw(st.one_of(st.integers(0, 4 * 4096), st.integers(0, MAX_MAP))),
            draw(st.one_of(st.just(0), st.integers(0, U64))),
            draw(st.integers(0, MAP_PROTS)),
            draw(st.sampled_from([MAP_SHARED, MAP_PRIVATE, MAP_SHARED | MAP_NORESERVE, 0])),
            draw(st.integers(0, TOUCH_READ | TOUCH_WRITE)),
            thread=t,
        )
    if choice == 10:
        return Munmap(ref(FdKind.MAP), thread=t)
    return Poll(ref(FdKind.FILE, FdKind.SOCK), draw(st.integers(0, POLL_EVENTS)), thread=t)


@st.composite
def programs(draw: st.DrawFn, max_calls: int = 12) -> Program:
    out: list[Call] = []
    for _ in range(draw(st.integers(0, max_calls))):
        out.append(draw(calls(tuple(out))))
    return Program(tuple(out), draw(st.sampled_from(ABIS)))
