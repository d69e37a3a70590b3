"""Assemble a guest image (kernel, initramfs, manifest), cached by the hash of its inputs."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import rig
from rig.config import GuestShape, Home, Limits, guest_cmdline
from rig.errors import BuildError, ConfigError, InfraError
from rig.image import kernel as kmod
from rig.image import module as drvmod
from rig.image.initramfs import pack
from rig.spec.import_module import compat_ioctls
from rig.util import atomic_write, sha256_file

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
VMIMAGES = REPO / "vmimages"
RIGCOV = VMIMAGES / "rigcov"
COVERAGE_KO = f"{drvmod.COVERAGE_MODULE}.ko"
BUSYBOX = Path("/bin/busybox")
GUEST_MODULES = ("virtio_console", "virtio_pci")
MANIFEST = "manifest.json"
PARTS = ("vmlinux", "initramfs.cpio")
# The guest agents, installed as /bin/NAME: (name, what it is, how to fix its build).
AGENTS = (
    ("rig-agent", "guest agent", ""),
    ("rig-agent32", "32-bit guest agent (gcc -m32)", "; install gcc-multilib (`rig host setup`)"),
)


@dataclass(frozen=True)
class ImageRequest:
    """What an image is built from; accel and limits come from the run context (`ctx.build_image`)."""

    driver: Path
    module: str | None = None
    params: str = ""
    kernel_version: str | None = None
    include: tuple[Path, ...] = ()  # extra static binaries, installed as /usr/bin/<name>
    shape: GuestShape = field(default_factory=GuestShape)
    coverage: bool = True  # build the module with rigcov's hooks (vmimages/rigcov)
    accel: str = field(kw_only=True)
    limits: Limits = field(kw_only=True)


@dataclass(frozen=True)
class Image:
    """A built image on disk and its manifest."""

    dir: Path
    manifest: dict[str, Any]

    @property
    def vmlinux(self) -> Path:
        return self.dir / "vmlinux"

    @property
    def initramfs(self) -> Path:
        return self.dir / "initramfs.cpio"

    @property
    def id(self) -> str:
        return self.dir.name

    @property
    def cmdline(self) -> str:
        return str(self.manifest["cmdline"])

    @property
    def module(self) -> str:
        return str(self.manifest["module"]["name"])

    @property
    def agent32(self) -> bool:
        """Whether it has /bin/rig-agent32, which abi-32 programs need (older images do not)."""
        return bool(self.manifest.get("agent32", False))


def _compat_ioctls(ko: Path) -> list[str] | None:
    """The module's compat_ioctl handlers; None when it has no DWARF to read them from."""
    try:
        return compat_ioctls(ko)
    except ConfigError as e:
        log.info("%s: compat_ioctl handlers unknown: %s", ko.name, e)
        return None


def qemu_version() -> str:
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        raise InfraError("qemu-system-x86_64 not found: run `rig host setup`")
    out = subprocess.run([qemu, "--version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0].strip() if out else "unknown"


def agent_binaries(build_root: Path) -> dict[str, Path]:
    """Build the guest agents if their sources are in the tree: {name in /bin: binary}.

    rig-agent runs the programs; rig-agent32, the same sources built with
    -m32, runs the abi-32 ones for it, so that drivers' compat_ioctl handlers
    run. Empty while the tree has no agent.
    """
    src = VMIMAGES / "agent"
    if not (src / "Makefile").exists():
        return {}
    out = build_root / "agent"
    out.mkdir(parents=True, exist_ok=True)
    built = {}
    for name, what, fix in AGENTS:
        binary = out / name
        proc = subprocess.run(
            ["make", "-s", "-C", str(src), f"O={out}", str(binary)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            error = drvmod.first_error(proc.stderr + proc.stdout)
            raise BuildError(f"{what} does not build: {error}{fix}")
        if not binary.exists():
            raise BuildError(f"{what} build left no {binary}")
        built[name] = binary
    return built


def input_key(req: ImageRequest, version: str, pkg_version: str, cmdline: str) -> str:
    h = hashlib.sha256()
    agent_src = VMIMAGES / "agent"
    agent_files = (
        sorted(p for p in agent_src.rglob("*") if p.is_file()) if agent_src.exists() else []
    )
    rigcov = drvmod.source_hash(RIGCOV) if req.coverage else "no coverage"
    parts: list[bytes] = [
        rig.__version__.encode(),
        version.encode(),
        pkg_version.encode(),
        drvmod.source_hash(req.driver).encode(),
        (req.module or "").encode(),
        " ".join(drvmod.parse_params(req.params)).encode(),
        cmdline.encode(),
        json.dumps(asdict(req.shape), sort_keys=True).encode(),
        req.accel.encode(),
        (VMIMAGES / "init").read_bytes(),
        rigcov.encode(),
        sha256_file(BUSYBOX).encode() if BUSYBOX.exists() else b"",
        *(p.read_bytes() for p in agent_files),
        *(p.name.encode() + b"\0" + p.read_bytes() for p in req.include),
    ]
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()[:20]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def verify(image_dir: Path) -> Image:
    """Load an image and check every part against its manifest's sha256."""
    try:
        manifest = json.loads((image_dir / MANIFEST).read_text())
        sums = manifest["sha256"]
    except FileNotFoundError as e:
        raise ConfigError(f"image {image_dir} does not exist or has no manifest") from e
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(
            f"image {image_dir}: corrupt manifest ({e}); rebuild with `rig image build`"
        ) from e
    for part in PARTS:
        path = image_dir / part
        if not path.exists() or sha256_file(path) != sums.get(part):
            raise ConfigError(
                f"image {image_dir.name} is corrupt: {part} does not match its manifest; "
                "rebuild with `rig image build`"
            )
    return Image(image_dir, manifest)


def build(home: Home, req: ImageRequest, force: bool = False) -> Image:
    home.ensure()
    for extra in req.include:
        if not extra.is_file():
            raise ConfigError(f"--include {extra}: no such file")
    req.limits.check()
    version = req.kernel_version or kmod.default_version()
    kmod.check_version(version)
    pkg_version = kmod.headers_package_version(version)
    cmdline = guest_cmdline(req.limits)
    key = input_key(req, version, pkg_version, cmdline)
    image_dir = home.images / key
    with locked(home.images / ".lock"):
        if image_dir.exists() and not force:
            try:
                image = verify(image_dir)
                os.utime(image_dir / MANIFEST)
                return image
            except ConfigError as e:
                log.warning("%s; rebuilding", e)
        return _build(home, req, version, cmdline, image_dir)


def _build(home: Home, req: ImageRequest, version: str, cmdline: str, image_dir: Path) -> Image:
    started = time.monotonic()
    kernel = kmod.fetch(version, home.kernels)
    build_root = home.root / "cache" / "build"
    coverage = drvmod.build_coverage(RIGCOV, build_root, kernel.build_dir) if req.coverage else None
    built = drvmod.build(req.driver, build_root, kernel.build_dir, req.module, req.params, coverage)
    agents = agent_binaries(build_root)
    deps = kmod.module_closure(kernel, [*GUEST_MODULES, *built.depends])
    with tempfile.TemporaryDirectory(dir=home.images, prefix=".build-") as tmps:
        tmp = Path(tmps)
        tree = tmp / "tree"
        for d in ("bin", "dev", "proc", "sys", "etc/rig", "lib/modules", "tmp", "run"):
            (tree / d).mkdir(parents=True, exist_ok=True)
        shutil.copy(BUSYBOX, tree / "bin" / "busybox")
        shutil.copy(VMIMAGES / "init", tree / "init")
        (tree / "init").chmod(0o755)
        for name, binary in agents.items():
            shutil.copy(binary, tree / "bin" / name)
        for extra in req.include:
            (tree / "usr" / "bin").mkdir(parents=True, exist_ok=True)
            shutil.copy(extra, tree / "usr" / "bin" / extra.name)
        for ko in deps:
            shutil.copy(ko, tree / "lib" / "modules" / ko.name)
        shutil.copy(built.ko, tree / "lib" / "modules" / f"{built.name}.ko")
        if coverage is not None:  # init loads it first, aimed at the module
            shutil.copy(coverage.ko, tree / "lib" / "modules" / COVERAGE_KO)
        (tree / "etc/rig/deps").write_text("".join(f"{ko.name}\n" for ko in deps))
        (tree / "etc/rig/module").write_text(built.name + "\n")
        (tree / "etc/rig/params").write_text(" ".join(built.params) + "\n")
        pack(tree, tmp / "initramfs.cpio")
        try:
            os.link(kernel.vmlinux, tmp / "vmlinux")
        except OSError:
            shutil.copy(kernel.vmlinux, tmp / "vmlinux")
        manifest = {
            "format": 1,
            "image_id": image_dir.name,
            "rig_version": rig.__version__,
            "kernel": {
                "version": version,
                "package": kernel.package,
                "package_version": kernel.package_version,
            },
            "module": {
                "name": built.name,
                "params": list(built.params),
                "driver_dir": str(req.driver.resolve()),
                "source_sha256": drvmod.source_hash(req.driver),
                "depends": list(built.depends),
                "coverage": drvmod.COVERAGE_MODULE if coverage else None,
                "words": drvmod.rodata_words(built.ko),
                # Its own compat_ioctl means code only 32-bit callers reach.
                "compat_ioctl": _compat_ioctls(built.ko),
            },
            "guest_modules": [ko.stem for ko in deps],
            "cmdline": cmdline,
            "vcpus": req.shape.vcpus,
            "ram_mib": req.shape.ram_mib,
            "machine": req.shape.machine,
            "accel": req.accel,
            "qemu_version": qemu_version(),
            "agent": "rig-agent" in agents,
            "agent32": "rig-agent32" in agents,  # abi-32 programs can run
            "include": {p.name: sha256_file(p) for p in req.include},
            "sha256": {
                "vmlinux": sha256_file(tmp / "vmlinux"),
                "initramfs.cpio": sha256_file(tmp / "initramfs.cpio"),
                "module.ko": sha256_file(built.ko),
                **({COVERAGE_KO: sha256_file(coverage.ko)} if coverage else {}),
                "busybox": sha256_file(BUSYBOX),
                "init": sha256_file(VMIMAGES / "init"),
                **{name: sha256_file(binary) for name, binary in agents.items()},
            },
        }
        atomic_write(
            tmp / MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
        )
        shutil.rmtree(tree)
        if image_dir.exists():
            shutil.rmtree(image_dir)
        tmp.rename(image_dir)
        # TemporaryDirectory's cleanup must not fail now that tmp has moved.
        tmp.mkdir()
    log.info("built image %s in %.1fs", image_dir.name, time.monotonic() - started)
    return verify(image_dir)


def referenced_images(home: Home) -> set[str]:
    """Image ids that crash records still point at (kept by `prune`)."""
    if not home.crash_db.exists():
        return set()
    from rig.crash.store import CrashStore

    with CrashStore.open(home.root) as store:
        return store.image_ids()


def prune(home: Home, keep_newest: int = 3) -> list[str]:
    """Delete images that no crash references, except the newest few."""
    if not home.images.exists():
        return []
    refs = referenced_images(home)
    images = sorted(
        (p for p in home.images.iterdir() if (p / MANIFEST).exists()),
        key=lambda p: (p / MANIFEST).stat().st_mtime,
        reverse=True,
    )
    removed = []
    for p in images[keep_newest:]:
        if p.name not in refs:
            shutil.rmtree(p)
            removed.append(p.name)
    return removed


def present_images(home: Home) -> set[str]:
    """The ids of the images in the home."""
    if not home.images.exists():
        return set()
    return {p.name for p in home.images.iterdir() if (p / MANIFEST).exists()}
