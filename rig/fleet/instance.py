"""One VM's lifecycle: boot paused, attach the console, resume, wait ready, watch, destroy."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType

from rig.config import Limits, runtime_dir
from rig.console.watcher import ConsoleWatcher, Ending, Outcome
from rig.deadline import Deadline
from rig.errors import BootError, ConfigError
from rig.fleet.backend import Backend
from rig.fleet.domain_xml import InstanceSpec, Owner, render
from rig.fleet.snapshot import Identity, stamp
from rig.image.build import Image

log = logging.getLogger(__name__)
UPTIME = re.compile(r"uptime=([0-9.]+)")


@dataclass
class BootTiming:
    """Where a boot's time went, stage by stage, in seconds.

    `ready_s` and `first_byte_s` count from resuming the paused domain;
    `kernel_s` is the guest's own uptime at its ready marker, so what lies
    between the two was spent before the kernel ran (firmware, loading).
    """

    define_s: float = 0.0
    attach_s: float = 0.0
    start_s: float = 0.0
    first_byte_s: float | None = None
    ready_s: float = 0.0
    kernel_s: float | None = None
    restored: bool = False

    @property
    def create_s(self) -> float:
        return self.define_s + self.attach_s

    @property
    def total_s(self) -> float:
        return self.create_s + self.ready_s

    @property
    def before_kernel_s(self) -> float | None:
        return None if self.kernel_s is None else max(0.0, self.ready_s - self.kernel_s)

    def stages(self) -> dict[str, float | None]:
        first = self.first_byte_s
        return {
            "restore domain" if self.restored else "define domain": self.define_s,
            "attach console": self.attach_s,
            "start": self.start_s,
            "first console byte": first,
            "ready marker": None if first is None else max(0.0, self.ready_s - first),
        }

    def slowest(self) -> tuple[str, float]:
        measured = [(k, v) for k, v in self.stages().items() if v is not None]
        return max(measured, key=lambda kv: kv[1])

    def describe(self) -> str:
        parts = [f"{k} {'never' if v is None else f'{v:.2f}s'}" for k, v in self.stages().items()]
        name, seconds = self.slowest()
        return f"{', '.join(parts)}; slowest: {name} ({seconds:.2f}s)"


@dataclass
class Instance:
    """A booted guest. Use as a context manager so it is destroyed however the block ends."""

    backend: Backend
    image: Image
    boots_dir: Path
    owner: Owner
    limits: Limits = field(default_factory=Limits)
    accel: str = "tcg"
    slot: int = 0
    name: str = ""
    dir: Path = field(default_factory=Path)
    watcher: ConsoleWatcher | None = None
    timing: BootTiming = field(default_factory=BootTiming)
    destroyed: bool = False
    snapshot_key: str | None = None  # set when this guest was restored from a snapshot
    epoch: int = 0  # the backend's connection epoch when its console was opened

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"

    @property
    def agent_socket(self) -> Path:
        return runtime_dir() / f"{self.name}.sock"

    def spec(self) -> InstanceSpec:
        m = self.image.manifest
        placed = self.backend.place(
            {
                "kernel": (self.image.vmlinux, str(m["sha256"]["vmlinux"])),
                "initrd": (self.image.initramfs, str(m["sha256"]["initramfs.cpio"])),
            }
        )
        return InstanceSpec(
            name=self.name,
            kernel=placed["kernel"],
            initrd=placed["initrd"],
            cmdline=self.image.cmdline,
            console_log=self.console_log,
            agent_socket=self.agent_socket,
            owner=self.owner,
            accel=self.accel,
            vcpus=int(m["vcpus"]),
            ram_mib=int(m["ram_mib"]),
            machine=str(m["machine"]),
            uid=os.geteuid(),
            gid=os.getegid(),
            local=not self.backend.remote,
        )

    def _name_new(self) -> None:
        self.name = f"rig-{self.owner.campaign[:24]}-{self.slot}-{secrets.token_hex(3)}"
        self.dir = self.boots_dir / self.name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.agent_socket.parent.mkdir(parents=True, exist_ok=True)

    def boot(self) -> Outcome:
        """Start the guest and wait for its ready marker; raises BootError if it never comes."""
        if self.accel != self.image.manifest.get("accel", self.accel):
            log.debug(
                "image built for %s, booting with %s", self.image.manifest["accel"], self.accel
            )
        self._name_new()
        deadline = Deadline(self.limits.boot_s)
        self.timing = BootTiming()
        t2 = self._start(lambda: self.backend.start_paused(render(self.spec())))
        try:
            assert self.watcher is not None
            outcome = self.watcher.wait_ready(deadline)
        except BaseException:
            self.destroy()
            raise
        self.timing.ready_s = time.monotonic() - t2
        if self.watcher.first_byte_at is not None:
            self.timing.first_byte_s = max(0.0, self.watcher.first_byte_at - t2)
        if outcome.ending is Ending.READY:
            m = UPTIME.search(outcome.first_line)
            self.timing.kernel_s = float(m.group(1)) if m else None
            log.info("%s ready in %.2fs", self.name, self.timing.ready_s)
            return outcome
        tail = self.console_tail()
        self.destroy()
        if outcome.ending is Ending.MODULE_FAILED:
            reason = _module_failure(tail, self.image.module) or outcome.first_line
            raise ConfigError(f"driver {self.image.module} failed to load in the guest: {reason}")
        raise BootError(
            f"{self.name} did not boot: {outcome.ending.value} {outcome.detail} "
            f"({self.timing.describe()})",
            tail,
        )

    def restore(self, working: Path) -> None:
        """Start this instance from a snapshot's working copy instead of booting it.

        The copy is stamped with this instance's name, UUID, console log,
        agent socket and owner first (see `rig.fleet.snapshot`). The guest
        runs on from the instant after its ready marker, so there is no
        marker to wait for: the session's agent handshake is the proof.
        """
        self._name_new()
        self.timing = BootTiming(restored=True)
        stamp(
            working,
            Identity(self.name, str(uuid.uuid4()), self.console_log, self.agent_socket, self.owner),
        )
        self._start(lambda: self.backend.restore_paused(working))
        self.timing.ready_s = self.timing.start_s
        log.info("%s restored in %.2fs", self.name, self.timing.total_s)

    def _start(self, create: Callable[[], object]) -> float:
        """Create the domain paused, attach the console, resume it; when it was resumed.

        Paused first, so the watcher reads the console from the guest's first byte.
        """
        t0 = time.monotonic()
        create()
        try:
            t1 = time.monotonic()
            self.timing.define_s = t1 - t0
            self.epoch = self.backend.epoch
            fd = self.backend.open_console(self.name, self.console_log)
            self.watcher = ConsoleWatcher(fd, self.limits, self.console_log)
            t2 = time.monotonic()
            self.timing.attach_s = t2 - t1
            self.backend.resume(self.name)
            self.timing.start_s = time.monotonic() - t2
        except BaseException:
            self.destroy()
            raise
        return t2

    def open_agent(self, deadline: Deadline) -> socket.socket:
        """A socket connected to this guest's agent, however its host carries the channel."""
        return self.backend.open_agent(self.name, self.agent_socket, deadline)

    def save_to(self, path: Path) -> None:
        """Save this booted guest's state to `path`; the domain stops and this instance is done."""
        try:
            self.backend.save(self.name, path)
        finally:
            self.destroy()  # stopped by the save; a failed save must not leave it running

    def template_xml(self) -> str:
        """The domain XML of this image's boots with a placeholder identity: a snapshot's shape."""
        spec = replace(
            self.spec(),
            name="rig-template",
            console_log=Path("/template/console.log"),
            agent_socket=Path("/template/agent.sock"),
            owner=Owner("template", 0, 0, "template"),
        )
        return render(spec)

    def watch(self, deadline: Deadline) -> Outcome:
        """Watch the console until something happens or the deadline passes.

        A console that closes without a report is asked about: if libvirt
        says someone destroyed the domain and the rig did not, the VM was
        lost to the host (LOST_VM), which is no crash of the driver.
        """
        if self.watcher is None:
            raise BootError(f"{self.name} was not booted")
        outcome = self.watcher.watch(deadline)
        if outcome.ending in (Ending.GONE, Ending.NO_OUTPUT) and not self.destroyed:
            lost = self.host_lost(outcome.last_program)
            if lost is not None:
                return lost
        if outcome.ending is Ending.GONE and not self.destroyed:
            why = self.backend.stop_reason(self.name, wait_s=self.limits.stop_event_s)
            if why == "destroyed" and not self.destroyed:
                return Outcome(
                    Ending.LOST_VM,
                    last_program=outcome.last_program,
                    detail="destroyed by someone other than the rig (libvirt: destroyed)",
                )
            if why is not None:
                outcome.detail = f"libvirt: {why}; {outcome.detail}".strip("; ")
        return outcome

    def host_lost(self, last_program: int | None) -> Outcome | None:
        """LOST_VM if this guest's host is remote and its libvirtd no longer answers.

        A remote console and agent channel are streams on the connection: they
        end, or fall silent, with libvirtd or the network while the guest may
        live on. That is the host's failure, never a crash of the driver.
        """
        if not self.backend.remote:
            return None
        # Asked after the fact, a reconnect may already have succeeded: the epoch says
        # whether the connection our streams were on was lost meanwhile.
        if self.backend.epoch == self.epoch and self.backend.reachable():
            return None
        return Outcome(
            Ending.LOST_VM,
            last_program=last_program,
            detail=f"lost the connection to {self.backend.uri}",
        )

    def console_text(self) -> str:
        return self.watcher.transcript.text() if self.watcher else ""

    def console_tail(self, lines: int = 30) -> str:
        return "\n".join(self.console_text().splitlines()[-lines:])

    def destroy(self) -> None:
        if self.destroyed or not self.name:
            return
        self.destroyed = True
        self.backend.destroy(self.name)
        if self.watcher is not None:
            self.watcher.close()
        with contextlib.suppress(OSError):
            self.agent_socket.unlink()

    def __enter__(self) -> Instance:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.destroy()


def _module_failure(console: str, module: str) -> str | None:
    """The kernel's own words on why the driver did not load, and insmod's."""
    noise = ("taints kernel", "module verification failed")
    kernel = insmod = None
    for line in console.splitlines():
        if "insmod:" in line:
            insmod = line.strip()
        elif f"{module}: " in line and not any(n in line for n in noise):
            kernel = re.sub(r"^\[[ 0-9.]+\]\s*", "", line.strip())
    if kernel and insmod:
        return f"{kernel} ({insmod})"
    return kernel or insmod
