"""Build an out-of-tree kernel module with Kbuild against a chosen kernel's headers.

The driver's sources are copied into a build directory keyed by their hash,
and `-ffile-prefix-map` strips that directory from everything the compiler
records, so the same sources give the same .ko wherever they were built.

Coverage needs nothing from the driver: rig's own module, rigcov
(vmimages/rigcov), is built first for the same kernel; the driver is then
compiled with COVERAGE_FLAGS through KCFLAGS, and KBUILD_EXTRA_SYMBOLS lets
modpost resolve the compiler's __sanitizer_cov_* calls to rigcov's exports.
Debian's kernels have no KCOV, so this is the only coverage they can give.
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
from rig.util import sha256_file

log = logging.getLogger(__name__)

BUILD_PRODUCTS = re.compile(
    r"(\.(o|ko|mod|mod\.c|cmd|a|order|symvers|d|tmp)$)|(^\.)|(^Module\.symvers$)|(^modules\.order$)"
)
PARAM_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*(=[A-Za-z0-9_.,:/+@%-]*)?")
COVERAGE_FLAGS = "-fsanitize-coverage=trace-pc,trace-cmp"
COVERAGE_MODULE = "rigcov"


@dataclass(frozen=True)
class Coverage:
    """rigcov built for one kernel: its .ko, and the symbols a target links against."""

    ko: Path
    symvers: Path


@dataclass(frozen=True)
class BuiltModule:
    name: str
    ko: Path
    params: tuple[str, ...]
    depends: tuple[str, ...]  # modules of the kernel it needs loaded first (not rigcov)
    coverage: Coverage | None = None


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


def link_aliases(ko: Path) -> list[str]:
    """rtnetlink link kinds the module registers: its MODULE_ALIAS_RTNL_LINK aliases.

    rtnetlink loads a module for an unknown kind by that alias, so every
    module with rtnl_link_ops that can be autoloaded declares one.
    """
    prefix = "rtnl-link-"
    return [a.removeprefix(prefix) for a in modinfo(ko, "alias") if a.startswith(prefix)]


def check_params(ko: Path, name: str, params: tuple[str, ...]) -> None:
    known = {p.split(":", 1)[0] for p in modinfo(ko, "parm")}
    for w in params:
        key = w.split("=", 1)[0]
        if key not in known:
            have = ", ".join(sorted(known)) or "none"
            raise ConfigError(f"module {name} has no parameter {key!r} (it has: {have})")


def _kbuild(src: Path, work: Path, kdir: Path, kcflags: str = "", *make_args: str) -> str:
    """Copy `src`'s sources to `work` and build them there; Kbuild's output on failure, else ""."""
    if work.exists():
        shutil.rmtree(work)
    sources = set(source_files(src))
    shutil.copytree(
        src,
        work,
        ignore=lambda d, names: (
            [n for n in names if (Path(d) / n).is_file() and Path(d) / n not in sources]
            + [n for n in names if BUILD_PRODUCTS.search(n)]
        ),
    )
    flags = " ".join(f for f in (f"-ffile-prefix-map={work}/=./", kcflags) if f)
    argv = ["make", "-s", "-C", str(kdir), f"M={work}", f"KCFLAGS={flags}", *make_args, "modules"]
    log.info("building %s against %s", src, kdir)
    proc = subprocess.run(argv, capture_output=True, text=True)
    return proc.stderr + proc.stdout if proc.returncode != 0 else ""


def build_coverage(src: Path, build_root: Path, kdir: Path) -> Coverage:
    """rigcov for the kernel of `kdir`, rebuilt only when its sources change."""
    work = build_root / f"{COVERAGE_MODULE}-{source_hash(src)[:16]}-{kdir.parent.name}"
    ko, symvers = work / f"{COVERAGE_MODULE}.ko", work / "Module.symvers"
    if not (ko.exists() and symvers.exists()):
        failed = _kbuild(src, work, kdir)
        if failed:
            raise BuildError(f"rig's coverage module does not build: {first_error(failed)}")
    return Coverage(ko, symvers)


def build(
    driver: Path,
    build_root: Path,
    kdir: Path,
    module: str | None,
    params: str,
    coverage: Coverage | None = None,
) -> BuiltModule:
    """Build the driver's module(s) and pick one; instrumented for `coverage` if given."""
    words = parse_params(params)
    digest = source_hash(driver)
    kind = "cov" if coverage else "plain"
    work = build_root / f"{digest[:16]}-{kdir.parent.name}-{kind}"
    if coverage is None:
        failed = _kbuild(driver, work, kdir)
    else:
        failed = _kbuild(
            driver, work, kdir, COVERAGE_FLAGS, f"KBUILD_EXTRA_SYMBOLS={coverage.symvers}"
        )
    if failed:
        hint = " (with coverage: build the image with --no-coverage to try without)"
        raise BuildError(
            f"driver {driver} does not build{hint if coverage else ''}: {first_error(failed)}"
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
    linked = [d for dep in modinfo(ko, "depends") for d in dep.split(",")]
    if coverage is not None and COVERAGE_MODULE not in linked:
        log.warning(
            "module %s calls no coverage hook although built with %s: its Kbuild may "
            "drop KCFLAGS; campaigns on it will report 0 edges",
            ko.stem,
            COVERAGE_FLAGS,
        )
    depends = tuple(
        d for dep in modinfo(ko, "depends") for d in dep.split(",") if d and d != COVERAGE_MODULE
    )
    return BuiltModule(ko.stem, ko, words, depends, coverage)


def find_built(build_root: Path, name: str, sha256: str | None = None) -> Path:
    """The newest NAME.ko `rig image build` left under `build_root` (a home's cache/build).

    With `sha256` (an image manifest's "module.ko"), the very build an image holds.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ConfigError(f"{name!r} is neither a .ko file nor a module name")
    found = [
        ko
        for ko in build_root.glob(f"*/{name}.ko")
        if (ko.parent.name.split("-")[0] != COVERAGE_MODULE or name == COVERAGE_MODULE)
        and (sha256 is None or sha256_file(ko) == sha256)
    ]
    if not found:
        raise ConfigError(
            f"no built module {name} under {build_root}: build its image first "
            f"(`rig image build --driver DIR`), or give the .ko's path"
        )
    return max(found, key=lambda ko: ko.stat().st_mtime)


WORD = re.compile(rb"[A-Za-z][A-Za-z0-9_.:+-]{1,31}")
MAX_WORDS = 512


def rodata_words(ko: Path, limit: int = MAX_WORDS) -> list[str]:
    """Word-like string literals of a module: command words its code compares input with.

    A driver that parses "reset" or "enable" from a sysfs or debugfs write
    keeps those words as literals in its .rodata string sections; offered
    to text grammars they open doors a random text generator almost never
    would. Format strings and messages (spaces, '%') are not words.
    """
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    words: dict[str, None] = {}
    try:
        with ko.open("rb") as f:
            for section in ELFFile(f).iter_sections():
                if not section.name.startswith(".rodata") or section["sh_type"] == "SHT_NOBITS":
                    continue
                for literal in section.data().split(b"\0"):
                    if WORD.fullmatch(literal):
                        words.setdefault(literal.decode(), None)
                        if len(words) >= limit:
                            return list(words)
    except (OSError, ELFError) as e:
        log.warning("cannot read the strings of %s: %s", ko, e)
    return list(words)


def coverage_sites(ko: Path) -> int:
    """Calls to __sanitizer_cov_trace_pc in a module's code outside init/exit sections.

    Each is one basic block rigcov can report; PCs reached over this count is
    the module's block coverage. Init and exit code is never recorded.
    """
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.relocation import RelocationSection
    from elftools.elf.sections import SymbolTableSection

    sites = 0
    try:
        with ko.open("rb") as f:
            elf = ELFFile(f)
            symtab = elf.get_section_by_name(".symtab")
            if not isinstance(symtab, SymbolTableSection):
                return 0
            for sec in elf.iter_sections():
                # .rela.text and .rela.text.unlikely; .rela.init.text and .rela.exit.text not
                if not isinstance(sec, RelocationSection) or not sec.name.startswith(".rela.text"):
                    continue
                for rel in sec.iter_relocations():
                    sym = symtab.get_symbol(rel["r_info_sym"])
                    sites += sym.name == "__sanitizer_cov_trace_pc"
    except (OSError, ELFError) as e:
        log.warning("cannot count the coverage sites of %s: %s", ko, e)
    return sites
