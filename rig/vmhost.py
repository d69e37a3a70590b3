"""One libvirt host in use: the one owner of VM runs on it.

Every command that needs a guest (campaign workers, `rig run`, reproduction,
spec probing, benchmarks) asks a `VmHost` for a `Session`: a VM of an image,
booted, with its agent connected and configured and its console watched.
The host decides how the VM comes to be (a cold boot today; a restored
snapshot where one exists) and names the VM's directory, owner and limits
from its `RunContext`, so no caller assembles that lifecycle by hand.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType

from rig.context import RunContext
from rig.fleet.backend import Backend
from rig.fleet.instance import Instance
from rig.fleet.owner import me, reap_orphans
from rig.guest.protocol import AgentConfig
from rig.image.build import Image
from rig.prog import text
from rig.session import Session

log = logging.getLogger(__name__)


class VmHost:
    """Use as a context manager; `close()` closes the connection (sessions close themselves)."""

    def __init__(self, ctx: RunContext, backend: Backend | None = None) -> None:
        self.ctx = ctx
        if backend is None:
            from rig.fleet.libvirt_backend import LibvirtBackend

            backend = LibvirtBackend(ctx.uri)
        self.backend: Backend = backend
        reaped = reap_orphans(self.backend)
        if reaped:
            log.warning("destroyed %d domain(s) left by dead rig processes", len(reaped))

    def boots_dir(self, campaign: str) -> Path:
        return self.ctx.home.campaign(campaign) / "boots"

    def instance(
        self, image: Image, campaign: str, slot: int = 0, boots_dir: Path | None = None
    ) -> Instance:
        """An instance not booted yet (for callers that boot several at once)."""
        return Instance(
            self.backend,
            image,
            boots_dir or self.boots_dir(campaign),
            me(campaign),
            self.ctx.limits,
            self.ctx.accel,
            slot,
        )

    def session(
        self,
        image: Image,
        config: AgentConfig,
        *,
        campaign: str,
        slot: int = 0,
        header: text.Header | None = None,
        window: int = 8,
        boots_dir: Path | None = None,
        start: bool = True,
    ) -> Session:
        """A fresh VM of `image` with its agent configured (unless `start=False`).

        Raises BootError (the guest never became ready), ConfigError (the
        driver did not load) or InfraError (libvirt or the agent failed);
        the VM is destroyed before any of them propagates.
        """
        inst = self.instance(image, campaign, slot, boots_dir)
        inst.boot()
        session = Session(inst, config, header or text.Header(), window)
        if start:
            try:
                session.start()
            except BaseException:
                session.close()
                raise
        return session

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> VmHost:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
