"""Fakes for unit tests: a backend whose 'domains' are ptys fed by a script, with a real agent.

A fake domain is a pty (its serial console) whose script is played after
resume, and, when the backend is given the natively built guest agent, that
agent serving the domain's channel socket as QEMU would: it runs programs
on the host (whose allowlisted paths do not exist there, so calls fail
harmlessly) and its /dev/kmsg markers are relayed to the console, so
sessions, instances and the VM host can be tested end to end without a VM.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

from rig.config import Home
from rig.deadline import Deadline
from rig.errors import InfraError
from rig.fleet.backend import DomainInfo
from rig.fleet.domain_xml import Owner, parse_owner
from rig.guest.channel import connect_unix
from rig.image.build import Image, verify

LOST = "lost"  # a script step: someone destroys the domain behind the rig's back
Step = bytes | float | str | None  # bytes: write them; float: sleep; None: the guest ends


@dataclass
class FakeDomain:
    name: str
    owner: Owner | None
    master: int
    slave_path: str
    script: list[Step]
    agent_socket: str | None = None
    active: bool = True
    stopped_by: str | None = None  # as libvirt's lifecycle event would say
    resumed: threading.Event = field(default_factory=threading.Event)
    agent: subprocess.Popen[bytes] | None = None
    listener: socket.socket | None = None


class FakeBackend:
    """Each created domain gets a pty; after resume, a thread plays its script into it."""

    def __init__(
        self,
        scripts: list[list[Step]],
        agent: Path | None = None,
        fail_start: Exception | None = None,
    ) -> None:
        self.scripts = list(scripts)
        self.agent = agent
        self.fail_start = fail_start  # raised by start_paused, e.g. libvirtd being gone
        self.doms: dict[str, FakeDomain] = {}
        self.lock = threading.Lock()
        self.started = 0

    def start_paused(self, xml: str) -> str:
        self.started += 1
        if self.fail_start is not None:
            raise self.fail_start
        name = re.search(r"<name>([^<]+)</name>", xml)
        owner_xml = re.search(r"<rig:owner.*?</rig:owner>", xml, re.S)
        sock = re.search(r"<source mode=\"bind\" path=\"([^\"]+)\"", xml)
        assert name
        master, slave = os.openpty()
        tty.setraw(slave)  # QEMU puts its console pty in raw mode too
        with self.lock:
            script = self.scripts.pop(0) if self.scripts else []
            dom = FakeDomain(
                name.group(1),
                parse_owner(owner_xml.group(0)) if owner_xml else None,
                master,
                os.ttyname(slave),
                script,
                sock.group(1) if sock else None,
            )
            self.doms[dom.name] = dom
        os.close(slave)
        if self.agent is not None and dom.agent_socket:
            dom.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(dom.agent_socket)
            dom.listener.bind(dom.agent_socket)
            dom.listener.listen(1)
            threading.Thread(target=self._serve_agent, args=(dom,), daemon=True).start()
        threading.Thread(target=self._play, args=(dom,), daemon=True).start()
        return dom.name

    def _serve_agent(self, dom: FakeDomain) -> None:
        """QEMU's side of the channel: the agent gets the connection the host makes."""
        assert dom.listener is not None and self.agent is not None
        try:
            conn, _ = dom.listener.accept()
        except OSError:
            return
        kmsg = Path(tempfile.mkstemp(prefix="fake-kmsg-")[1])
        dom.agent = subprocess.Popen(
            [str(self.agent), "-f", str(conn.fileno()), "-k", str(kmsg)], pass_fds=[conn.fileno()]
        )
        conn.close()
        with kmsg.open("rb") as f:  # the guest's kmsg goes to its console
            while dom.active:
                line = f.readline()
                if not line:
                    time.sleep(0.01)
                    continue
                with contextlib.suppress(OSError):
                    os.write(dom.master, b"[    1.000000] " + line.rstrip(b"\n") + b"\r\n")
        kmsg.unlink(missing_ok=True)

    def _play(self, dom: FakeDomain) -> None:
        dom.resumed.wait(10)
        for step in dom.script:
            if not dom.active:
                return
            if step is None:
                self._stop(dom.name, "shutdown")  # the guest reset or powered off
                return
            if step == LOST:
                self._stop(dom.name, "destroyed")  # not through the rig: someone else
                return
            if isinstance(step, float):
                time.sleep(step)
            elif isinstance(step, bytes):
                os.write(dom.master, step)

    remote = False
    uri = "fake:///"
    epoch = 0

    def place(self, files: dict[str, tuple[Path, str]]) -> dict[str, str]:
        return {role: str(path) for role, (path, _) in files.items()}

    def reachable(self) -> bool:
        return self.fail_start is None

    def open_console(self, name: str, log_file: Path) -> int:
        return os.open(self.doms[name].slave_path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)

    def open_agent(self, name: str, path: Path, deadline: Deadline) -> socket.socket:
        return connect_unix(path, deadline)

    def resume(self, name: str) -> None:
        self.doms[name].resumed.set()

    def suspend(self, name: str) -> None:
        pass

    def save(self, name: str, path: Path) -> None:
        raise InfraError("the fake backend cannot save domains")

    def restore_paused(self, path: Path) -> None:
        raise InfraError("the fake backend cannot restore domains")

    def destroy(self, name: str) -> bool:
        return self._stop(name, "destroyed")

    def _stop(self, name: str, why: str) -> bool:
        with self.lock:
            dom = self.doms.get(name)
            if dom is None or not dom.active:
                return False
            dom.active = False
            dom.stopped_by = why
        if dom.agent is not None:
            dom.agent.kill()
            dom.agent.wait()
        if dom.listener is not None:
            dom.listener.close()
        os.close(dom.master)
        return True

    def is_active(self, name: str) -> bool:
        dom = self.doms.get(name)
        return bool(dom and dom.active)

    def stop_reason(self, name: str, wait_s: float = 0.0) -> str | None:
        dom = self.doms.get(name)
        return None if dom is None or dom.active else dom.stopped_by

    def domains(self) -> list[DomainInfo]:
        return [DomainInfo(d.name, d.owner, d.active) for d in self.doms.values() if d.active]

    def close(self) -> None:
        for name in list(self.doms):
            self.destroy(name)


def fake_image(home: Home, module: str = "fakedrv") -> Image:
    """An image directory that passes verify(), for a fake backend to 'boot'."""
    d = home.images / f"fake-{module}"
    d.mkdir(parents=True, exist_ok=True)
    sums = {}
    for part in ("vmlinux", "initramfs.cpio"):
        (d / part).write_bytes(part.encode())
        sums[part] = hashlib.sha256(part.encode()).hexdigest()
    manifest = {
        "image_id": d.name,
        "kernel": {"version": "6.1.0-test", "package": "linux-image", "package_version": "1"},
        "module": {"name": module, "params": [], "source_sha256": "0" * 64},
        "cmdline": "console=ttyS0",
        "vcpus": 1,
        "ram_mib": 256,
        "machine": "pc",
        "accel": "tcg",
        "sha256": sums,
    }
    (d / "manifest.json").write_text(json.dumps(manifest))
    return verify(d)
