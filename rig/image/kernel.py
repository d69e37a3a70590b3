"""Fetch a Debian kernel package and prepare it for fast direct boot.

The Debian bzImage is XZ-compressed; decompressing it under TCG costs
seconds per boot. We unpack the ELF vmlinux once (its payload is located by
the boot protocol's payload_offset/payload_length fields) and boot it via
the PVH entry point, which the Debian kernel has (CONFIG_PVH=y).
"""

from __future__ import annotations

import json
import logging
import lzma
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rig.errors import BuildError, ConfigError
from rig.util import sha256_file

log = logging.getLogger(__name__)

MODULES_ROOT = Path("/lib/modules")
XEN_ELFNOTE_PHYS32_ENTRY = 18


@dataclass(frozen=True)
class Kernel:
    """An unpacked kernel: what an image needs from a Debian linux-image package."""

    version: str
    package: str
    package_version: str
    root: Path

    @property
    def vmlinux(self) -> Path:
        return self.root / "vmlinux"

    @property
    def modules_dir(self) -> Path:
        return self.root / "lib" / "modules" / self.version

    @property
    def build_dir(self) -> Path:
        return MODULES_ROOT / self.version / "build"


def installed_header_versions() -> list[str]:
    if not MODULES_ROOT.exists():
        return []
    return sorted(p.name for p in MODULES_ROOT.iterdir() if (p / "build" / "Makefile").exists())


def default_version() -> str:
    """The kernel that linux-headers-amd64 resolves to."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Depends}", "linux-headers-amd64"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    m = re.search(r"linux-headers-(\S+?-amd64)\b", out)
    if not m:
        have = installed_header_versions()
        if have:
            return have[-1]
        raise ConfigError("linux-headers-amd64 is not installed: run `rig host setup`")
    return m.group(1)


def check_version(version: str) -> None:
    if not re.fullmatch(r"[0-9][0-9A-Za-z.+~_-]*", version):
        raise ConfigError(f"malformed kernel version {version!r}")
    if version not in installed_header_versions():
        have = ", ".join(installed_header_versions()) or "none"
        raise ConfigError(
            f"unknown kernel version {version}: no headers in /lib/modules/{version}/build "
            f"(installed: {have}); install linux-headers-{version}"
        )


def headers_package_version(version: str) -> str:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", f"linux-headers-{version}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0 or not out.stdout.strip():
        raise ConfigError(f"linux-headers-{version} is not installed as a Debian package")
    return out.stdout.strip()


def extract_vmlinux(bzimage: Path, out: Path) -> None:
    """Write the ELF vmlinux carried inside a bzImage whose payload is XZ."""
    data = bzimage.read_bytes()
    if data[0x202:0x206] != b"HdrS":
        raise BuildError(f"{bzimage}: not a bzImage (no HdrS boot header)")
    setup_sects = data[0x1F1] or 4
    payload_offset, payload_length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + payload_offset
    payload = data[start : start + payload_length]
    if not payload.startswith(b"\xfd7zXZ\x00"):
        raise BuildError(f"{bzimage}: payload is not XZ; unsupported kernel compression")
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
    if not elf.startswith(b"\x7fELF"):
        raise BuildError(f"{bzimage}: payload is not an ELF vmlinux")
    if not has_pvh_note(elf):
        raise BuildError(f"{bzimage}: kernel has no PVH entry point (CONFIG_PVH)")
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(elf)
    tmp.replace(out)


def has_pvh_note(elf: bytes) -> bool:
    """Scan the ELF64 program headers' PT_NOTE segments for Xen's PHYS32_ENTRY note."""
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from(
            "<IIQQQQ", elf, phoff + i * phentsize
        )
        if p_type != 4:  # PT_NOTE
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12 : pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def download_deb(package: str, pkg_version: str, into: Path) -> Path:
    """`apt-get download` one exact package version into `into`; BuildError naming apt's reason."""
    dl = subprocess.run(
        ["apt-get", "download", f"{package}={pkg_version}"],
        cwd=into,
        capture_output=True,
        text=True,
    )
    debs = list(into.glob("*.deb"))
    if dl.returncode != 0 or not debs:
        err = (dl.stderr.strip().splitlines() or ["no .deb"])[-1]
        raise BuildError(f"cannot download {package}={pkg_version}: {err}")
    return debs[0]


def fetch(version: str, cache: Path) -> Kernel:
    """Download, unpack and prepare linux-image-VERSION matching the installed headers."""
    check_version(version)
    pkg_version = headers_package_version(version)
    package = f"linux-image-{version}"
    root = cache / f"{version}_{pkg_version}"
    stamp = root / "kernel.json"
    if stamp.exists():
        return Kernel(version, package, pkg_version, root)
    log.info("fetching %s=%s", package, pkg_version)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmps:
        tmp = Path(tmps)
        deb = download_deb(package, pkg_version, tmp)
        staged = tmp / "root"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(staged)], check=True)
        extract_vmlinux(staged / "boot" / f"vmlinuz-{version}", staged / "vmlinux")
        depmod = shutil.which("depmod") or "/sbin/depmod"
        subprocess.run([depmod, "-b", str(staged), version], check=True, capture_output=True)
        info = {
            "version": version,
            "package": package,
            "package_version": pkg_version,
            "deb_sha256": sha256_file(deb),
        }
        (staged / "kernel.json").write_text(json.dumps(info, indent=2) + "\n")
        if root.exists():
            shutil.rmtree(root)
        staged.rename(root)
    return Kernel(version, package, pkg_version, root)


def module_closure(kernel: Kernel, names: list[str]) -> list[Path]:
    """Paths of `names` and their dependencies, in load order (dependencies first)."""
    deps: dict[str, list[str]] = {}
    for line in (kernel.modules_dir / "modules.dep").read_text().splitlines():
        target, _, rest = line.partition(":")
        deps[target] = rest.split()
    by_name = {Path(t).name.removesuffix(".ko"): t for t in deps}
    order: list[str] = []

    def visit(rel: str) -> None:
        if rel in order:
            return
        # modules.dep lists the full closure; visiting each keeps dependencies first.
        for d in reversed(deps.get(rel, [])):
            visit(d)
        order.append(rel)

    for name in names:
        rel = by_name.get(name.replace("-", "_")) or by_name.get(name)
        if rel is None:
            raise BuildError(f"kernel {kernel.version} has no module {name}")
        visit(rel)
    return [kernel.modules_dir / rel for rel in order]
