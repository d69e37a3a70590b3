"""Pack a directory tree into a byte-for-byte reproducible newc cpio archive."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from rig.errors import BuildError


def normalise(tree: Path) -> list[str]:
    """Fix modes and mtimes under `tree`; return its entries in a stable order."""
    entries: list[str] = []
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for name in [*dirnames, *sorted(filenames)]:
            path = Path(dirpath) / name
            entries.append("./" + str(path.relative_to(tree)))
    for rel in [*entries, "."]:
        path = tree / rel
        if not path.is_symlink():
            mode = 0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644
            path.chmod(mode)
        os.utime(path, (0, 0), follow_symlinks=False)
    return sorted(entries)


def pack(tree: Path, out: Path) -> None:
    entries = normalise(tree)
    listing = "\n".join(entries).encode() + b"\n"
    tmp = out.with_suffix(".tmp")
    with tmp.open("wb") as f:
        proc = subprocess.run(
            ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0", "--reproducible"],
            input=listing,
            stdout=f,
            stderr=subprocess.PIPE,
            cwd=tree,
            env=dict(os.environ, LC_ALL="C"),
        )
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"cpio failed: {proc.stderr.decode(errors='replace').strip()}")
    tmp.replace(out)
