"""One campaign worker: a process that fuzzes through one VM slot until told to stop.

Run as `python -m rig.campaign.worker CAMPAIGN_DIR SLOT HOME`. A worker has
its own engine (corpus under workers/SLOT/engine), boots its VM from the
campaign's current image, alternates next_program / run / feedback, records
every ending (report, vanished VM, silence) in the crash store with the
programs before it, boots a fresh VM and goes on. It stops on SIGTERM or
SIGINT, when the stop file appears, or when its parent dies (PDEATHSIG), and
always destroys its VM on the way out.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rig.campaign.directory import CampaignDir, write_edges, write_json
from rig.campaign.record import record_ending
from rig.config import Home, Limits
from rig.crash.store import CrashStore
from rig.errors import BootError, InfraError, RigError
from rig.fleet.instance import Instance
from rig.fleet.libvirt_backend import DEFAULT_URI, LibvirtBackend
from rig.fleet.owner import me
from rig.gen.engines import Engine, make_engine
from rig.gen.feedback import Feedback
from rig.guest.protocol import AgentConfig, ProgStatus
from rig.guest.surface import coverage_path
from rig.host import accel as accelmod
from rig.image.build import Image, verify
from rig.prog import text
from rig.session import Session
from rig.spec.load import load as load_spec
from rig.spec.load import spec_hash
from rig.spec.types import Spec

log = logging.getLogger("rig.worker")

STATS_EVERY_S = 1.0
EDGES_EVERY_S = 5.0
MAX_BOOT_FAILURES = 3
PR_SET_PDEATHSIG = 1


@dataclass
class WorkerStats:
    slot: int
    pid: int = field(default_factory=os.getpid)
    status: str = "starting"
    vm: str = ""
    execs: int = 0
    crashes: int = 0
    boots: int = 0
    timeouts: int = 0
    edges: int = 0
    engine: dict[str, int] = field(default_factory=dict)
    error: str = ""
    corpus_skipped: list[str] = field(default_factory=list)  # "path: reason"
    updated: float = 0.0


def agent_config(spec: Spec, module: str, limits: Limits) -> AgentConfig:
    return AgentConfig(
        allow_paths=spec.paths,
        allow_families=tuple(spec.family_names),
        call_timeout_s=limits.call_s,
        coverage_path=coverage_path(module),
    )


def edge_ids(fb: Feedback) -> set[int]:
    return {(a << 32) | b for a, b in fb.edges()}


class Worker:
    def __init__(self, camp: CampaignDir, slot: int, home: Home) -> None:
        self.camp = camp
        self.slot = slot
        self.home = home
        self.dir = camp.worker(slot)
        self.opts = camp.options()
        self.limits = Limits()
        self.stop = threading.Event()
        self.stats = WorkerStats(slot)
        self.edges: set[int] = set()
        self._flushed = 0.0
        self._edges_flushed = 0.0

    def stopping(self) -> bool:
        return self.stop.is_set() or self.camp.stopping()

    def flush(self, force: bool = False, engine: Engine | None = None) -> None:
        now = time.monotonic()
        if force or now - self._flushed >= STATS_EVERY_S:
            self._flushed = now
            if engine is not None:
                self.stats.engine = engine.stats()
            self.stats.edges = len(self.edges)
            self.stats.updated = time.time()
            write_json(self.dir / "stats.json", asdict(self.stats))
        if force or now - self._edges_flushed >= EDGES_EVERY_S:
            self._edges_flushed = now
            write_edges(self.dir / "edges.bin", self.edges)

    def run(self) -> None:
        spec = load_spec(Path(self.opts.spec))
        accel = accelmod.current(self.home.host_file).accel
        image = verify(self.home.images / self.camp.current_image())
        header = text.Header(str(image.manifest["module"]["source_sha256"]), spec_hash(spec))
        engine = make_engine(
            self.opts.engine,
            spec,
            self.dir / "engine",
            seed=self.opts.seed + self.slot,
            doors=self.opts.doors,
            seeds=[Path(__file__).resolve().parents[2] / "corpora" / "seeds"],
            header=header,
        )
        corpus = getattr(engine, "corpus", None)
        self.stats.corpus_skipped = list(getattr(corpus, "skipped", []))
        backend = LibvirtBackend(os.environ.get("RIG_LIBVIRT_URI", DEFAULT_URI))
        store = CrashStore.open(self.home.root)
        failures = 0
        try:
            while not self.stopping():
                image = verify(self.home.images / self.camp.current_image())
                try:
                    self.fuzz_one_vm(backend, store, engine, image, spec, header, accel)
                    failures = 0
                except BootError as e:
                    failures += 1
                    log.warning("boot failed (%d in a row): %s\n%s", failures, e, e.console_tail)
                    if failures >= MAX_BOOT_FAILURES:
                        raise
        finally:
            self.stats.status = "stopped"
            self.flush(force=True, engine=engine)
            engine.close()
            store.close()
            backend.close()

    def fuzz_one_vm(
        self,
        backend: LibvirtBackend,
        store: CrashStore,
        engine: Engine,
        image: Image,
        spec: Spec,
        header: text.Header,
        accel: str,
    ) -> None:
        self.stats.status = "booting"
        self.flush(force=True, engine=engine)
        inst = Instance(
            backend, image, self.camp.boots, me(self.camp.name), self.limits, accel, self.slot
        )
        inst.boot()
        self.stats.boots += 1
        self.stats.vm = inst.name
        self.stats.status = "fuzzing"
        config = agent_config(spec, image.module, self.limits)
        with Session(inst, config, header) as session:
            session.start()
            while session.alive and not self.stopping():
                program = engine.next_program()
                result = session.run(program)
                if result is None:
                    engine.feedback(program, Feedback.crash())
                    break
                fb = Feedback.from_program_result(result)
                engine.feedback(program, fb)
                self.edges |= edge_ids(fb)
                self.stats.execs += 1
                self.stats.timeouts += int(result.status == ProgStatus.TIMED_OUT)
                self.flush(engine=engine)
            if session.ending is not None:
                recorded = record_ending(store, inst, session.ending, self.camp.name, config)
                if recorded is not None:
                    self.stats.crashes += 1
                    log.info(
                        "%s: %s -> bucket %s (%d)",
                        inst.name,
                        session.ending.ending.value,
                        recorded.bucket_id,
                        recorded.count,
                    )
        self.flush(force=True, engine=engine)


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        log.warning("cannot ask to be stopped when the parent dies")


def main(argv: list[str]) -> int:
    camp, slot, home = CampaignDir(Path(argv[1])), int(argv[2]), Home(Path(argv[3]))
    worker_dir = camp.worker(slot)
    worker_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=worker_dir / "worker.log",
        level=logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
    )
    _die_with_parent()
    worker = Worker(camp, slot, home)

    def on_signal(signum: int, _frame: Any) -> None:
        worker.stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    if os.getppid() == 1:  # the parent died before we could ask
        return 1
    try:
        worker.run()
    except (RigError, InfraError) as e:
        worker.stats.error = str(e)
        worker.stats.status = "failed"
        worker.flush(force=True)
        log.error("worker failed: %s", e)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
