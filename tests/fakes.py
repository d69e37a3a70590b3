"""Fakes for unit tests: a backend whose 'domains' are ptys fed by a script."""

from __future__ import annotations

import os
import re
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

from rig.errors import InfraError
from rig.fleet.backend import DomainInfo
from rig.fleet.domain_xml import Owner, parse_owner

Step = bytes | float | None  # bytes: write them; float: sleep; None: close the console


@dataclass
class FakeDomain:
    name: str
    owner: Owner | None
    master: int
    slave_path: str
    script: list[Step]
    active: bool = True
    stopped_by: str | None = None  # as libvirt's lifecycle event would say
    resumed: threading.Event = field(default_factory=threading.Event)


class FakeBackend:
    """Each created domain gets a pty; after resume, a thread plays its script into it."""

    def __init__(self, scripts: list[list[Step]]) -> None:
        self.scripts = list(scripts)
        self.doms: dict[str, FakeDomain] = {}
        self.lock = threading.Lock()

    def start_paused(self, xml: str) -> str:
        name = re.search(r"<name>([^<]+)</name>", xml)
        owner_xml = re.search(r"<rig:owner.*?</rig:owner>", xml, re.S)
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
            )
            self.doms[dom.name] = dom
        os.close(slave)
        threading.Thread(target=self._play, args=(dom,), daemon=True).start()
        return dom.name

    def _play(self, dom: FakeDomain) -> None:
        dom.resumed.wait(10)
        for step in dom.script:
            if not dom.active:
                return
            if step is None:
                self._stop(dom.name, "shutdown")  # the guest reset or powered off
                return
            if isinstance(step, float):
                time.sleep(step)
            else:
                os.write(dom.master, step)

    def console_pty(self, name: str) -> str:
        return self.doms[name].slave_path

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
