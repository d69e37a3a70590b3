"""Spec files: round trips, a hash that ignores comments, and errors naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.spec.load import SpecError, dumps, load, loads, spec_hash
from rig.spec.types import (
    Array,
    Bytes,
    Device,
    Dir,
    Field,
    File,
    FileKind,
    Grammar,
    Int,
    Ioctl,
    Len,
    NlAttr,
    NlAttrSet,
    NlCommand,
    NlFamily,
    Ptr,
    Spec,
    String,
    Struct,
    StructRef,
    TextCommand,
)

ROOT = Path(__file__).resolve().parents[3]

SPEC = Spec(
    "toy",
    (Device("/dev/toy", ("TOY_GET", "TOY_SET")),),
    (
        Ioctl("TOY_GET", 0x8008_7401, Dir.OUT, 0x74, 1, 8, Ptr(StructRef("req"), Dir.OUT)),
        Ioctl("TOY_SET", 0x4008_7402, Dir.IN, 0x74, 2, 8, Ptr(StructRef("req"))),
    ),
    (
        Struct(
            "req",
            8,
            4,
            (
                Field("mode", 0, Int(4, values=(0, 1, 2), flags=(0x10,))),
                Field("len", 4, Int(2, min=1, max=64)),
                Field("pad", 6, Int(2, const=0), out=True),
            ),
        ),
        Struct(
            "outer",
            32,
            8,
            (
                Field("buf", 0, Ptr(Bytes(0, 256))),
                Field("n", 8, Len("buf", 4)),
                Field("items", 16, Ptr(Array(StructRef("req"), None, 0, 8), Dir.INOUT)),
                Field("name", 24, String(8, 7, ("a", "b"))),
            ),
        ),
    ),
    (
        NlFamily(
            "toyfam",
            2,
            (
                NlAttrSet(
                    "main", (NlAttr("x", 1, "u32", max=3), NlAttr("n", 2, "nest", nested="in"))
                ),
                NlAttrSet("in", (NlAttr("s", 1, "string", max_len=15),)),
            ),
            (NlCommand("get", 1, "main", True, True, ("x",)),),
            ("events",),
        ),
    ),
    (
        File(
            "/proc/toy/ctl",
            0o200,
            FileKind.PROCFS,
            Grammar(
                "commands",
                commands=(
                    TextCommand("reset"),
                    TextCommand("mode", (Grammar("int", 0, 3),)),
                ),
            ),
        ),
        File("/sys/x/toy/mode", 0o644, FileKind.SYSFS, Grammar("enum", values=("a", "b"))),
        File("/sys/x/toy/n", 0o600, FileKind.SYSFS, Grammar("int")),
        File("/sys/x/toy/label", 0o644, FileKind.SYSFS, Grammar("string")),
        File("/sys/kernel/debug/toy/x", 0o200, FileKind.DEBUGFS, Grammar("string", max_len=9)),
    ),
    ("reset", "mode"),
)


def test_round_trip_and_hash() -> None:
    text = dumps(SPEC, "a comment\nsecond line")
    assert text.startswith("# a comment\n# second line\n")
    assert loads(text) == SPEC
    again = loads("# another comment\n" + text)
    assert spec_hash(again) == spec_hash(SPEC)


def test_hash_changes_with_content() -> None:
    other = Spec(SPEC.name, SPEC.devices, SPEC.ioctls[:1], SPEC.structs, SPEC.families)
    assert spec_hash(other) != spec_hash(SPEC)


def test_committed_boundary_spec_loads() -> None:
    spec = load(ROOT / "corpora/specs/boundary.yaml")
    assert spec.name == "boundary"
    assert spec.ioctls and spec.families


def _error(text: str) -> str:
    with pytest.raises(SpecError) as e:
        loads(text, "bad.yaml")
    return str(e.value)


BASE = """rig-spec: 1
name: toy
structs:
  - name: req
    size: 8
    fields:
      - {name: a, offset: 0, type: u32}
"""


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("rig-spec: 2\nname: x\n", "bad.yaml:1: rig-spec: spec format 2"),
        ("rig-spec: 1\nname: x\nbogus: 1\n", "bad.yaml:3: bogus: unknown field"),
        (BASE.replace("offset: 0", "offset: 6"), "bad.yaml:4: structs[0]: req.a: offset 6"),
        (
            BASE.replace("type: u32", "type: u31"),
            "bad.yaml:7: structs[0].fields[0].type: unknown type",
        ),
        (BASE.replace("size: 8", "size: -1"), "bad.yaml:5: structs[0].size: -1 is out of range"),
        (
            BASE + "ioctls:\n  - {name: X, code: 0x4004b701, size: 8}\n",
            "bad.yaml:9: ioctls[0]: X: code 0x4004b701 != dir/type/nr/size",
        ),
        (
            BASE + "devices:\n  - {path: /dev/x, ioctls: [NOPE]}\n",
            "bad.yaml:9: devices[0]: /dev/x: no ioctl 'NOPE'",
        ),
        (
            BASE + "files:\n  - {path: relative/path}\n",
            "bad.yaml:9: files[0].path: path 'relative/path' must be absolute",
        ),
        (
            BASE + "files:\n  - {path: /p, grammar: {int: [1]}}\n",
            "bad.yaml:9: files[0].grammar.int: expected [min, max]",
        ),
        (
            "rig-spec: 1\nname: x\nfamilies:\n  - name: f\n    commands:\n"
            "      - {name: c, attr-set: nope}\n",
            "bad.yaml:6: families[0].commands[0]: no attribute set 'nope'",
        ),
        (
            "rig-spec: 1\nname: x\nfamilies:\n  - name: f\n    attr-sets:\n"
            "      - {name: s, attrs: [{name: a, type: u33}]}\n",
            "bad.yaml:6: families[0].attr-sets[0].attrs[0].type: 'u33' is not one of",
        ),
        ("rig-spec: 1\nname: [x\n", "bad.yaml:3: not valid YAML"),
        (
            BASE.replace("{name: a, offset: 0, type: u32}", "{name: a, type: u32}"),
            "bad.yaml:7: structs[0].fields[0]: missing field 'offset'",
        ),
    ],
)
def test_errors_name_file_line_and_field(text: str, where: str) -> None:
    assert where in _error(text)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read spec"):
        load(tmp_path / "missing.yaml")
