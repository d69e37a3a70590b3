"""Every path, limit and count the rig relies on, in one place.

The guest's limits are ordered so that the kernel's own detectors report a
problem before the rig gives up on a VM:

    call limit (5 s)
      < hung-task timeout (10 s; reported 10-20 s after a task blocks)
        and soft-lockup threshold (2 * watchdog_thresh = 10 s)
      < console quiet limit (45 s: twice the worst hung-task delay plus a margin)
      < boot limit (60 s)

`Limits.check()` enforces that order, so a change to one number that breaks
it is refused instead of silently turning hangs into "no output".
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rig.errors import ConfigError

READY_MARKER = "RIG-READY"
# The libvirt connection when neither --uri nor $RIG_LIBVIRT_URI names one.
DEFAULT_URI = "qemu:///system"
MODULE_FAILED_MARKER = "RIG-MODULE-FAILED"


@dataclass(frozen=True)
class Limits:
    """Time and size limits, in seconds and bytes."""

    call_s: float = 5.0
    hung_task_s: int = 10
    watchdog_thresh_s: int = 5
    quiet_s: float = 45.0
    boot_s: float = 60.0
    report_grace_s: float = 10.0
    # After an agent falls silent or a call times out, the console is watched
    # this much beyond the worst hung-task delay before "no output" is the verdict.
    settle_margin_s: float = 10.0
    # A WARNING can follow a program's results by a moment: after a run that
    # did not crash, wait this long for a report before calling it clean.
    report_wait_s: float = 20.0
    console_cap_bytes: int = 16 * 1024 * 1024
    # Connecting to the agent, its hello and its configuration, once the guest printed ready.
    agent_ready_s: float = 30.0
    # libvirt sends a domain's stop event only after QEMU is reaped: 1.1 s after the
    # console closed where PID 1 reaps lazily, 0.2 s under tini (measured); an ending
    # without a report waits at most this long for it.
    stop_event_s: float = 5.0
    # After a replayed candidate, the wait for the fence program's console marker.
    fence_s: float = 15.0
    # What a reproducer binary may take beyond its calls' limits (start, exec, exit).
    binary_slack_s: float = 20.0
    # A command typed into the guest's console shell; a spec probe's file listing.
    shell_s: float = 30.0
    listing_s: float = 120.0

    @property
    def hung_task_worst_s(self) -> float:
        # khungtaskd wakes every timeout seconds, so a task blocked just after
        # a check is reported almost two periods later.
        return 2.0 * self.hung_task_s

    @property
    def settle_s(self) -> float:
        """How long a silent guest is given to report before the rig says 'no output'."""
        return self.hung_task_worst_s + self.settle_margin_s

    @property
    def soft_lockup_s(self) -> float:
        return 2.0 * self.watchdog_thresh_s

    def check(self) -> None:
        detectors = max(self.hung_task_worst_s, self.soft_lockup_s)
        if not self.call_s < self.hung_task_s:
            raise ConfigError(
                f"call limit {self.call_s}s must be below hung-task {self.hung_task_s}s"
            )
        if not detectors < self.quiet_s:
            raise ConfigError(f"quiet limit {self.quiet_s}s must exceed detectors' {detectors}s")
        if not self.quiet_s < self.boot_s:
            raise ConfigError(
                f"quiet limit {self.quiet_s}s must be below boot limit {self.boot_s}s"
            )


@dataclass(frozen=True)
class HostLimits:
    """Limits on the host's own services, in seconds."""

    # A capability call answered from libvirt's cache takes milliseconds; one
    # that re-probes QEMU takes seconds (4-8 s here). One second separates
    # the two with room for a loaded machine.
    capability_call_s: float = 1.0
    # virtlogd and libvirtd create their sockets well within a second when
    # healthy; a daemon that takes longer than this is not coming up.
    daemon_start_s: float = 15.0


@dataclass(frozen=True)
class WorkerTiming:
    """How often a campaign worker reports, and how it retries a host that fails it."""

    # stats.json feeds the live progress line, refreshed twice a second.
    stats_every_s: float = 1.0
    # edges.bin is a sorted dump of every edge seen; rewriting it is not free.
    edges_every_s: float = 5.0
    # A boot, connection or agent that fails is retried after a pause that
    # doubles each time (1, 2, 4, 8 s...) up to the cap; this many failures
    # with no program run in between end the worker: the host is broken.
    # A libvirtd restart takes seconds, so a worker also waits at least
    # `infra_patience_s` from the first failure of a run before giving up.
    backoff_first_s: float = 1.0
    backoff_cap_s: float = 30.0
    max_infra_in_a_row: int = 5
    infra_patience_s: float = 120.0

    def backoff_s(self, failures: int) -> float:
        return float(min(self.backoff_cap_s, self.backoff_first_s * 2 ** max(0, failures - 1)))


@dataclass(frozen=True)
class CampaignTiming:
    """The campaign parent's rhythm, and what it calls a broken host."""

    # Progress is read from the workers' stats.json and shown once a second.
    tick_s: float = 1.0
    # timeseries.jsonl gets a row every few seconds: enough for plots, small on disk.
    series_every_s: float = 5.0
    # Workers finish their program, record any crash and destroy their VM;
    # a report still arriving takes up to the report grace, a hang the settle window.
    stop_grace_s: float = 90.0
    # A cold boot to ready takes about 2.1 s under TCG on the CI machine kind
    # (`rig bench boot`). Boots whose median is more than `slow_boot_factor`
    # times that are a host problem (libvirt re-probing QEMU, a starved
    # machine), and the campaign ends as an infrastructure failure.
    healthy_boot_s: float = 3.0
    slow_boot_factor: float = 5.0
    # Below this much free space on the home's filesystem the campaign stops
    # itself: its workers still need room to record a crash and their state,
    # and SQLite a journal, so it ends cleanly and can be resumed.
    min_free_bytes: int = 64 * 1024 * 1024
    # Every boot leaves boots/<domain>/ (console log, program log: about 75 KB
    # each when crashes are frequent, up to 64+8 MiB for a long-lived VM).
    # A crash record copies what it needs into the store, so only the newest
    # boots are kept for a person to look at; a crash-heavy campaign would
    # otherwise grow by one directory per crash.
    keep_boots: int = 64
    # Every program that enters the driver records PCs through rigcov within
    # its first seconds; a campaign that ran programs for a minute with 0 edges
    # is searching blind, and says so once.
    blind_after_s: float = 60.0


@dataclass(frozen=True)
class StoreLimits:
    """The crash store's patience with other writers, in seconds."""

    # Campaign workers, reproducers and `rig crashes` share one SQLite file;
    # a writer waits this long for the others' transactions (each is short).
    busy_timeout_s: float = 60.0
    # A half-written crash file this old belongs to no live writer and is removed.
    orphan_age_s: float = 3600.0


@dataclass(frozen=True)
class EngineLimits:
    """When an engine's own process is beyond saving."""

    # The atheris child is restarted when it dies; this many restarts within
    # the window mean it cannot run at all, and the worker fails.
    max_restarts: int = 20
    restart_window_s: float = 600.0
    # Without driver coverage libFuzzer has nothing to keep and mutates its few
    # inputs forever (one campaign sent 94% of its ioctls to one code); after
    # this many programs with no PC at all, atheris hands over to generation.
    blind_after_programs: int = 2000


@dataclass(frozen=True)
class GuestShape:
    """The virtual machine every image is booted in."""

    vcpus: int = 1
    ram_mib: int = 256
    machine: str = "pc"


def guest_cmdline(limits: Limits) -> str:
    """The kernel command line: crashes are loud and the detectors fire early.

    - console=ttyS0: the 8250 UART is built in, so output starts at once.
    - loglevel=6: prints WARNING (level 4) and NOTICE but not the INFO chatter
      that slows an emulated UART at boot.
    - oops=panic panic=-1: an oops ends the guest; libvirt's on_reboot=destroy
      turns the reboot into a vanished domain after the report is printed.
    - panic_on_warn=0: WARNING and SLUB reports let the guest run on; the rig
      destroys it itself after collecting the report.
    - softlockup_panic, hung_task_panic and the lowered timeouts make hangs
      end in a report well inside the rig's quiet limit.
    - slub_debug=FZP: consistency checks (double free), redzones and
      poisoning, since the Debian kernel has no KASAN. Not U: storing alloc
      and free stacks for every object doubles boot time under TCG (3.6 s
      against 1.8 s to ready, measured), and titles do not need them.
    - printk.devkmsg=on: the agent writes program markers to /dev/kmsg.
    """
    return " ".join(
        [
            "console=ttyS0,115200",
            "loglevel=6",
            "oops=panic",
            "panic=-1",
            "panic_on_warn=0",
            "softlockup_panic=1",
            "hung_task_panic=1",
            f"sysctl.kernel.hung_task_timeout_secs={limits.hung_task_s}",
            f"watchdog_thresh={limits.watchdog_thresh_s}",
            "slub_debug=FZP",
            "printk.devkmsg=on",
        ]
    )


def default_home() -> Path:
    env = os.environ.get("RIG_HOME")
    if env:
        return Path(env).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "rig"


def runtime_dir() -> Path:
    """Short directory for unix sockets (sun_path holds only 108 bytes)."""
    if os.geteuid() == 0:
        return Path("/run/rig")
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    return Path(xdg) / "rig" if xdg else Path(f"/tmp/rig-{os.geteuid()}")


@dataclass(frozen=True)
class Home:
    """The one directory under which the rig keeps all of its state."""

    root: Path = field(default_factory=default_home)

    @property
    def host_file(self) -> Path:
        return self.root / "host.json"

    @property
    def kernels(self) -> Path:
        return self.root / "cache" / "kernels"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def campaigns(self) -> Path:
        return self.root / "campaigns"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def crash_db(self) -> Path:
        return self.root / "crashes.db"

    def campaign(self, name: str) -> Path:
        return self.campaigns / name

    def ensure(self) -> Home:
        for d in (self.root, self.kernels, self.images, self.campaigns):
            d.mkdir(parents=True, exist_ok=True)
        return self
