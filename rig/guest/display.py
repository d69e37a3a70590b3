"""Human-readable lines for a program's results, call by call (what `rig run` prints)."""

from __future__ import annotations

import errno as errno_names

from rig.guest.protocol import (
    CallFlag,
    CallResult,
    CallStatus,
    CovStatus,
    ProgramResult,
    ProgStatus,
    netlink_errors,
)
from rig.prog.program import NlSend, Program
from rig.prog.text import format_call, quote

PREVIEW = 64
CALL_WIDTH = 160


def _errno(n: int) -> str:
    return errno_names.errorcode.get(n, str(n))


def _outcome(c: CallResult) -> str:
    if c.status == CallStatus.OK:
        return f"= {c.ret}" if c.ret >= 0 else f"= {c.ret} {_errno(c.errno)}"
    if c.status == CallStatus.REFUSED:
        return f"refused by the agent ({_errno(c.errno)})"
    return c.status.name.lower().replace("_", " ")


def _details(call: object, c: CallResult) -> list[str]:
    out = []
    if c.output:
        more = f" ... ({len(c.output)} bytes)" if len(c.output) > PREVIEW else ""
        out.append(f"out {quote(c.output[:PREVIEW])}{more}")
    if isinstance(call, NlSend) and (errs := netlink_errors(c.output)):
        out.append("netlink " + ", ".join("ack" if e == 0 else _errno(-e) for e in errs))
    if c.pcs or c.cmps:
        out.append(f"cover {len(set(c.pcs))} pcs, {len(c.cmps)} cmps")
    flags = [f.name.lower() for f in CallFlag if f and f in c.flags and f.name]
    if flags:
        out.append("flags " + ",".join(flags))
    return out


def format_result(program: Program, result: ProgramResult) -> list[str]:
    """One line per call (call, outcome, duration) and indented details."""
    lines = []
    for i, (call, c) in enumerate(zip(program.calls, result.calls, strict=True)):
        shown = format_call(call)
        if len(shown) > CALL_WIDTH:
            shown = shown[: CALL_WIDTH - 3] + "..."
        lines.append(f"{i:3} {shown} {_outcome(c)}  [{c.duration_ns / 1e3:.0f} us]")
        lines += [f"      {d}" for d in _details(call, c)]
    summary = f"program {result.seq}: {result.status.name.lower().replace('_', ' ')}"
    if result.status == ProgStatus.DIED:
        summary += f" (detail {result.detail:#x})"
    if result.cov_status == CovStatus.UNAVAILABLE:
        summary += f"; coverage unavailable ({_errno(result.cov_errno)})"
    return [*lines, summary]
