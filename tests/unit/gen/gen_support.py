"""Shared by the gen tests: the bundled driver's committed spec plus files of every grammar."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rig.spec.load import load
from rig.spec.types import File, FileKind, Grammar, Spec, TextCommand

ROOT = Path(__file__).resolve().parents[3]

FILES = (
    File("/sys/devices/virtual/misc/boundary/mode", 0o644, FileKind.SYSFS, Grammar("int", 0, 3)),
    File(
        "/sys/devices/virtual/misc/boundary/label",
        0o644,
        FileKind.SYSFS,
        Grammar("string", max_len=31),
    ),
    File("/sys/devices/virtual/misc/boundary/buffer_size", 0o444, FileKind.SYSFS, Grammar("int")),
    File(
        "/proc/boundary/ctl",
        0o200,
        FileKind.PROCFS,
        Grammar("commands", commands=(TextCommand("go"), TextCommand("set", (Grammar("int"),)))),
    ),
    File("/proc/boundary/status", 0o444, FileKind.PROCFS),
    File(
        "/sys/kernel/debug/boundary/knob",
        0o600,
        FileKind.DEBUGFS,
        Grammar("enum", values=("a", "b")),
    ),
    File("/sys/kernel/debug/boundary/cmd", 0o200, FileKind.DEBUGFS),
)


def boundary_spec() -> Spec:
    return replace(load(ROOT / "corpora/specs/boundary.yaml"), files=FILES)
