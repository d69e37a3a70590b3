"""Domain XML says what the rig relies on: direct PVH boot, pty console with a log, agent port."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from rig.fleet.domain_xml import (
    AGENT_PORT,
    OWNER_NS,
    InstanceSpec,
    Owner,
    owner_xml,
    parse_owner,
    render,
)

OWNER = Owner("host1", 1234, 99, "camp<&>'\"")


def spec(accel: str = "tcg") -> InstanceSpec:
    return InstanceSpec(
        name="rig-test-0-abc",
        kernel=Path("/img/vmlinux"),
        initrd=Path("/img/initramfs.cpio"),
        cmdline="console=ttyS0 oops=panic",
        console_log=Path("/home/boots/x/console.log"),
        agent_socket=Path("/run/rig/x.sock"),
        owner=OWNER,
        accel=accel,
    )


def test_tcg_domain_boots_kernel_directly_and_destroys_on_every_stop() -> None:
    root = ET.fromstring(render(spec()))
    assert root.get("type") == "qemu"
    assert root.findtext("os/kernel") == "/img/vmlinux"
    assert root.findtext("os/initrd") == "/img/initramfs.cpio"
    assert root.findtext("os/cmdline") == "console=ttyS0 oops=panic"
    for event in ("on_poweroff", "on_reboot", "on_crash"):
        assert root.findtext(event) == "destroy"
    assert root.find("devices/interface") is None  # no network
    serial_log = root.find("devices/serial[@type='pty']/log")
    assert serial_log is not None and serial_log.get("file") == "/home/boots/x/console.log"
    chan = root.find("devices/channel[@type='unix']")
    assert chan is not None
    assert chan.find("target").get("name") == AGENT_PORT  # type: ignore[union-attr]
    assert chan.find("source").get("path") == "/run/rig/x.sock"  # type: ignore[union-attr]


def test_kvm_domain_type() -> None:
    assert ET.fromstring(render(spec("kvm"))).get("type") == "kvm"


def test_owner_metadata_round_trips_even_with_markup_in_campaign() -> None:
    root = ET.fromstring(render(spec()))
    el = root.find(f"metadata/{{{OWNER_NS}}}owner")
    assert el is not None
    assert parse_owner(ET.tostring(el, encoding="unicode")) == OWNER
    assert parse_owner(owner_xml(OWNER)) == OWNER


def test_foreign_or_garbled_metadata_is_not_an_owner() -> None:
    assert parse_owner("<not-xml") is None
    assert parse_owner("<owner><pid>x</pid></owner>") is None
