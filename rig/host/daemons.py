"""Start virtlogd and libvirtd where no init system manages them.

Trap (shared/notes/host-facts.md): when libvirt finds a /dev/kvm that its
QEMU user can open but QEMU cannot use, it decides on every call that its
cached QEMU capabilities are stale and re-probes every QEMU binary (tens of
seconds each time). Under TCG we start libvirtd in a private mount
namespace where /dev/kvm is replaced by a root-only device node: libvirt
then sees KVM as unusable, consistently, and keeps its capability cache.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

from rig.errors import InfraError
from rig.host.accel import Accel

log = logging.getLogger(__name__)

KVM = Path("/dev/kvm")


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


def kvm_masked_for(pid: int) -> bool:
    """True when `pid` sees a /dev/kvm that is not the host's node (our mask)."""
    try:
        theirs = os.stat(f"/proc/{pid}/root/dev/kvm")
        ours = KVM.stat()
    except OSError:
        return True
    return (theirs.st_ino, theirs.st_dev) != (ours.st_ino, ours.st_dev)


def _need(binary: str) -> str:
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
    """A root-only character node for /dev/kvm's device: libvirt's QEMU user cannot open it.

    Anything else at that path is replaced: a regular file breaks libvirt's
    per-domain /dev, and a node its QEMU user can open brings the re-probe back.
    """
    want = KVM.stat().st_rdev
    try:
        st = mask.lstat()
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == want and stat.S_IMODE(st.st_mode) == 0o600:
            return
        mask.unlink()
    except FileNotFoundError:
        pass
    os.mknod(mask, 0o600 | stat.S_IFCHR, want)
    os.chmod(mask, 0o600)  # mknod honours the umask


def mask_script(mask: Path, libvirtd: str) -> str:
    return f"mount --bind {mask} {KVM} && exec {libvirtd} -d"


def start_libvirtd(accel: Accel, runtime: Path) -> str:
    """Start libvirtd (masked under TCG); returns a sentence for the user."""
    libvirtd = _need("libvirtd")
    for d in ("/var/log/libvirt", "/var/run/libvirt", "/var/lib/libvirt"):
        Path(d).mkdir(parents=True, exist_ok=True)
    if accel == "tcg" and KVM.exists():
        runtime.mkdir(parents=True, exist_ok=True)
        mask = runtime / "kvm-mask"
        ensure_mask(mask)
        argv = [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            mask_script(mask, libvirtd),
        ]
        how = "started libvirtd with /dev/kvm masked (TCG)"
    else:
        argv = [libvirtd, "-d"]
        how = "started libvirtd"
    subprocess.run(argv, check=True, capture_output=True)
    _wait_socket(Path("/var/run/libvirt/libvirt-sock"), 15)
    return how


def ensure(accel: Accel, runtime: Path) -> list[str]:
    """Make virtlogd and libvirtd run; idempotent. Returns what was done."""
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
        subprocess.run([_need("virtlogd"), "-d"], check=True, capture_output=True)
        _wait_socket(Path("/var/run/libvirt/virtlogd-sock"), 15)
        done.append("started virtlogd")
    pid = running("libvirtd")
    if pid is not None and accel == "tcg" and not kvm_masked_for(pid):
        log.warning(
            "libvirtd (pid %d) sees /dev/kvm; restart it with `rig host setup --restart` "
            "if libvirt calls take tens of seconds",
            pid,
        )
    if pid is None:
        done.append(start_libvirtd(accel, runtime))
    return done


def stop_libvirtd() -> None:
    pid = running("libvirtd")
    if pid is None:
        return
    os.kill(pid, 15)
    end = time.monotonic() + 15
    while time.monotonic() < end and running("libvirtd") is not None:
        time.sleep(0.1)
