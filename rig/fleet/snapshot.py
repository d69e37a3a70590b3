"""A VM saved at "driver loaded, agent ready", restored under a new identity instead of booting.

Why libvirt save/restore. Measured under TCG on this machine kind: a cold
boot to ready takes about 2.1 s, a restore of a saved guest 0.3-0.6 s, and
the guest runs on from the instant it was saved. QEMU's internal snapshots
(savevm/loadvm through the monitor) need a qcow2 disk, which an initramfs
guest does not have; libvirt's external snapshots of a running transient
domain cannot be reverted by libvirt 9.0; a managed save exists only for
persistent domains. So the first cold boot of an image is saved once (about
1.5 s) right after its ready marker and before any host has spoken to its
agent, and every later VM of that image is a restore.

Why this module writes libvirt's save-file header. A restore may change a
domain's XML only in ABI-neutral ways, and libvirt 9.0 refuses a new name or
UUID ("Target domain name ... does not match source"). But a restored VM
needs its own name, UUID, console log, agent socket and owner, and two VMs
may be restored from one snapshot at once. libvirt keeps that XML in the
save file behind a fixed header, followed by about 64 KiB of padding that
exists so the XML can be edited in place:

    offset 0   char magic[16] "LibvirtQemudSave"
           16  uint32 version (2), data_len, was_running, compressed, cookie_offset
           36  uint32 unused[14]
           92  data_len bytes: domain XML, NUL, migration cookie at cookie_offset, zeros
               then QEMU's migration stream, untouched

Each VM slot restores from a working copy of the snapshot (copied once),
whose first data_len + 92 bytes are rewritten with the slot's identity
before each restore. No library reads this format; it is small and fixed,
and `read_header` refuses anything that does not match it exactly, so a
libvirt that changes it makes restores fail over to cold boots, loudly.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rig.errors import InfraError
from rig.fleet.domain_xml import OWNER_NS, OWNER_PREFIX, Owner, owner_element

log = logging.getLogger(__name__)

MAGIC = b"LibvirtQemudSave"
VERSION = 2
HEADER = struct.Struct("<16s5I56x")  # 92 bytes


@dataclass(frozen=True)
class SaveHeader:
    version: int
    data_len: int
    was_running: int
    compressed: int
    cookie_offset: int

    def pack(self) -> bytes:
        return HEADER.pack(
            MAGIC,
            self.version,
            self.data_len,
            self.was_running,
            self.compressed,
            self.cookie_offset,
        )


@dataclass(frozen=True)
class SaveHead:
    """The part of a save file that names the domain: header, XML, cookie."""

    header: SaveHeader
    xml: str
    cookie: bytes  # libvirt's migration cookie, NUL-terminated XML, kept as it is

    @property
    def size(self) -> int:
        """Bytes from the start of the file to QEMU's stream."""
        return HEADER.size + self.header.data_len


def read_head(data: bytes) -> SaveHead:
    """Pure: parse the first bytes of a libvirt QEMU save file; InfraError if it is not one."""
    if len(data) < HEADER.size:
        raise InfraError("snapshot is shorter than libvirt's save header")
    magic, version, data_len, was_running, compressed, cookie = HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION or compressed != 0:
        raise InfraError(
            f"snapshot is not an uncompressed libvirt save file of version {VERSION} "
            f"(magic {magic!r}, version {version}, compression {compressed})"
        )
    body = data[HEADER.size : HEADER.size + data_len]
    end = body.find(b"\0")
    if len(body) != data_len or end < 0 or not end < cookie <= data_len:
        raise InfraError("snapshot header does not describe its own XML")
    cookie_end = body.find(b"\0", cookie)
    cookie_bytes = body[cookie : cookie_end + 1 if cookie_end >= 0 else data_len]
    return SaveHead(
        SaveHeader(version, data_len, was_running, compressed, cookie),
        body[:end].decode(),
        cookie_bytes,
    )


def write_head(head: SaveHead, xml: str) -> bytes:
    """Pure: the same head with `xml` in place of its own, padded to the same length."""
    body = xml.encode() + b"\0"
    cookie_offset = len(body)
    body += head.cookie
    if len(body) > head.header.data_len:
        raise InfraError(
            f"the new domain XML does not fit the snapshot's {head.header.data_len} bytes"
        )
    body += b"\0" * (head.header.data_len - len(body))
    header = SaveHeader(
        head.header.version,
        head.header.data_len,
        head.header.was_running,
        head.header.compressed,
        cookie_offset,
    )
    return header.pack() + body


@dataclass(frozen=True)
class Identity:
    """What makes one VM distinct from another restored from the same snapshot."""

    name: str
    uuid: str
    console_log: Path
    agent_socket: Path
    owner: Owner


def with_identity(xml: str, ident: Identity) -> str:
    """Pure: libvirt's saved domain XML with another VM's name, UUID, paths and owner.

    Everything else (devices, addresses, memory) stays as libvirt wrote it,
    since the migration stream must match it.
    """
    ET.register_namespace(OWNER_PREFIX, OWNER_NS)
    dom = ET.fromstring(xml)

    def one(path: str) -> ET.Element:
        el = dom.find(path)
        if el is None:
            raise InfraError(f"snapshot's domain XML has no {path}")
        return el

    one("name").text = ident.name
    one("uuid").text = ident.uuid
    logs = dom.findall("devices/serial/log") + dom.findall("devices/console/log")
    if not logs:
        raise InfraError("snapshot's domain XML has no console log")
    for el in logs:
        el.set("file", str(ident.console_log))
    sources = [
        s
        for s in dom.findall("devices/channel/source")
        if s.get("mode") == "bind" and s.get("path")
    ]
    if len(sources) != 1:
        raise InfraError("snapshot's domain XML does not have exactly one agent channel")
    sources[0].set("path", str(ident.agent_socket))
    meta = one("metadata")
    for old in meta.findall(f"{{{OWNER_NS}}}owner"):
        meta.remove(old)
    meta.append(owner_element(ident.owner))
    return ET.tostring(dom, encoding="unicode")


def stamp(working: Path, ident: Identity) -> None:
    """Rewrite the head of a working copy in place for the VM about to be restored from it."""
    with working.open("r+b") as f:
        first = f.read(HEADER.size)
        _, _, data_len, *_ = HEADER.unpack(first)
        head = read_head(first + f.read(data_len))
        f.seek(0)
        f.write(write_head(head, with_identity(head.xml, ident)))


def snapshot_key(image_id: str, accel: str, template_xml: str) -> str:
    """Snapshots are of an image booted one way: its id, the accelerator and the domain's shape.

    `template_xml` is the domain XML of a boot with a placeholder identity,
    so a change in how the rig describes domains makes older snapshots stale.
    """
    h = hashlib.sha256()
    for part in (image_id, accel, template_xml):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:20]


@dataclass(frozen=True)
class Snapshots:
    """Where snapshots live: $RIG_HOME/snapshots/<key>/state.save, work/ for working copies."""

    root: Path

    def dir(self, key: str) -> Path:
        return self.root / key

    def master(self, key: str) -> Path:
        return self.dir(key) / "state.save"

    def exists(self, key: str) -> bool:
        return self.master(key).is_file()

    def working(self, key: str, slot_token: str) -> Path:
        """This process's copy for one VM slot, made from the master when missing or older."""
        master = self.master(key)
        path = self.dir(key) / "work" / f"{slot_token}.save"
        if not path.exists() or path.stat().st_mtime < master.stat().st_mtime:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            shutil.copyfile(master, tmp)
            tmp.replace(path)
        return path

    @contextmanager
    def creating(self, key: str) -> Iterator[Path | None]:
        """The path to save a new master to, or None if another process is making it.

        The save goes to a temporary name and is moved into place by `publish`.
        """
        d = self.dir(key)
        d.mkdir(parents=True, exist_ok=True)
        with (d / "lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
            tmp = d / f"state.save.{os.getpid()}"
            try:
                yield tmp
            finally:
                tmp.unlink(missing_ok=True)
                fcntl.flock(lock, fcntl.LOCK_UN)

    def publish(self, tmp: Path, key: str, image_id: str) -> None:
        read_head(tmp.read_bytes()[: 128 * 1024])  # refuse to publish what we cannot restore
        (self.dir(key) / "image").write_text(image_id + "\n")
        tmp.replace(self.master(key))

    def discard(self, key: str, why: str) -> None:
        log.info("discarding snapshot %s: %s", key, why)  # the caller says why to the user
        shutil.rmtree(self.dir(key), ignore_errors=True)

    def drop_working(self, slot_token: str) -> None:
        for path in self.root.glob(f"*/work/{slot_token}.save"):
            path.unlink(missing_ok=True)

    def prune_images(self, present: set[str]) -> list[str]:
        """Remove every snapshot of an image not in `present` (or of no known image); their keys."""
        gone = []
        if self.root.is_dir():
            for d in self.root.iterdir():
                try:
                    image = (d / "image").read_text().strip()
                except OSError:
                    image = ""
                if d.is_dir() and image not in present:
                    shutil.rmtree(d, ignore_errors=True)
                    gone.append(d.name)
        return gone
