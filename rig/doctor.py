"""Check every prerequisite of the rig and say how to fix each failure."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rig.config import Home, Limits, guest_cmdline
from rig.errors import RigError
from rig.fleet.domain_xml import QBOOT
from rig.host import accel as accelmod
from rig.host import daemons, packages
from rig.image import build as imgbuild
from rig.image import kernel as kmod


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _packages(home: Home, driver: Path, uri: str) -> Check:
    missing = packages.missing()
    if missing:
        return Check("packages", False, f"missing: {' '.join(missing)}", "rig host setup")
    return Check("packages", True, f"{len(packages.DEBIAN_PACKAGES)} Debian packages installed")


def _libvirtd(home: Home, driver: Path, uri: str) -> Check:
    from rig.fleet.libvirt_backend import LibvirtBackend

    try:
        backend = LibvirtBackend(uri)
    except RigError as e:
        return Check("libvirtd", False, str(e), "rig host setup")
    try:
        seconds = backend.capabilities_probe_s()
    finally:
        backend.close()
    if seconds > 5:
        return Check(
            "libvirtd",
            False,
            f"QEMU capabilities take {seconds:.0f}s per call (libvirt re-probes QEMU)",
            "rig host setup --restart",
        )
    return Check("libvirtd", True, f"reachable at {uri}, capabilities in {seconds:.2f}s")


def _accel(home: Home, driver: Path, uri: str) -> Check:
    saved = accelmod.load(home.host_file)
    probed = accelmod.probe()
    if saved is None:
        return Check(
            "accel", False, f"no verdict saved (probe says {probed.accel})", "rig host setup"
        )
    pid = daemons.running("libvirtd")
    if saved.accel == "tcg" and pid is not None and not daemons.kvm_masked_for(pid):
        return Check("accel", True, f"tcg ({saved.reason}); note: libvirtd sees /dev/kvm unmasked")
    return Check("accel", True, f"{saved.accel} ({saved.reason})")


def _kernel(home: Home, driver: Path, uri: str) -> Check:
    try:
        version = kmod.default_version()
        kmod.check_version(version)
        pkg = kmod.headers_package_version(version)
    except RigError as e:
        return Check("kernel", False, str(e), "rig host setup")
    policy = subprocess.run(
        ["apt-cache", "madison", f"linux-image-{version}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    if pkg not in policy:
        return Check(
            "kernel",
            False,
            f"headers {version} {pkg} installed but linux-image-{version}={pkg} is not downloadable",
            "apt-get update, or install headers matching an available image",
        )
    return Check("kernel", True, f"{version} (headers and image {pkg})")


def _firmware(home: Home, driver: Path, uri: str) -> Check:
    tools = [QBOOT, Path(shutil.which("qemu-system-x86_64") or "/nonexistent"), imgbuild.BUSYBOX]
    absent = [str(p) for p in tools if not p.exists()]
    if absent:
        return Check("qemu", False, f"missing {' '.join(absent)}", "rig host setup")
    return Check("qemu", True, imgbuild.qemu_version())


def _image(home: Home, driver: Path, uri: str) -> Check:
    try:
        version = kmod.default_version()
        req = imgbuild.ImageRequest(driver=driver, accel=accelmod.current(home.host_file).accel)
        key = imgbuild.input_key(
            req, version, kmod.headers_package_version(version), guest_cmdline(Limits())
        )
        imgbuild.verify(home.images / key)
    except RigError as e:
        return Check("image", False, f"{driver}: {e}", f"rig image build --driver {driver}")
    return Check("image", True, f"{key} for {driver}")


CHECKS: tuple[Callable[[Home, Path, str], Check], ...] = (
    _packages,
    _libvirtd,
    _accel,
    _kernel,
    _firmware,
    _image,
)


def run(home: Home, driver: Path, uri: str) -> list[Check]:
    return [check(home, driver, uri) for check in CHECKS]
