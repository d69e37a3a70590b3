"""A fleet of N instances booted concurrently and destroyed together."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

from rig.fleet.instance import Instance
from rig.image.build import Image

if TYPE_CHECKING:
    from rig.vmhost import VmHost

log = logging.getLogger(__name__)


@dataclass
class Fleet:
    """Slot i boots `images[i]` on `host`, all at once."""

    host: VmHost
    images: Sequence[Image]
    campaign: str
    instances: list[Instance] = field(default_factory=list)

    def new_instance(self, slot: int) -> Instance:
        return self.host.instance(self.images[slot], self.campaign, slot)

    def boot(self) -> list[Instance]:
        """Boot every slot concurrently; if any fails, destroy the rest and raise its error."""
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
