"""Reproduce new buckets one at a time in a thread while a campaign goes on fuzzing.

A campaign hands over bucket ids as it records new buckets; the worker
reproduces them in order on VMs of its own (one at a time, so it takes one
VM's worth of the machine) and records each bucket's status in the store.
`stop()` ends the bucket in progress at its next candidate; its VMs are
destroyed before the worker exits.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from rig.context import RunContext
from rig.crash.store import CrashStore
from rig.errors import RigError
from rig.repro.oracle import Runner
from rig.repro.reproduce import DEFAULT_BUDGET_S, ReproResult, reproduce

log = logging.getLogger(__name__)


@dataclass
class BackgroundReproducer:
    """Use: start(), submit(bucket_id) for each new bucket, stop() at the campaign's end."""

    ctx: RunContext
    budget_s: float = DEFAULT_BUDGET_S
    runs: int = 3
    runner: Callable[[], Runner] | None = None  # tests: replaces the VMs
    results: dict[str, ReproResult] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)
    _seen: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> BackgroundReproducer:
        self._thread = threading.Thread(target=self._work, name="repro", daemon=True)
        self._thread.start()
        return self

    def submit(self, bucket_id: str) -> bool:
        """Queue a bucket unless it was queued before or already has a reproduction status."""
        if bucket_id in self._seen:
            return False
        self._seen.add(bucket_id)
        with CrashStore.open(self.ctx.home.root) as store:
            bucket = store.bucket(bucket_id)
        if bucket is None or bucket.repro.state != "none":
            return False
        self._queue.put(bucket_id)
        return True

    def stop(self, timeout_s: float | None = None) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def wait_idle(self) -> None:
        """Block until every queued bucket is done (for tests and orderly shutdowns)."""
        self._queue.join()

    def _work(self) -> None:
        while not self._stop.is_set():
            bucket_id = self._queue.get()
            try:
                if bucket_id is None:
                    return
                self._one(bucket_id)
            finally:
                self._queue.task_done()

    def _one(self, bucket_id: str) -> None:
        try:
            res = reproduce(
                self.ctx,
                bucket_id,
                self.budget_s,
                runs=self.runs,
                stop=self._stop,
                replayer=self.runner() if self.runner is not None else None,
            )
        except RigError as e:  # one bad bucket must not end the worker
            log.warning("reproducing %s failed: %s", bucket_id, e)
            self.errors[bucket_id] = str(e)
            return
        self.results[bucket_id] = res
        log.info("bucket %s: %s", bucket_id, res.message)
