"""Hypothesis strategies for driver authors' property tests: programs aimed at one door.

Each strategy yields a whole `Program`, ready for `rig_vm.run(prog)` (the
pytest plugin, `rig.pytest`), built from a spec by the same builder the
fuzzing engines use. Every decision is a hypothesis draw whose zero is the
simple, valid choice, so a failing example shrinks to the fewest calls and
the plainest arguments that still fail.

    ioctl(spec, "BOUNDARY_IOC_XFER")        open the device, then that ioctl
    genl_message(spec, "boundary", "set")   a socket, then one request of that command
    file_write(spec, "/proc/boundary/ctl")  one write of text the file's grammar accepts
    programs(spec)                          sequences over every door

`spec` is a path to a spec file or a loaded `Spec`. `malformed` is the
percentage of values built to step outside the spec (special pointers,
lying lengths, broken attributes, oversized writes); 0 keeps to the spec.
A name the spec does not have fails when the strategy is made, not when
hypothesis first draws from it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from hypothesis import strategies as st

from rig.gen.build import DOORS, Builder, check_doors
from rig.gen.choose import DrawChooser
from rig.prog.program import MAX_CALLS, Call, FileWrite, Ioctl, NlSend, NlSocket, Open, Program
from rig.spec.load import load
from rig.spec.types import Device, File, NlCommand, NlFamily, Spec
from rig.spec.types import Ioctl as IoctlSpec

SpecLike = Spec | str | os.PathLike[str]

__all__ = ["SpecLike", "file_write", "genl_message", "ioctl", "programs", "resolve_spec"]


def resolve_spec(spec: SpecLike) -> Spec:
    """A loaded spec, or the spec at a path (SpecError names what is wrong with it)."""
    return spec if isinstance(spec, Spec) else load(Path(spec))


def _known(what: str, names: Iterable[str]) -> str:
    return f"{what}; the spec has: {', '.join(names) or 'none'}"


def find_ioctl(spec: Spec, name: str | int) -> tuple[Device, IoctlSpec]:
    """An ioctl by name (or code) and the first device that takes it."""
    io = next((i for i in spec.ioctls if name in (i.name, i.code)), None)
    if io is None:
        raise ValueError(_known(f"no ioctl {name!r}", (i.name for i in spec.ioctls)))
    dev = next((d for d in spec.devices if io.name in d.ioctls), None)
    if dev is None:
        raise ValueError(f"no device of spec {spec.name!r} takes ioctl {io.name}")
    return dev, io


def find_command(spec: Spec, family: str, command: str | int) -> tuple[NlFamily, NlCommand]:
    """A generic netlink family's command, by name or id."""
    fam = next((f for f in spec.families if f.name == family), None)
    if fam is None:
        raise ValueError(_known(f"no netlink family {family!r}", (f.name for f in spec.families)))
    cmd = next((c for c in fam.commands if command in (c.name, c.id)), None)
    if cmd is None:
        raise ValueError(_known(f"family {family} has no command {command!r}", _names(fam)))
    return fam, cmd


def _names(fam: NlFamily) -> list[str]:
    return [c.name for c in fam.commands]


def find_file(spec: Spec, path: str) -> File:
    f = next((f for f in spec.files if f.path == path), None)
    if f is None:
        raise ValueError(_known(f"no file {path!r}", (f.path for f in spec.files)))
    if not f.writable:
        raise ValueError(f"{path} is not writable (mode {f.mode:#o})")
    return f


def ioctl(
    spec: SpecLike, name: str | int, *, malformed: int = 30, abi: int = 64
) -> st.SearchStrategy[Program]:
    """open(2) of the device that takes ioctl `name`, then that ioctl with a generated argument.

    The command stays the named one (a malformed draw bends only the
    argument), so the test is about that ioctl; the device is opened with
    the flags the spec gives first.
    """
    s = resolve_spec(spec).for_abi(abi)
    dev, io = find_ioctl(s, name)

    @st.composite
    def build(draw: st.DrawFn) -> Program:
        b = Builder(s, DrawChooser(draw), ("ioctl",), malformed, abis=(abi,))
        arg = b.ioctl_arg(io, b.valid())
        return Program((Open(dev.path, dev.open_flags[0]), Ioctl(0, io.code, arg)), abi)

    return build()


def genl_message(
    spec: SpecLike, family: str, command: str | int, *, malformed: int = 30
) -> st.SearchStrategy[Program]:
    """A generic netlink socket, then one request of `command` (name or id) to `family`."""
    s = resolve_spec(spec)
    fam, cmd = find_command(s, family, command)

    @st.composite
    def build(draw: st.DrawFn) -> Program:
        b = Builder(s, DrawChooser(draw), ("netlink",), malformed)
        return Program((NlSocket(), NlSend(0, fam.name, b.netlink.request(fam, cmd, b.valid()))))

    return build()


def file_write(spec: SpecLike, path: str, *, malformed: int = 30) -> st.SearchStrategy[Program]:
    """One write of data in the grammar of the spec's file `path` (sysfs, procfs, debugfs)."""
    s = resolve_spec(spec)
    f = find_file(s, path)

    @st.composite
    def build(draw: st.DrawFn) -> Program:
        b = Builder(s, DrawChooser(draw), DOORS, malformed)
        return Program((FileWrite(f.path, b.file_data(f, b.valid())),))

    return build()


def programs(
    spec: SpecLike,
    *,
    malformed: int = 30,
    doors: Iterable[str] = DOORS,
    max_calls: int = 12,
    abis: Sequence[int] = (64,),
) -> st.SearchStrategy[Program]:
    """Sequences of 1..`max_calls` calls over `doors`, resources (fds, sockets) reused.

    Each step (a call and any resource it needs first) is one hypothesis
    span after a "more" decision, so the shrinker can delete a step from the
    middle and the steps after it are rebuilt on what is left: a failing
    program shrinks to the calls the failure needs, not just to a shorter tail.
    """
    s = resolve_spec(spec)
    doors = check_doors(doors)
    abis = tuple(abis) or (64,)
    top = min(max_calls, MAX_CALLS - 2)

    @st.composite
    def step(draw: st.DrawFn, prefix: tuple[Call, ...], abi: int, first: bool) -> list[Call]:
        # Go on 5 times in 6 (about 6 steps a program); 0, where draws shrink to, ends it.
        if not first and draw(st.integers(0, 5)) == 0:
            return []
        b = Builder(s, DrawChooser(draw), doors, malformed, top, abis=abis)
        return b.calls_for(prefix, abi)

    @st.composite
    def build(draw: st.DrawFn) -> Program:
        abi = draw(st.sampled_from(abis)) if len(abis) > 1 else abis[0]
        calls: tuple[Call, ...] = ()
        while len(calls) < top:
            more = draw(step(calls, abi, not calls))
            if not more:
                break
            calls += tuple(more)
        return Program(calls[:top], abi)

    return build()
