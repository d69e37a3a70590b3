"""Build an out-of-tree kernel module with Kbuild against a chosen kernel's headers.

The driver's sources are copied into a build directory keyed by their hash,
and `-ffile-prefix-map` strips that directory from everything the compiler
records, so the same sources give the same .ko wherever they were built.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from rig.errors import BuildError, ConfigError

log = logging.getLogger(__name__)

BUILD_PRODUCTS = re.compile(
    r"(\.(o|ko|mod|mod\.c|cmd|a|order|symvers|d|tmp)$)|(^\.)|(^Module\.symvers$)|(^modules\.order$)"
)
PARAM_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*(=[A-Za-z0-9_.,:/+@%-]*)?")


@dataclass(frozen=True)
class BuiltModule:
    name: str
    ko: Path
    params: tuple[str, ...]
    depends: tuple[str, ...]


def source_files(driver: Path) -> list[Path]:
    """The driver's sources: every file except build products and hidden files."""
    if not driver.is_dir():
        raise ConfigError(f"driver directory {driver} does not exist")
    if not ((driver / "Kbuild").exists() or (driver / "Makefile").exists()):
        raise ConfigError(f"{driver} has no Kbuild or Makefile: not a kernel module source tree")
    files = []
    for p in sorted(driver.rglob("*")):
        rel = p.relative_to(driver)
        if not p.is_file() or any(BUILD_PRODUCTS.search(part) for part in rel.parts):
            continue
        if _is_elf(p):  # built test binaries and the like are never sources
            continue
        files.append(p)
    return files


def _is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def source_hash(driver: Path) -> str:
    h = hashlib.sha256()
    for p in source_files(driver):
        h.update(str(p.relative_to(driver)).encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def parse_params(params: str) -> tuple[str, ...]:
    words = tuple(params.split())
    for w in words:
        if not PARAM_WORD.fullmatch(w):
            raise ConfigError(f"malformed module parameter {w!r}: expected name or name=value")
    return words


def first_error(output: str) -> str:
    for line in output.splitlines():
        if re.search(r"\berror\b", line):
            return line.strip()
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def modinfo(ko: Path, field: str) -> list[str]:
    tool = shutil.which("modinfo") or "/sbin/modinfo"
    out = subprocess.run([tool, "-F", field, str(ko)], capture_output=True, text=True, check=False)
    return [ln for ln in out.stdout.splitlines() if ln]


def check_params(ko: Path, name: str, params: tuple[str, ...]) -> None:
    known = {p.split(":", 1)[0] for p in modinfo(ko, "parm")}
    for w in params:
        key = w.split("=", 1)[0]
        if key not in known:
            have = ", ".join(sorted(known)) or "none"
            raise ConfigError(f"module {name} has no parameter {key!r} (it has: {have})")


def build(
    driver: Path, build_root: Path, kdir: Path, module: str | None, params: str
) -> BuiltModule:
    words = parse_params(params)
    digest = source_hash(driver)
    work = build_root / f"{digest[:16]}-{kdir.parent.name}"
    if work.exists():
        shutil.rmtree(work)
    sources = set(source_files(driver))
    shutil.copytree(
        driver,
        work,
        ignore=lambda d, names: (
            [n for n in names if (Path(d) / n).is_file() and Path(d) / n not in sources]
            + [n for n in names if BUILD_PRODUCTS.search(n)]
        ),
    )
    prefix = f"-ffile-prefix-map={work}/=./"
    argv = ["make", "-s", "-C", str(kdir), f"M={work}", f"KCFLAGS={prefix}", "modules"]
    log.info("building %s against %s", driver, kdir)
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(
            f"driver {driver} does not build: {first_error(proc.stderr + proc.stdout)}"
        )
    kos = sorted(work.glob("*.ko"))
    if not kos:
        raise BuildError(f"driver {driver} built no .ko")
    if module is None:
        if len(kos) > 1:
            names = ", ".join(k.stem for k in kos)
            raise ConfigError(
                f"driver {driver} builds several modules ({names}): pick one with --module"
            )
        ko = kos[0]
    else:
        matches = [k for k in kos if k.stem == module]
        if not matches:
            names = ", ".join(k.stem for k in kos)
            raise ConfigError(f"driver {driver} builds no module {module!r} (it builds: {names})")
        ko = matches[0]
    check_params(ko, ko.stem, words)
    depends = tuple(d for dep in modinfo(ko, "depends") for d in dep.split(",") if d)
    return BuiltModule(ko.stem, ko, words, depends)
