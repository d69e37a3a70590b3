"""Test support: a fake image on disk, crash records in a real store, a fake VM runner."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rig.config import Home
from rig.crash.parse import parse_first
from rig.crash.store import CrashStore
from rig.guest.proglog import format_record
from rig.guest.protocol import AgentConfig
from rig.guest.surface import default_config
from rig.image.build import Image, verify
from rig.prog import text
from rig.prog.program import Call, Program
from rig.repro.oracle import Verdict
from rig.repro.transform import concatenate

CONSOLE = Path(__file__).resolve().parents[2] / "testdata" / "console" / "1"
TITLE = "BUG: unable to handle kernel NULL pointer dereference in boundary_xfer_unconfigured"
DRIVER = "d5" * 32


def make_image(home: Home, image_id: str = "img0", driver: str = DRIVER) -> Image:
    """An image directory that passes verify(): small parts whose sums the manifest holds."""
    d = home.images / image_id
    d.mkdir(parents=True, exist_ok=True)
    sums = {}
    for part in ("vmlinux", "initramfs.cpio"):
        (d / part).write_bytes(part.encode())
        sums[part] = hashlib.sha256(part.encode()).hexdigest()
    manifest = {
        "image_id": image_id,
        "kernel": {"version": "6.1.0-56-amd64", "package": "linux-image", "package_version": "1"},
        "module": {
            "name": "boundary",
            "params": ["bugs=ioctl_unconfigured"],
            "source_sha256": driver,
        },
        "cmdline": "console=ttyS0",
        "sha256": sums,
    }
    (d / "manifest.json").write_text(json.dumps(manifest))
    return verify(d)


def console_with_markers(last: int) -> bytes:
    """A real crash console with program markers 1..last before the report (and one after)."""
    body = CONSOLE.read_text().split("\n\n", 1)[1]
    start = body.index("BUG: kernel NULL pointer dereference")
    cut = body.rindex("\n", 0, start) + 1
    markers = "".join(f"[    1.9] rig: executing program {i}\n" for i in range(1, last + 1))
    after = f"[    2.5] rig: executing program {last + 1}\n"
    return (body[:cut] + markers + body[cut:] + after).encode()


def record(
    home: Home,
    image: Image,
    programs: Sequence[Program],
    last: int | None = None,
    header: text.Header | None = None,
) -> str:
    """Record a crash whose program log holds `programs` (seq 1..n); its bucket id."""
    header = header or text.Header(driver_hash=image.manifest["module"]["source_sha256"])
    log = "".join(format_record(i + 1, text.ProgramFile(p, header)) for i, p in enumerate(programs))
    console = console_with_markers(len(programs) if last is None else last)
    report = parse_first(console)
    assert report is not None and report.title == TITLE
    with CrashStore.open(home.root) as store:
        return store.record(report, console, log.encode(), "test", "vm0", image.manifest).bucket_id


@dataclass
class FakeRunner:
    """Replays by a predicate over the candidate's calls; binaries crash if `c_crashes`."""

    bug: Callable[[list[Call]], str | None]
    c_crashes: bool = True
    boots: int = 0
    replays: list[tuple[Program, ...]] = field(default_factory=list)
    binaries: list[bytes] = field(default_factory=list)
    config: AgentConfig = field(default_factory=lambda: default_config("boundary", 5.0))

    @property
    def agent_config(self) -> AgentConfig:
        return self.config

    def replay(self, programs: Sequence[Program]) -> Verdict:
        self.replays.append(tuple(programs))
        joined = concatenate(programs)
        assert joined is not None
        return Verdict(self.bug(list(joined.calls)), seconds=2.0)

    def run_binary(self, binary: bytes, args: tuple[str, ...], timeout_s: float) -> Verdict:
        assert binary.startswith(b"\x7fELF")
        self.binaries.append(binary)
        self.boots += 1
        return Verdict(TITLE if self.c_crashes else None, seconds=3.0)

    def discard(self) -> None:
        pass

    def close(self) -> None:
        pass
