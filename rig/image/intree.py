"""An in-tree module as an out-of-tree driver: its sources from Debian's linux-source package.

Debian builds most drivers as modules of its stock kernel, but without
coverage. To fuzz one (uinput, a netlink family) with rigcov, its sources
are taken from the linux-source package of the very kernel the image boots
(same package version as the headers), with the headers they include by
relative path, into a directory with a Kbuild of its own; `rig image build
--driver DIR` then builds it like any other driver, and the guest loads it
instead of the stock module of the same name.

The package (about 140 MB) and the files taken from it are cached under
the home's cache/linux-source/VERSION/.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from rig.errors import BuildError, ConfigError
from rig.image import kernel as kmod

log = logging.getLogger(__name__)

QUOTED_INCLUDE = re.compile(rb'^\s*#\s*include\s+"([^"]+)"', re.M)
MODULE_NAME = re.compile(r"[A-Za-z0-9_-]+")
MAX_FILES = 64  # a module's own sources and local headers; more is not one module


def source_package(version: str) -> str:
    """linux-source-MAJOR.MINOR for a kernel version such as 6.1.0-57-amd64."""
    m = re.match(r"(\d+\.\d+)", version)
    if not m:
        raise ConfigError(f"cannot tell the source package of kernel {version!r}")
    return f"linux-source-{m.group(1)}"


def _tree_path(rel: str) -> PurePosixPath:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ConfigError(f"{rel!r} is not a path inside the kernel tree (e.g. drivers/x/y.c)")
    return p


def tarball(version: str, cache: Path) -> Path:
    """The kernel source tarball of `version`'s package, downloaded once."""
    package, pkg_version = source_package(version), kmod.headers_package_version(version)
    root = cache / pkg_version
    tar = root / f"{package}.tar.xz"
    if tar.exists():
        return tar
    root.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s=%s", package, pkg_version)
    with tempfile.TemporaryDirectory(dir=root, prefix=".fetch-") as tmps:
        tmp = Path(tmps)
        deb = kmod.download_deb(package, pkg_version, tmp)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "x")], check=True)
        found = list((tmp / "x").glob(f"usr/src/{package}.tar.*"))
        if not found:
            raise BuildError(f"{package}={pkg_version} holds no source tarball")
        found[0].rename(tar)
    return tar


def extract(tar: Path, wanted: set[PurePosixPath], tree: Path) -> set[PurePosixPath]:
    """Extract `wanted` files (paths inside the kernel tree) into `tree`; returns what was found."""
    got: set[PurePosixPath] = set()
    with tarfile.open(tar) as tf:
        for member in tf:
            if not member.isfile():
                continue
            rel = PurePosixPath(*PurePosixPath(member.name).parts[1:])  # linux-source-X.Y/...
            if rel in wanted:
                src = tf.extractfile(member)
                if src is None:
                    continue
                out = tree / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(src.read())
                got.add(rel)
                if got == wanted:
                    break
    return got


def fetch(version: str, cache: Path, sources: list[str], name: str | None, out: Path) -> Path:
    """A driver directory for the in-tree module built from `sources` (paths in the tree).

    Headers the sources include by relative path ("../input-compat.h") come
    along; the Kbuild builds one module, `name` (default: the first
    source's stem), from all of them.
    """
    if not sources:
        raise ConfigError("name at least one source file of the module, e.g. drivers/x/y.c")
    paths = [_tree_path(s) for s in sources]
    if any(p.suffix != ".c" for p in paths):
        raise ConfigError("sources are the module's .c files; local headers come along")
    name = name or paths[0].stem
    if not MODULE_NAME.fullmatch(name):
        raise ConfigError(f"{name!r} is not a module name")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not empty")
    pkg_root = cache / kmod.headers_package_version(version)
    tree = pkg_root / "tree"
    tar = tarball(version, cache)
    want, done = set(paths), set[PurePosixPath]()
    while want - done:
        missing = {p for p in want - done if not (tree / p).exists()}
        if missing:
            found = extract(tar, missing, tree)
            absent = missing - found
            if absent and absent & set(paths):
                names = ", ".join(sorted(map(str, absent & set(paths))))
                raise ConfigError(f"not in {tar.name}: {names}")
            want -= absent  # a header under an #ifdef for another tree: not needed here
        for p in want - done:
            done.add(p)
            for inc in QUOTED_INCLUDE.findall((tree / p).read_bytes()):
                dep = PurePosixPath(*_normal(p.parent / inc.decode(errors="replace")))
                if dep.parts and dep.parts[0] != ".." and dep not in want:
                    want.add(dep)
        if len(want) > MAX_FILES:
            raise ConfigError(f"{sources[0]} pulls in more than {MAX_FILES} local files")
    out.mkdir(parents=True, exist_ok=True)
    for p in sorted(want):
        (out / p).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tree / p, out / p)
    objs = " ".join(str(p.with_suffix(".o")) for p in paths)
    (out / "Kbuild").write_text(
        f"# Written by `rig image intree` from {source_package(version)} "
        f"{kmod.headers_package_version(version)}.\n"
        f"obj-m := {name}.o\n{name}-y := {objs}\n"
    )
    return out


def _normal(p: PurePosixPath) -> tuple[str, ...]:
    parts: list[str] = []
    for part in p.parts:
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            else:
                parts.append(part)
        elif part != ".":
            parts.append(part)
    return tuple(parts)
