"""One libvirt host in use: the one owner of VM runs on it.

Every command that needs a guest (campaign workers, `rig run`, reproduction,
spec probing, benchmarks) asks a `VmHost` for a `Session`: a VM of an image,
booted, with its agent connected and configured and its console watched.
The host decides how the VM comes to be and names the VM's directory, owner
and limits from its `RunContext`, so no caller assembles that lifecycle.

How a VM comes to be, when the context allows snapshots:
- a snapshot of the image (same id, accelerator and domain shape) exists:
  restore it under a new identity (0.3-0.6 s instead of a 2 s boot);
- none yet: boot cold, save the guest right after its ready marker (once
  per image, whichever process gets the lock), and restore from that;
- a restore or a save fails: discard that snapshot, boot cold, and say so
  in the log once; a later VM may make a new one.
A restored VM is as fresh as a booted one: the snapshot was taken before
any host spoke to its agent and before any program ran.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from pathlib import Path
from types import TracebackType

from rig.config import CampaignTiming
from rig.context import RunContext
from rig.errors import GuestProtocolError, InfraError
from rig.fleet.backend import Backend
from rig.fleet.instance import Instance
from rig.fleet.owner import me, reap_orphans
from rig.fleet.snapshot import Snapshots, snapshot_key
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
        self.snapshots = Snapshots(ctx.home.snapshots)
        self._refused: set[str] = set()  # snapshot keys that failed in this process
        self._tokens: set[str] = set()
        self.restores = self.cold_boots = 0
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
        inst = self.vm(image, campaign, slot, boots_dir)
        session = Session(inst, config, header or text.Header(), window)
        if start:
            try:
                session.start()
            except (InfraError, GuestProtocolError) as e:
                session.close()
                if inst.snapshot_key is None:
                    raise
                # The restored guest is broken: retire its snapshot and boot cold.
                self._refuse(inst.snapshot_key, f"a VM restored from it did not answer ({e})")
                return self.session(
                    image, config, campaign=campaign, slot=slot, header=header,
                    window=window, boots_dir=boots_dir, start=start,
                )  # fmt: skip
            except BaseException:
                session.close()
                raise
        return session

    def vm(
        self, image: Image, campaign: str, slot: int = 0, boots_dir: Path | None = None
    ) -> Instance:
        """A running guest of `image`, restored from its snapshot where one is good, else booted."""
        if not self.ctx.snapshots or self.backend.remote:  # a remote host's files are not ours
            return self._cold(image, campaign, slot, boots_dir)
        key = self.snapshot_key(image)
        if key not in self._refused and self.snapshots.exists(key):
            restored = self._restore(key, image, campaign, slot, boots_dir)
            if restored is not None:
                return restored
        inst = self._cold(image, campaign, slot, boots_dir)
        if key in self._refused or self.snapshots.exists(key):
            return inst
        short = self._short_of_space(image)
        if short:
            self._refuse(key, short)
            return inst
        with self.snapshots.creating(key) as tmp:
            if tmp is None:
                return inst  # another process is saving this image right now
            try:
                inst.save_to(tmp)
                self.snapshots.publish(tmp, key, image.id)
            except (InfraError, OSError) as e:
                self._refuse(key, f"saving it failed ({e}); booting cold")
                return self._cold(image, campaign, slot, boots_dir)
        log.info("saved a snapshot of image %s after %s booted (%s)", image.id, inst.name, key)
        restored = self._restore(key, image, campaign, slot, boots_dir)
        return restored or self._cold(image, campaign, slot, boots_dir)

    def snapshot_key(self, image: Image) -> str:
        """The key of `image`'s snapshot as this host boots it (see `rig.fleet.snapshot`)."""
        probe = self.instance(image, "template")
        return snapshot_key(image.id, self.ctx.accel, probe.template_xml())

    def _short_of_space(self, image: Image) -> str:
        """A sentence if the home cannot hold a snapshot and a working copy with room to spare."""
        ram = int(image.manifest.get("ram_mib", 256)) * 1024 * 1024
        need = 2 * ram + CampaignTiming().min_free_bytes  # a save is at most the guest's RAM
        try:
            free = shutil.disk_usage(self.ctx.home.root).free
        except OSError:
            return ""
        if free >= need:
            return ""
        return (
            f"not making one: {free // 2**20} MiB free under {self.ctx.home.root}, "
            f"{need // 2**20} MiB wanted; booting cold"
        )

    def _token(self, slot: int) -> str:
        token = f"{socket.gethostname()}-{os.getpid()}-{slot}"
        self._tokens.add(token)
        return token

    def _restore(
        self, key: str, image: Image, campaign: str, slot: int, boots_dir: Path | None
    ) -> Instance | None:
        inst = self.instance(image, campaign, slot, boots_dir)
        try:
            inst.restore(self.snapshots.working(key, self._token(slot)))
            inst.snapshot_key = key
        except OSError as e:  # no room for a working copy: the snapshot itself is fine
            inst.destroy()
            if key not in self._refused:
                self._refused.add(key)
                log.warning("snapshot %s: cannot make a working copy (%s); booting cold", key, e)
            return None
        except InfraError as e:
            inst.destroy()
            self._refuse(key, f"restoring it failed ({e}); booting cold")
            return None
        self.restores += 1
        return inst

    def _cold(self, image: Image, campaign: str, slot: int, boots_dir: Path | None) -> Instance:
        inst = self.instance(image, campaign, slot, boots_dir)
        inst.boot()
        self.cold_boots += 1
        return inst

    def _refuse(self, key: str, why: str) -> None:
        """Say once why this process stops using a snapshot, and remove it for everyone."""
        if key not in self._refused:
            self._refused.add(key)
            log.warning("snapshot %s: %s", key, " ".join(why.split()))  # QEMU's errors span lines
            self.snapshots.discard(key, why)

    def close(self) -> None:
        for token in self._tokens:
            self.snapshots.drop_working(token)
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
