"""Turn how a VM ended into a crash in the store, with the programs that ran before it."""

from __future__ import annotations

import logging
from pathlib import Path

from rig.console.watcher import Ending, Outcome
from rig.crash.kinds import Kind
from rig.crash.parse import parse_first
from rig.crash.store import CrashStore, RecordResult
from rig.fleet.instance import Instance
from rig.guest.proglog import format_record, read_log
from rig.guest.protocol import AgentConfig
from rig.guest.surface import describe

log = logging.getLogger(__name__)

PROGRAM_TAIL_BYTES = 256 * 1024  # the programs that ran last; enough for dozens of programs


def programs_before(program_log: Path) -> bytes | None:
    if not program_log.exists():
        return None
    records = read_log(program_log, PROGRAM_TAIL_BYTES)
    return "".join(format_record(r.seq, r.file) for r in records).encode()


def record_ending(
    store: CrashStore,
    inst: Instance,
    ending: Outcome,
    campaign: str,
    agent: AgentConfig | None = None,
) -> RecordResult | None:
    """Store the crash a session ended in; None for endings that are not crashes.

    The record keeps the image manifest and what the agent allowed, so a
    replay runs the programs under the same rules.
    """
    console = inst.watcher.transcript.data() if inst.watcher else b""
    programs = programs_before(inst.dir / "programs.log")
    manifest = {**inst.image.manifest, **({"agent": describe(agent)} if agent else {})}
    host = inst.backend.uri
    if ending.ending is Ending.REPORT:
        report = parse_first(console)
        if report is not None:
            return store.record(report, console, programs, campaign, inst.name, manifest, host=host)
        log.warning(
            "%s: the watcher saw %r but the parser found no report", inst.name, ending.first_line
        )
        return store.record_verdict(
            Kind.LOST_CONNECTION,
            console,
            programs,
            campaign,
            inst.name,
            manifest,
            detail=f"unparsed report: {ending.first_line}",
            host=host,
        )
    if ending.ending is Ending.GONE:
        return store.record_verdict(
            Kind.LOST_CONNECTION,
            console,
            programs,
            campaign,
            inst.name,
            manifest,
            detail=ending.detail,
            host=host,
        )
    if ending.ending is Ending.NO_OUTPUT:
        return store.record_verdict(
            Kind.NO_OUTPUT, console, programs, campaign, inst.name, manifest,
            detail=ending.detail, host=host,
        )  # fmt: skip
    return None
