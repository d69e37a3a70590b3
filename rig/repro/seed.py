"""Make a crash record the way a campaign does: programs through a session, the ending recorded.

Benchmarks and tests use it to start reproduction from realistic crashes
(noise programs, then a trigger) without running a fuzzing campaign.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from rig.campaign.record import record_ending
from rig.crash.store import CrashStore, RecordResult
from rig.guest.protocol import CallStatus
from rig.guest.surface import default_config
from rig.image.build import Image
from rig.prog import text
from rig.prog.program import Program
from rig.vmhost import VmHost

log = logging.getLogger(__name__)


def record_programs(
    host: VmHost, image: Image, programs: Sequence[Program], campaign: str
) -> RecordResult | None:
    """Boot `image`, run `programs` in order, record how the VM ended; None if it did not."""
    limits = host.ctx.limits
    header = text.Header(driver_hash=str(image.manifest["module"]["source_sha256"]))
    config = default_config(image.module, limits.call_s)
    with host.session(image, config, campaign=campaign, header=header) as session:
        results = list(session.run_many(list(programs)))
        if session.alive:
            hung = any(c.status == CallStatus.TIMED_OUT for r in results for c in r.calls)
            session.wait_for_report(limits.settle_s if hung else limits.report_wait_s)
        if session.ending is None:
            log.info("%s: the programs ran without a crash", session.instance.name)
            return None
        with CrashStore.open(host.ctx.home.root) as store:
            return record_ending(store, session.instance, session.ending, campaign)
