"""The same tree packs to the same bytes, whatever its files' times and modes."""

from __future__ import annotations

import os
from pathlib import Path

from rig.image.initramfs import pack


def make_tree(root: Path, mtime: int) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "etc/rig").mkdir(parents=True)
    (root / "init").write_text("#!/bin/sh\n")
    (root / "init").chmod(0o700)
    (root / "etc/rig/params").write_text("bugs=x\n")
    (root / "bin/tool").write_bytes(b"\x7fELF")
    for p in root.rglob("*"):
        os.utime(p, (mtime, mtime))
    return root


def test_pack_is_reproducible(tmp_path: Path) -> None:
    a = make_tree(tmp_path / "a", 1_000_000)
    b = make_tree(tmp_path / "b", 2_000_000)
    pack(a, tmp_path / "a.cpio")
    pack(b, tmp_path / "b.cpio")
    assert (tmp_path / "a.cpio").read_bytes() == (tmp_path / "b.cpio").read_bytes()
    assert b"etc/rig/params" in (tmp_path / "a.cpio").read_bytes()
