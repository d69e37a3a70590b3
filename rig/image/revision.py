"""A driver directory as it was at a git revision, exported under the home, never checked out.

Nightly runs and bisection build the driver at revisions of its history; the
user's work tree is never touched. `git archive` of the driver's directory at
the commit goes to cache/revisions/<sha>/ once; later runs reuse it.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from rig.errors import ConfigError


def _git(top: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(top), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise ConfigError("git is not installed; building a driver revision needs it") from None
    if done.returncode != 0:
        raise ConfigError(f"git {' '.join(args)} in {top}: {done.stderr.strip() or 'failed'}")
    return done.stdout.strip()


def toplevel(driver: Path) -> Path:
    """The git work tree holding `driver`; ConfigError if there is none."""
    if not driver.is_dir():
        raise ConfigError(f"{driver} is not a directory")
    return Path(_git(driver, "rev-parse", "--show-toplevel"))


def resolve(driver: Path, revision: str) -> str:
    """The full commit sha `revision` names in the repository of `driver`."""
    return _git(toplevel(driver), "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")


def subject(driver: Path, sha: str) -> str:
    return _git(toplevel(driver), "log", "-1", "--format=%s", sha)


def export(driver: Path, revision: str, cache: Path) -> tuple[Path, str]:
    """(the driver directory at `revision`, its commit sha), exported under `cache` once."""
    top = toplevel(driver)
    sha = resolve(driver, revision)
    rel = driver.resolve().relative_to(top.resolve())
    root = cache / "revisions" / sha
    out = root / rel
    if out.is_dir():
        return out, sha
    data = subprocess.run(
        ["git", "-C", str(top), "archive", "--format=tar", sha, "--", str(rel) or "."],
        capture_output=True,
        check=False,
    )
    if data.returncode != 0:
        raise ConfigError(
            f"{driver} has no files at {revision} ({sha[:12]}): "
            f"{data.stderr.decode(errors='replace').strip()}"
        )
    root.parent.mkdir(parents=True, exist_ok=True)
    # Into a temporary directory first: a killed export leaves no half tree behind.
    tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=root.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(data.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        tmp.rename(root)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not out.is_dir():  # another process exported it meanwhile: use theirs
            raise
    return out, sha


def last_change(driver: Path, path: str) -> str:
    """The newest commit (from HEAD) that touched `path`, relative to the work tree's top."""
    sha = _git(toplevel(driver), "rev-list", "-1", "HEAD", "--", path)
    if not sha:
        raise ConfigError(f"no commit in the history of {toplevel(driver)} touched {path}")
    return sha


def show(driver: Path, revision: str, path: str) -> str:
    """The text of `path` (relative to the work tree's top) at `revision`."""
    return _git(toplevel(driver), "show", f"{revision}:{path}") + "\n"
