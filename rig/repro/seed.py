"""Make a crash record the way a campaign does: programs through a session, the ending recorded.

Benchmarks and tests use it to start reproduction from realistic crashes
(noise programs, then a trigger) without running a fuzzing campaign.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from rig.campaign.record import record_ending
from rig.config import Home, Limits
from rig.crash.store import CrashStore, RecordResult
from rig.fleet.backend import Backend
from rig.fleet.instance import Instance
from rig.fleet.owner import me
from rig.guest.protocol import CallStatus
from rig.guest.surface import default_config
from rig.image.build import Image
from rig.prog import text
from rig.prog.program import Program
from rig.session import SETTLE_MARGIN_S, Session

log = logging.getLogger(__name__)

REPORT_WAIT_S = 20.0  # for a report the last program may still cause (a WARNING after its result)


def record_programs(
    home: Home,
    backend: Backend,
    image: Image,
    programs: Sequence[Program],
    campaign: str,
    accel: str,
    limits: Limits | None = None,
) -> RecordResult | None:
    """Boot `image`, run `programs` in order, record how the VM ended; None if it did not."""
    limits = limits or Limits()
    inst = Instance(backend, image, home.campaign(campaign) / "boots", me(campaign), limits, accel)
    inst.boot()
    header = text.Header(driver_hash=str(image.manifest["module"]["source_sha256"]))
    with Session(inst, default_config(image.module, limits.call_s), header) as session:
        session.start()
        results = list(session.run_many(list(programs)))
        if session.alive:
            hung = any(c.status == CallStatus.TIMED_OUT for r in results for c in r.calls)
            wait = limits.hung_task_worst_s + SETTLE_MARGIN_S if hung else REPORT_WAIT_S
            session.wait_for_report(wait)
        if session.ending is None:
            log.info("%s: the programs ran without a crash", inst.name)
            return None
        with CrashStore.open(home.root) as store:
            return record_ending(store, inst, session.ending, campaign)
