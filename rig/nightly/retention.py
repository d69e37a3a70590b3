"""What a configuration keeps of its runs, so a home stays bounded night after night.

The newest `retention.runs` runs keep everything: their campaign directories
(corpus, program logs, edges) and their outputs. Older runs lose those files
but keep their row and verdicts in the store, which later verdicts need (a
bucket fixed thirty nights ago and seen again is regressed, not new). Crash
instances are bounded by the store's ring; rows of crashes the ring has
overwritten are deleted, except each bucket's first, whose report and log
stay as first-report and first-log, and its reproducer (repro.*), which no
retention touches.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field

from rig.config import Home
from rig.crash.store import CrashStore
from rig.nightly.config import NightlyConfig

log = logging.getLogger(__name__)


@dataclass
class Pruned:
    runs: list[int] = field(default_factory=list)  # runs whose files were removed
    crash_rows: int = 0


def prune(home: Home, cfg: NightlyConfig) -> Pruned:
    out = Pruned()
    with CrashStore.open(home.root) as store:
        runs = store.runs(cfg.name)
        old = runs[: max(0, len(runs) - cfg.retention.runs)]
        for r in old:
            gone = False
            for d in (home.campaign(r.campaign), cfg.output_dir / cfg.name / str(r.id)):
                if d.is_dir():
                    shutil.rmtree(d)
                    gone = True
            if gone:
                out.runs.append(r.id)
        out.crash_rows = store.forget_overwritten()
    if out.runs or out.crash_rows:
        log.info(
            "%s: removed the files of %d old runs and %d overwritten crash rows",
            cfg.name,
            len(out.runs),
            out.crash_rows,
        )
    return out
