"""A second libvirtd on this machine, reachable only as a remote one: for tests and `rig bench fleet`.

A campaign over two libvirt hosts needs two libvirtd instances, and CI has
one machine. The second one gets a private mount namespace in which its
own directories are bound over /run/libvirt, /var/lib/libvirt,
/var/cache/libvirt, /var/log/libvirt and /etc/libvirt, so its state,
sockets and QEMU processes never meet the first one's. It listens on
127.0.0.1 only, TCP without authentication, and is reached as
`qemu+tcp://127.0.0.1:PORT/system`: the rig treats that as a host it
shares no files with (images through its storage pool, consoles over the
connection), which is what a real remote host needs.

Like `rig host setup`'s libvirtd it runs under `tini -s` with /dev/kvm
masked under TCG (see rig/host/daemons.py). Its process is named
`rig-libvirtd2`, so nothing looking for the host's `libvirtd` finds it.
QEMU's stdio goes to files (no virtlogd in its namespace). Root only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from rig.errors import InfraError
from rig.host.accel import Accel
from rig.host.daemons import KVM, ensure_mask, need_binary

log = logging.getLogger(__name__)

NAME = "rig-libvirtd2"  # its process name (comm): not `libvirtd`
BOUND = {  # its own directory -> where it is bound in the namespace
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt",
    "log": "/var/log/libvirt",
    "etc": "/etc/libvirt",
}
CONF = """
listen_tls = 0
listen_tcp = 1
listen_addr = "127.0.0.1"
tcp_port = "{port}"
auth_tcp = "none"
"""


QEMU_CONF = '\nstdio_handler = "file"\n'


def _without(conf: str, ours: str) -> str:
    """`conf` without the lines that set a key `ours` sets."""
    keys = {line.split("=")[0].strip() for line in ours.splitlines() if "=" in line}
    return "".join(
        line for line in conf.splitlines(keepends=True) if line.split("=")[0].strip() not in keys
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ExtraLibvirtd:
    """Use as a context manager: started on entry, stopped (with its QEMUs) on exit."""

    root: Path
    accel: Accel = "tcg"
    port: int = field(default_factory=free_port)
    start_s: float = 30.0
    proc: subprocess.Popen[bytes] | None = None
    namespace: int | None = None  # inode of its mount namespace, once it listens

    @property
    def uri(self) -> str:
        return f"qemu+tcp://127.0.0.1:{self.port}/system"

    def start(self) -> ExtraLibvirtd:
        if os.geteuid() != 0:
            raise InfraError("a second libvirtd needs root (it binds its own /run/libvirt)")
        for d in BOUND:
            (self.root / d).mkdir(parents=True, exist_ok=True)
        etc, host = self.root / "etc", Path("/etc/libvirt")
        shutil.copytree(host, etc, dirs_exist_ok=True)  # fresh each start: the port changes
        # libvirt takes a key's first setting, so the host's own ones are dropped first.
        (etc / "libvirtd.conf").write_text(
            _without((host / "libvirtd.conf").read_text(), CONF) + CONF.format(port=self.port)
        )
        (etc / "qemu.conf").write_text(
            _without((host / "qemu.conf").read_text(), QEMU_CONF) + QEMU_CONF
        )
        binary = self.root / NAME
        binary.unlink(missing_ok=True)
        binary.symlink_to(need_binary("libvirtd"))
        q = shlex.quote
        binds = [f"mount --bind {q(str(self.root / d))} {target}" for d, target in BOUND.items()]
        if self.accel == "tcg" and KVM.exists():
            mask = self.root / "kvm-mask"
            ensure_mask(mask)
            binds.append(f"mount --bind {q(str(mask))} {KVM}")
        tini = q(need_binary("tini"))
        script = " && ".join(
            [*binds, f"exec {tini} -s -- {q(str(binary))} --listen --pid-file /run/libvirt/x.pid"]
        )
        with (self.root / "daemon.log").open("ab") as out:
            self.proc = subprocess.Popen(
                ["unshare", "-m", "--propagation", "slave", "sh", "-c", script],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        try:
            self._wait_listening()
            # Its namespace, recorded once: after a kill() tini is gone, but the QEMUs
            # it left are still in there for stop() to find.
            ns = os.stat(f"/proc/{self.proc.pid}/ns/mnt").st_ino
            if ns == os.stat("/proc/self/ns/mnt").st_ino:
                raise InfraError("the second libvirtd is not in a mount namespace of its own")
            self.namespace = ns
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_listening(self) -> None:
        end = time.monotonic() + self.start_s
        while time.monotonic() < end:
            assert self.proc is not None
            if self.proc.poll() is not None:
                tail = (self.root / "daemon.log").read_text(errors="replace")[-400:]
                raise InfraError(f"the second libvirtd exited with {self.proc.returncode}: {tail}")
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise InfraError(
            f"the second libvirtd did not listen on port {self.port} in {self.start_s}s"
        )

    def namespace_pids(self) -> list[int]:
        """Processes in the daemon's mount namespace: it, tini, and its QEMUs."""
        ns = self.namespace
        if ns is None:
            return []
        out = []
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.stat(p / "ns" / "mnt").st_ino == ns:
                        out.append(int(p.name))
        return out

    def kill(self) -> None:
        """Kill the daemon only, as a crash would: its QEMUs live on, its connections drop."""
        pid = self.daemon_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)

    def daemon_pid(self) -> int | None:
        for pid in self.namespace_pids():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == NAME:
                    return pid
        return None

    def stop(self) -> None:
        """Stop the daemon (tini reaps it), then anything left in its namespace (its QEMUs)."""
        if self.proc is None:
            return
        if self.namespace is None:  # it never got its namespace: only our child to end
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
            self.proc = None
            return
        leftover = self.namespace_pids()
        daemon = self.daemon_pid()
        if daemon is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(daemon, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        for pid in leftover:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self.proc = None
        self.namespace = None

    def __enter__(self) -> ExtraLibvirtd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
