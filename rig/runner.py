"""Run one program file in a VM and say what happened (what `rig run` does)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from rig.config import Limits
from rig.console.watcher import Ending, Outcome
from rig.crash.parse import Report, parse_first
from rig.deadline import Deadline
from rig.guest.channel import Channel
from rig.guest.protocol import AgentConfig, CallStatus, ProgramResult
from rig.guest.surface import default_config
from rig.image.build import Image
from rig.prog import text
from rig.smoke import campaign_name
from rig.vmhost import VmHost

log = logging.getLogger(__name__)


@dataclass
class RunOutcome:
    result: ProgramResult | None
    ending: Outcome | None = None
    report: Report | None = None
    console: str = ""
    notes: list[str] = field(default_factory=list)


def target_hashes(image: Image) -> tuple[str, None]:
    """The driver hash programs record (the driver's source hash); specs come later."""
    return str(image.manifest["module"]["source_sha256"]), None


def load_program(path: Path, image: Image | None) -> text.ProgramFile:
    pf = text.load(path)
    pf.program.validate()
    if image is not None:
        pf.check_target(*target_hashes(image))
    return pf


def run_fresh(
    host: VmHost, image: Image, path: Path, config: AgentConfig | None = None
) -> RunOutcome:
    """Boot a VM, run the program, wait out a timed-out call for the kernel's verdict.

    `config`: what the program may touch (default: the paths named after the module).
    """
    pf = load_program(path, image)
    limits = host.ctx.limits
    config = config or default_config(image.module, limits.call_s)
    with host.session(image, config, campaign=campaign_name("run"), header=pf.header) as session:
        inst = session.instance
        result = session.run(pf.program) if session.alive else None
        out = RunOutcome(result)
        timed_out = result is not None and any(
            c.status == CallStatus.TIMED_OUT for c in result.calls
        )
        if timed_out:
            out.notes.append(
                f"a call timed out; watching the console {limits.settle_s:.0f}s "
                "for the kernel's verdict"
            )
            session.wait_for_report(limits.settle_s)
        out.ending = session.ending
        if out.ending is not None and out.ending.ending is Ending.REPORT:
            out.console = inst.console_text()
            out.report = parse_first(out.console)
        return out


def run_on(
    socket: Path, path: Path, module: str, limits: Limits, config: AgentConfig | None = None
) -> RunOutcome:
    """Run on a VM another rig process (`rig vm start`) owns and watches."""
    pf = load_program(path, None)
    config = config or default_config(module, limits.call_s)
    with Channel.connect(socket, Deadline(limits.agent_ready_s)) as channel:
        channel.handshake(Deadline(limits.agent_ready_s))
        channel.configure(config, Deadline(limits.agent_ready_s))
        return RunOutcome(
            channel.run(pf.program, 1, Deadline(len(pf.program.calls) * limits.call_s + 30))
        )
