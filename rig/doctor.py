"""Check every prerequisite of the rig and say how to fix each failure."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rig.config import Home, HostLimits, guest_cmdline
from rig.context import RunContext
from rig.errors import RigError
from rig.fleet.domain_xml import QBOOT
from rig.host import accel as accelmod
from rig.host import daemons, packages
from rig.image import build as imgbuild
from rig.image import kernel as kmod
from rig.image import module as drvmod


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
    """The same self-check `rig host setup` ends with: a slow capability call is a failure."""
    accel = accelmod.current(home.host_file).accel
    try:
        check = daemons.capability_check(uri, HostLimits())
    except RigError as e:
        return Check("libvirtd", False, str(e), "rig host setup")
    pid = daemons.running("libvirtd")
    view = daemons.view_of(pid) if pid is not None else None
    sees = f"; libvirtd sees {view.value}" if view is not None else ""
    if not check.ok:
        return Check(
            "libvirtd",
            False,
            f"libvirt re-probes QEMU on every call: {check.describe()}{sees}",
            "rig host setup (restarts libvirtd with a consistent /dev/kvm)",
        )
    if view is not None and view not in daemons.wanted_views(accel):
        return Check(
            "libvirtd",
            False,
            f"libvirtd sees {view.value} under {accel}: libvirt will re-probe QEMU "
            f"once its cache is checked again ({check.describe()})",
            "rig host setup",
        )
    return Check("libvirtd", True, f"reachable at {uri}, {check.describe()}{sees}")


def _accel(home: Home, driver: Path, uri: str) -> Check:
    saved = accelmod.load(home.host_file)
    probed = accelmod.probe()
    if saved is None:
        return Check(
            "accel", False, f"no verdict saved (probe says {probed.accel})", "rig host setup"
        )
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


M32_PACKAGES = ("gcc", "gcc-multilib", "libc6-dev")
_M32_PROGRAM = '#include <stdio.h>\nint main(void) { return printf("%zu", sizeof(void *)) < 0; }\n'


def _gcc_m32(home: Home, driver: Path, uri: str) -> Check:
    """gcc -m32 -static builds the 32-bit guest agent and reproducers of abi-32 programs."""
    with tempfile.TemporaryDirectory(prefix="rig-doctor-") as tmp:
        src, out = Path(tmp) / "m32.c", Path(tmp) / "m32"
        src.write_text(_M32_PROGRAM)
        try:
            proc = subprocess.run(
                ["gcc", "-m32", "-static", "-o", str(out), str(src)],
                capture_output=True,
                text=True,
                check=False,
            )
            error = "" if proc.returncode == 0 else drvmod.first_error(proc.stderr + proc.stdout)
        except OSError as e:
            error = str(e)
    if not error:
        return Check("gcc -m32", True, "builds static 32-bit binaries (the 32-bit agent)")
    try:
        missing = packages.missing(M32_PACKAGES)
    except RigError:
        missing = []
    need = " ".join(missing or ["gcc-multilib"])
    return Check(
        "gcc -m32",
        False,
        f"gcc -m32 -static cannot build the 32-bit guest agent ({error}); missing: {need}",
        f"apt-get install {need} (or rig host setup)",
    )


def _image(home: Home, driver: Path, uri: str) -> Check:
    try:
        version = kmod.default_version()
        ctx = RunContext.create(home, uri=uri)
        key = imgbuild.input_key(
            ctx.image_request(driver),
            version,
            kmod.headers_package_version(version),
            guest_cmdline(ctx.limits),
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
    _gcc_m32,
    _image,
)


def run(home: Home, driver: Path, uri: str) -> list[Check]:
    return [check(home, driver, uri) for check in CHECKS]
