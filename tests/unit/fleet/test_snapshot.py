"""Snapshots: libvirt's save-file head read and rewritten for another VM, the stream untouched."""

from __future__ import annotations

import os
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rig.errors import InfraError
from rig.fleet.domain_xml import OWNER_NS, Owner, parse_owner
from rig.fleet.snapshot import (
    HEADER,
    Identity,
    Snapshots,
    read_head,
    snapshot_key,
    stamp,
    with_identity,
    write_head,
)

DATA = Path(__file__).resolve().parents[2] / "testdata" / "snapshot"
SAVED_XML = (DATA / "libvirt-9.0-saved-domain.xml").read_text()  # as libvirt 9.0 wrote it
COOKIE = (DATA / "libvirt-9.0-cookie.xml").read_bytes() + b"\0"
DATA_LEN = 68245  # what libvirt reserved for XML, cookie and in-place edits
STREAM = b"QEVM\x00\x00\x00\x03" + os.urandom(4096)

IDENT = Identity(
    name="rig-c1-1-abcdef",
    uuid="11111111-2222-3333-4444-555555555555",
    console_log=Path("/home/r/campaigns/c1/boots/rig-c1-1-abcdef/console.log"),
    agent_socket=Path("/run/rig/rig-c1-1-abcdef.sock"),
    owner=Owner("host-b", 4242, 99, "c1"),
)


def save_file(path: Path, xml: str = SAVED_XML) -> Path:
    body = xml.encode() + b"\0"
    cookie_at = len(body)
    body += COOKIE
    body += b"\0" * (DATA_LEN - len(body))
    header = struct.pack("<16s5I56x", b"LibvirtQemudSave", 2, DATA_LEN, 1, 0, cookie_at)
    path.write_bytes(header + body + STREAM)
    return path


def test_the_head_libvirt_wrote_is_read(tmp_path: Path) -> None:
    raw = save_file(tmp_path / "s.save").read_bytes()
    head = read_head(raw)
    assert head.xml == SAVED_XML and head.cookie == COOKIE
    assert head.size == HEADER.size + DATA_LEN and raw[head.size :] == STREAM


def test_rewriting_keeps_length_cookie_and_stream(tmp_path: Path) -> None:
    path = save_file(tmp_path / "s.save")
    before = path.read_bytes()
    stamp(path, IDENT)
    after = path.read_bytes()
    assert len(after) == len(before) and after[-len(STREAM) :] == STREAM
    head = read_head(after)
    assert head.cookie == COOKIE and head.header.data_len == DATA_LEN
    dom = ET.fromstring(head.xml)
    assert dom.findtext("name") == IDENT.name and dom.findtext("uuid") == IDENT.uuid
    logs = {el.get("file") for el in dom.iter("log")}
    assert logs == {str(IDENT.console_log)}
    assert [s.get("path") for s in dom.findall("devices/channel/source")] == [
        str(IDENT.agent_socket)
    ]
    owner = dom.find(f"metadata/{{{OWNER_NS}}}owner")
    assert owner is not None and parse_owner(ET.tostring(owner, encoding="unicode")) == IDENT.owner


def test_nothing_but_the_identity_changes() -> None:
    def strip(xml: str) -> list[tuple[str, tuple[tuple[str, str], ...], str]]:
        dom = ET.fromstring(xml)
        meta = dom.find("metadata")
        assert meta is not None
        dom.remove(meta)
        out = []
        for el in dom.iter():
            if el.tag in ("name", "uuid"):
                continue
            attrs = tuple(sorted((k, v) for k, v in el.attrib.items() if k not in ("file", "path")))
            out.append((el.tag, attrs, (el.text or "").strip()))
        return out

    assert strip(with_identity(SAVED_XML, IDENT)) == strip(SAVED_XML)


def test_stamping_twice_gives_the_second_identity(tmp_path: Path) -> None:
    path = save_file(tmp_path / "s.save")
    stamp(path, IDENT)
    second = Identity("rig-c1-2-aaaaaa", "99999999-2222-3333-4444-555555555555", Path("/b/console.log"),
                      Path("/run/rig/b.sock"), Owner("h", 1, 2, "c2"))  # fmt: skip
    stamp(path, second)
    assert ET.fromstring(read_head(path.read_bytes()).xml).findtext("name") == second.name


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:50],
        lambda b: b"LibvirtQemudPart" + b[16:],  # an interrupted save
        lambda b: b[:20] + struct.pack("<I", 3) + b[24:],  # a version we do not know
        lambda b: b[:28] + struct.pack("<I", 1) + b[32:],  # compressed
        lambda b: b[:32] + struct.pack("<I", 10**6) + b[36:],  # cookie beyond the data
    ],
    ids=["short", "partial", "version", "compressed", "cookie"],
)
def test_anything_else_is_refused(tmp_path: Path, damage: object) -> None:
    raw = save_file(tmp_path / "s.save").read_bytes()
    with pytest.raises(InfraError):
        read_head(damage(raw))  # type: ignore[operator]


def test_an_identity_too_long_for_the_reserved_space_is_refused(tmp_path: Path) -> None:
    head = read_head(save_file(tmp_path / "s.save").read_bytes())
    with pytest.raises(InfraError, match="does not fit"):
        write_head(head, SAVED_XML + " " * DATA_LEN)


def test_keys_change_with_image_accel_and_domain_shape() -> None:
    base = snapshot_key("img1", "tcg", "<domain/>")
    assert base == snapshot_key("img1", "tcg", "<domain/>")
    assert len({base, snapshot_key("img2", "tcg", "<domain/>"), snapshot_key("img1", "kvm", "<domain/>"),
                snapshot_key("img1", "tcg", "<domain><vcpu>2</vcpu></domain>")}) == 4  # fmt: skip


def test_working_copies_follow_the_master(tmp_path: Path) -> None:
    snaps = Snapshots(tmp_path / "snapshots")
    with snaps.creating("k1") as tmp:
        assert tmp is not None
        save_file(tmp)
        with snaps.creating("k1") as other:
            assert other is None, "one process makes a snapshot at a time"
        snaps.publish(tmp, "k1", "img1")
    work = snaps.working("k1", "host-1-0")
    assert work.read_bytes() == snaps.master("k1").read_bytes()
    stamp(work, IDENT)
    assert snaps.working("k1", "host-1-0") == work and read_head(work.read_bytes()).xml != SAVED_XML
    snaps.drop_working("host-1-0")
    assert not work.exists()
    assert snaps.prune_images({"img1"}) == [] and snaps.exists("k1")
    assert snaps.prune_images({"img2"}) == ["k1"] and not snaps.dir("k1").exists()
