"""Start virtlogd and libvirtd where no init system manages them, and prove libvirt is fast.

The trap (shared/notes/host-facts.md): libvirt caches what each QEMU binary
can do and throws the cache away whenever two views of /dev/kvm disagree.
One view is the capability probe itself: a QEMU process that runs as
libvirt-qemu but keeps CAP_DAC_OVERRIDE, so it opens any node it finds at
/dev/kvm whatever the mode. The other is libvirt's own check, an access()
as libvirt-qemu without that capability. If the probe could open /dev/kvm
and the check says it cannot (or the other way round), every capability
call re-probes every QEMU binary: 4-8 s each here, and domain creation
over a minute, so boots miss their deadlines.

Under TCG we therefore start libvirtd in a private mount namespace where
/dev/kvm is a root-only node of character device 0:0. Major 0 is never
given to a driver (register_chrdev(0, ...) means "pick a major for me"),
so opening the node fails with ENXIO for everyone, root and the probe
included, and access() as libvirt-qemu fails on the mode: both views say
"no KVM", which is also our own verdict. The other consistent choice, a
0666 node of the real device, was measured too (capabilities 0.001 s once
probed) but tells libvirt that a KVM we know hangs guests works, and its
first probe takes twice as long (7.8 s against 3.9 s).

The namespace is a slave of the host's mounts, so a disk or tmpfs mounted
later (a home on its own filesystem) is visible to QEMU too; that needs the
host's root mount tree to be shared, as systemd makes it by default. With
a private namespace QEMU cannot open images under such a mount at all.

libvirtd runs in the foreground under `tini -s`, a child subreaper. libvirt
daemonizes QEMU, so a QEMU that exits is reparented and must be reaped by
the nearest subreaper, or by PID 1; and libvirt's destroy waits until the
process is gone, zombie included. Where PID 1 reaps lazily (this machine
kind's init did so about once a second) every destroy took 1.2-1.4 s of a
0.01 s QEMU exit; under tini it takes 0.21 s (libvirt's 200 ms poll).

`capability_check` is the proof: two consecutive capability calls, the
second of which must be fast. `rig host setup` ends with it (and repairs
once), `rig doctor` fails on it.
"""

from __future__ import annotations

import enum
import importlib.util
import logging
import os
import shutil
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from rig.config import HostLimits
from rig.errors import InfraError
from rig.host.accel import Accel

log = logging.getLogger(__name__)

KVM = Path("/dev/kvm")
MASK_RDEV = os.makedev(0, 0)
SOCKET = Path("/var/run/libvirt/libvirt-sock")


class KvmView(enum.Enum):
    """What a libvirtd process finds at /dev/kvm."""

    HOST = "the host's /dev/kvm"
    MASKED = "the rig's unopenable mask"
    OTHER = "a node that is neither the host's nor the rig's mask"
    ABSENT = "no /dev/kvm"


def systemd_running() -> bool:
    return Path("/run/systemd/system").is_dir()


def running(name: str) -> int | None:
    """Pid of a process whose command name is `name`, if any."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() == name:
                return int(proc.name)
        except OSError:
            continue
    return None


def classify_view(theirs: os.stat_result | None, host: os.stat_result | None) -> KvmView:
    """Pure: name a process's /dev/kvm from its stat and the host's."""
    if theirs is None:
        return KvmView.ABSENT
    if host is not None and (theirs.st_ino, theirs.st_dev) == (host.st_ino, host.st_dev):
        return KvmView.HOST
    if (
        stat.S_ISCHR(theirs.st_mode)
        and theirs.st_rdev == MASK_RDEV
        and stat.S_IMODE(theirs.st_mode) & 0o077 == 0
    ):
        return KvmView.MASKED
    return KvmView.OTHER


def _stat(path: str | Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def view_of(pid: int) -> KvmView:
    return classify_view(_stat(f"/proc/{pid}/root/dev/kvm"), _stat(KVM))


def wanted_views(accel: Accel) -> tuple[KvmView, ...]:
    """The /dev/kvm views under which libvirt's two checks agree with our verdict."""
    if accel == "kvm":
        return (KvmView.HOST,)
    return (KvmView.MASKED, KvmView.ABSENT)


def need_binary(binary: str) -> str:
    path = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    if not path:
        raise InfraError(f"{binary} not found: run `rig host setup`")
    return path


def _wait_socket(path: Path, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if path.exists():
            return
        time.sleep(0.05)
    raise InfraError(f"{path} did not appear within {seconds:.0f}s")


def ensure_mask(mask: Path) -> None:
    """A root-only character node 0:0 at `mask`; anything else there is replaced.

    A regular file breaks libvirt's per-domain /dev; a node of the real
    device brings the re-probe back (see the module docstring).
    """
    try:
        st = mask.lstat()
        if (
            stat.S_ISCHR(st.st_mode)
            and st.st_rdev == MASK_RDEV
            and stat.S_IMODE(st.st_mode) == 0o600
        ):
            return
        mask.unlink()
    except FileNotFoundError:
        pass
    os.mknod(mask, 0o600 | stat.S_IFCHR, MASK_RDEV)
    os.chmod(mask, 0o600)  # mknod honours the umask


def mask_script(mask: Path, libvirtd: str) -> str:
    """The shell line that masks /dev/kvm in the new namespace, then becomes libvirtd."""
    return f"mount --bind {mask} {KVM} && exec {libvirtd}"


def reaped_promptly(pid: int) -> bool:
    """Will the orphans of process `pid` (libvirtd's QEMUs) be reaped at once?

    Yes under a subreaper we started (tini), or where PID 1 is systemd.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        parent = Path(f"/proc/{ppid}/comm").read_text().strip()
        init = Path("/proc/1/comm").read_text().strip()
    except (OSError, ValueError, IndexError):
        return True  # cannot tell: leave it be
    return parent == "tini" or init == "systemd"


def _root_mount_fields(mountinfo: str) -> list[str]:
    """The optional fields (shared:N, master:N...) of the mount at / in a mountinfo text."""
    for line in mountinfo.splitlines():
        parts = line.split()
        if len(parts) > 6 and parts[4] == "/":
            return parts[6 : parts.index("-")] if "-" in parts else []
    return []


def receives_mounts(mountinfo: str) -> bool:
    """Pure: does the namespace of this mountinfo see mounts made later on the host?"""
    return any(f.startswith(("shared:", "master:")) for f in _root_mount_fields(mountinfo))


def ensure_shared_root() -> bool:
    """Make the host's mount tree shared (systemd's default) so slave namespaces get new mounts.

    Returns True if it had to change it.
    """
    if any(
        f.startswith("shared:")
        for f in _root_mount_fields(Path("/proc/self/mountinfo").read_text())
    ):
        return False
    subprocess.run(["mount", "--make-rshared", "/"], check=True, capture_output=True)
    return True


def cut_off(pid: int) -> bool:
    """True if libvirtd runs in a mount namespace that new host mounts do not reach."""
    try:
        if os.stat(f"/proc/{pid}/ns/mnt").st_ino == os.stat("/proc/self/ns/mnt").st_ino:
            return False  # our own namespace: it sees what we see
        return not receives_mounts(Path(f"/proc/{pid}/mountinfo").read_text())
    except OSError:
        return False


def start_libvirtd(accel: Accel, runtime: Path, limits: HostLimits) -> str:
    """Start libvirtd under tini (masked under TCG); returns a sentence for the user."""
    libvirtd = f"{need_binary('tini')} -s -- {need_binary('libvirtd')}"
    for d in ("/var/log/libvirt", "/var/run/libvirt", "/var/lib/libvirt"):
        Path(d).mkdir(parents=True, exist_ok=True)
    if accel == "tcg" and KVM.exists():
        runtime.mkdir(parents=True, exist_ok=True)
        mask = runtime / "kvm-mask"
        ensure_mask(mask)
        shared = " (made the host's mounts shared)" if ensure_shared_root() else ""
        argv = ["unshare", "-m", "--propagation", "slave", "sh", "-c", mask_script(mask, libvirtd)]
        how = f"started libvirtd with /dev/kvm masked (TCG){shared}"
    else:
        argv = libvirtd.split()
        how = "started libvirtd"
    SOCKET.unlink(missing_ok=True)  # a stale socket would pass the wait below
    # In the foreground under tini, in a session of its own: it outlives this process.
    with Path("/var/log/libvirt/rig-libvirtd.log").open("ab") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
    try:
        _wait_socket(SOCKET, limits.daemon_start_s)
    except InfraError as e:
        if proc.poll() is not None:
            tail = Path("/var/log/libvirt/rig-libvirtd.log").read_text(errors="replace")[-300:]
            raise InfraError(f"libvirtd exited with {proc.returncode}: {tail.strip()}") from e
        raise
    return how


def ensure(accel: Accel, runtime: Path, limits: HostLimits) -> list[str]:
    """Make virtlogd and libvirtd run with a consistent view of /dev/kvm; idempotent.

    A libvirtd that sees /dev/kvm differently from what `accel` needs
    (started by hand, or by an older rig with another mask) is restarted.
    Returns what was done, as sentences.
    """
    done: list[str] = []
    if systemd_running():
        for unit in ("virtlogd", "libvirtd"):
            subprocess.run(["systemctl", "start", unit], check=False, capture_output=True)
        return ["asked systemd to start virtlogd and libvirtd"]
    if os.geteuid() != 0:
        if running("libvirtd") is None:
            raise InfraError(
                "libvirtd is not running and only root can start it: run `rig host setup` as root"
            )
        return done
    if running("virtlogd") is None:
        Path("/var/log/libvirt").mkdir(parents=True, exist_ok=True)
        subprocess.run([need_binary("virtlogd"), "-d"], check=True, capture_output=True)
        _wait_socket(Path("/var/run/libvirt/virtlogd-sock"), limits.daemon_start_s)
        done.append("started virtlogd")
    pid = running("libvirtd")
    if pid is not None:
        view = view_of(pid)
        if view not in wanted_views(accel):
            stop_libvirtd(limits)
            done.append(f"stopped libvirtd (pid {pid}): it saw {view.value} under {accel}")
            pid = None
        elif cut_off(pid):
            stop_libvirtd(limits)
            done.append(f"stopped libvirtd (pid {pid}): its mount namespace misses new mounts")
            pid = None
        elif not reaped_promptly(pid):
            stop_libvirtd(limits)
            done.append(f"stopped libvirtd (pid {pid}): its QEMUs would be reaped late")
            pid = None
    if pid is None:
        done.append(start_libvirtd(accel, runtime, limits))
    return done


def stop_libvirtd(limits: HostLimits) -> None:
    pid = running("libvirtd")
    if pid is None:
        return
    os.kill(pid, 15)
    end = time.monotonic() + limits.daemon_start_s
    while time.monotonic() < end and running("libvirtd") is not None:
        time.sleep(0.1)
    if running("libvirtd") is not None:
        raise InfraError(f"libvirtd (pid {pid}) did not stop within {limits.daemon_start_s:.0f}s")


@dataclass(frozen=True)
class CapabilityCheck:
    """Seconds of consecutive capability calls; only the last one decides."""

    seconds: tuple[float, ...]
    limit_s: float
    how: str

    @property
    def last_s(self) -> float:
        return self.seconds[-1]

    @property
    def ok(self) -> bool:
        return self.last_s < self.limit_s

    def describe(self) -> str:
        calls = ", ".join(f"{s:.2f}s" for s in self.seconds)
        return f"capability calls took {calls} ({self.how}; the last must be < {self.limit_s:g}s)"


def capability_check(uri: str, limits: HostLimits, calls: int = 2) -> CapabilityCheck:
    """Time consecutive capability calls; the first may re-probe QEMU once, later ones must not.

    Through libvirt-python when it is installed; before that (the host set-up
    runs before the rig's Python dependencies are built) through virsh,
    which makes the same API call.
    """
    if importlib.util.find_spec("libvirt") is not None:
        from rig.fleet.libvirt_backend import LibvirtBackend

        backend = LibvirtBackend(uri)
        try:
            seconds = tuple(backend.capabilities_s() for _ in range(calls))
        finally:
            backend.close()
        return CapabilityCheck(seconds, limits.capability_call_s, "libvirt API")
    virsh = need_binary("virsh")
    out = []
    for _ in range(calls):
        t0 = time.monotonic()
        proc = subprocess.run(
            [virsh, "-c", uri, "capabilities"], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise InfraError(f"cannot reach libvirtd at {uri}: {proc.stderr.strip()}")
        out.append(time.monotonic() - t0)
    return CapabilityCheck(tuple(out), limits.capability_call_s, "virsh capabilities")


def slow_libvirt_error(check: CapabilityCheck, accel: Accel) -> InfraError:
    """The one line a user gets when libvirt stays slow after the repair."""
    pid = running("libvirtd")
    view = view_of(pid).value if pid is not None else "no libvirtd process found"
    return InfraError(
        f"libvirt is re-probing QEMU on every call: {check.describe()}, after restarting "
        f"libvirtd once; libvirtd sees {view} (accel {accel}). Cause: libvirt's two views of "
        f"/dev/kvm disagree. Fix: stop every other libvirtd (`pkill -x libvirtd`), then "
        f"`rig host setup`; check with `virsh capabilities` twice (the second < "
        f"{check.limit_s:g}s)"
    )
