"""Pure: describe one boot of a guest image as libvirt domain XML.

Direct kernel boot of the PVH vmlinux with qboot as firmware (SeaBIOS and
bzImage decompression cost seconds under TCG), no network, a serial
console on a pty that libvirt also logs to a file, and a virtio-serial
port named `rig.agent` for the guest agent. Every way the guest can stop
destroys the transient domain, so a dead guest never lingers.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

OWNER_NS = "https://rig.invalid/xmlns/owner/1"
OWNER_PREFIX = "rig"
AGENT_PORT = "rig.agent"
QBOOT = Path("/usr/share/qemu/qboot.rom")


@dataclass(frozen=True)
class Owner:
    """Who owns a domain: a rig process (pid + start time) on a host, for a campaign."""

    host: str
    pid: int
    start_time: int
    campaign: str


@dataclass(frozen=True)
class InstanceSpec:
    name: str
    kernel: Path | str
    initrd: Path | str
    cmdline: str
    console_log: Path
    agent_socket: Path
    owner: Owner
    accel: str = "tcg"
    vcpus: int = 1
    ram_mib: int = 256
    machine: str = "pc"
    uid: int = 0
    gid: int = 0
    firmware: Path | None = QBOOT
    # False on a host that shares no files with us: kernel and initrd are paths
    # there, the console log is kept by the rig, the channel's socket is libvirt's.
    local: bool = True


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def owner_element(owner: Owner) -> ET.Element:
    el = ET.Element(f"{{{OWNER_NS}}}owner")
    for key, value in (
        ("host", owner.host),
        ("pid", str(owner.pid)),
        ("start", str(owner.start_time)),
        ("campaign", owner.campaign),
    ):
        _sub(el, f"{{{OWNER_NS}}}{key}", value)
    return el


def owner_xml(owner: Owner) -> str:
    """The metadata element alone, as libvirt's setMetadata wants it (no namespace prefix)."""
    el = ET.Element("owner")
    for key, value in (
        ("host", owner.host),
        ("pid", str(owner.pid)),
        ("start", str(owner.start_time)),
        ("campaign", owner.campaign),
    ):
        _sub(el, key, value)
    return ET.tostring(el, encoding="unicode")


def parse_owner(xml: str) -> Owner | None:
    """Read an owner element (with or without namespace); None if it is not one of ours."""
    try:
        el = ET.fromstring(xml)
    except ET.ParseError:
        return None

    def text(key: str) -> str:
        found = el.find(key) if el.find(key) is not None else el.find(f"{{{OWNER_NS}}}{key}")
        return (found.text or "") if found is not None else ""

    try:
        return Owner(text("host"), int(text("pid")), int(text("start")), text("campaign"))
    except ValueError:
        return None


def render(spec: InstanceSpec) -> str:
    ET.register_namespace(OWNER_PREFIX, OWNER_NS)
    dom = ET.Element("domain", type="kvm" if spec.accel == "kvm" else "qemu")
    _sub(dom, "name", spec.name)
    _sub(dom, "memory", str(spec.ram_mib), unit="MiB")
    _sub(dom, "vcpu", str(spec.vcpus))
    meta = _sub(dom, "metadata")
    meta.append(owner_element(spec.owner))
    os_el = _sub(dom, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine=spec.machine)
    if spec.firmware is not None:
        _sub(os_el, "loader", str(spec.firmware), readonly="yes", type="rom")
    _sub(os_el, "kernel", str(spec.kernel))
    _sub(os_el, "initrd", str(spec.initrd))
    _sub(os_el, "cmdline", spec.cmdline)
    features = _sub(dom, "features")
    _sub(features, "acpi")
    if spec.accel == "kvm":
        _sub(dom, "cpu", mode="host-passthrough")
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        _sub(dom, event, "destroy")
    if spec.local:
        # QEMU runs as the rig's own user, so it can read images under the rig's home.
        sec = _sub(dom, "seclabel", type="static", model="dac", relabel="no")
        _sub(sec, "label", f"+{spec.uid}:+{spec.gid}")
    dev = _sub(dom, "devices")
    _sub(dev, "controller", type="usb", model="none")
    serial = _sub(dev, "serial", type="pty")
    if spec.local:
        _sub(serial, "log", file=str(spec.console_log), append="off")
    _sub(serial, "target", port="0")
    chan = _sub(dev, "channel", type="unix")
    if spec.local:
        _sub(chan, "source", mode="bind", path=str(spec.agent_socket))
    else:  # libvirt picks the socket's path on its host; we reach it by openChannel
        _sub(chan, "source", mode="bind")
    _sub(chan, "target", type="virtio", name=AGENT_PORT)
    _sub(dev, "memballoon", model="none")
    return ET.tostring(dom, encoding="unicode")
