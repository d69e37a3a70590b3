"""Values the driver handed back, offered to later fields of the same name.

An enumerate or get ioctl fills a struct: an index, an id, a count, a
handle. A later call that takes an `id` or an `index` most often wants one
the driver gave out, not a random number. After each program, the integer
fields of every output struct an ioctl filled are read by the spec's
layout and noted by field name (`rig.gen.hints.Hints.add_returned`); an
integer field of the same name then draws from them, as it draws from
operands the driver compared with it. Across programs, not within one: a
program is built before it runs, and drivers hand out the same numbers
again in a fresh or restored VM.
"""

from __future__ import annotations

from collections.abc import Sequence

from rig.prog.program import Buffer, Ioctl, Program
from rig.spec.types import Dir, Int, Len, Ptr, Spec, StructRef

Returned = tuple[str, int, int]  # field name, size in bytes, value
MAX_RETURNED = 64  # values taken from one program


class OutputStructs:
    """Reads the integer fields of the output structs a program's ioctls filled."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        # built once: this runs after every program of a campaign
        self.by_code = {io.code: io for io in spec.ioctls if io.dir in (Dir.OUT, Dir.INOUT)}

    def values(
        self, program: Program, outputs: Sequence[tuple[int, bytes]]
    ) -> tuple[Returned, ...]:
        """The (name, size, value) of every integer field in the output structs of `program`.

        `outputs` has one (return value, output bytes) per call, as the agent
        reported them; an ioctl's output starts with its argument buffer's bytes.
        """
        out: list[Returned] = []
        for call, (ret, data) in zip(program.calls, outputs, strict=False):
            if not isinstance(call, Ioctl) or not isinstance(call.arg, Buffer) or ret < 0:
                continue
            io = self.by_code.get(call.cmd)
            if io is None or not isinstance(io.arg, Ptr):
                continue
            target = io.arg.target
            s = self.spec.struct(target.name) if isinstance(target, StructRef) else None
            if s is None:
                continue
            data = data[: call.arg.visible]
            for f in s.fields:
                if not isinstance(f.type, Int | Len) or f.offset + f.type.size > len(data):
                    continue
                v = int.from_bytes(data[f.offset : f.offset + f.type.size], "little")
                if v:  # zero is every engine's first guess anyway
                    out.append((f.name, f.type.size, v))
        return tuple(out[:MAX_RETURNED])
