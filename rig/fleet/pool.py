"""A fleet of N instances booted concurrently and destroyed together."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from rig.config import Limits
from rig.fleet.backend import Backend
from rig.fleet.domain_xml import Owner
from rig.fleet.instance import Instance
from rig.fleet.owner import reap_orphans
from rig.image.build import Image

log = logging.getLogger(__name__)


@dataclass
class Fleet:
    """Slot i boots `images[i]`; `reap_orphans` runs once before the first boot."""

    backend: Backend
    images: Sequence[Image]
    boots_dir: Path
    owner: Owner
    limits: Limits = field(default_factory=Limits)
    accel: str = "tcg"
    instances: list[Instance] = field(default_factory=list)

    def new_instance(self, slot: int) -> Instance:
        return Instance(
            self.backend,
            self.images[slot],
            self.boots_dir,
            self.owner,
            self.limits,
            self.accel,
            slot,
        )

    def boot(self) -> list[Instance]:
        """Boot every slot concurrently; if any fails, destroy the rest and raise its error."""
        reaped = reap_orphans(self.backend)
        if reaped:
            log.warning("destroyed %d domain(s) left by dead rig processes", len(reaped))
        self.instances = [self.new_instance(i) for i in range(len(self.images))]
        with ThreadPoolExecutor(max_workers=max(1, len(self.instances))) as pool:
            futures = [pool.submit(inst.boot) for inst in self.instances]
            errors = [f.exception() for f in futures]
        failed = next((e for e in errors if e is not None), None)
        if failed is not None:
            self.close()
            raise failed
        return self.instances

    def close(self) -> None:
        for inst in self.instances:
            try:
                inst.destroy()
            except Exception:  # one failing destroy must not leak the others
                log.exception("destroying %s failed", inst.name)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
