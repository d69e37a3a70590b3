"""YNL, guest listing and nlctrl policy importers, on files and recorded guest output."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rig.spec.import_guest import (
    ListingError,
    family_from_replies,
    files_from_listing,
    guess_grammar,
    listing_script,
    name_family,
    parse_listing,
    policy_program,
    policy_requests,
)
from rig.spec.import_ynl import YnlError, ynl_family, ynl_family_from
from rig.spec.types import FileKind, Grammar, NlAttr, NlFamily

ROOT = Path(__file__).resolve().parents[3]
DATA = Path(__file__).parent / "data"

YNL = """
name: toy
protocol: genetlink
doc: test
definitions:
  - {type: const, name: blob-max, value: 64}
  - {type: enum, name: colour, entries: [red, green, {name: blue, value: 7}]}
  - {type: flags, name: feats, entries: [a, b, c]}
attribute-sets:
  - name: main
    attributes:
      - {name: colour, type: u8, enum: colour}
      - {name: blob, type: binary, checks: {max-len: blob-max}}
      - {name: big, type: u32, value: 10, checks: {min: 1, max: u16-max}}
      - {name: next, type: u16}
      - {name: sub, type: nest, nested-attributes: inner}
      - {name: feat, type: u32, enum: colour, enum-as-flags: true}
      - {name: fl, type: u32, enum: feats}
  - name: inner
    attributes:
      - {name: s, type: string, checks: {max-len: blob-max - 1}}
  - name: part
    subset-of: main
    attributes:
      - {name: big}
operations:
  list:
    - {name: get, attribute-set: main, do: {request: {attributes: [colour, big]}}, dump: {}}
    - {name: set, value: 5, attribute-set: main, do: {request: {attributes: [blob]}}}
    - {name: note, attribute-set: main, event: {attributes: [colour]}}
mcast-groups:
  list: [{name: notes}]
"""


def test_ynl_numbers_checks_and_enums() -> None:
    fam = ynl_family_from(yaml.safe_load(YNL), "toy.yaml")
    main = fam.attr_set("main")
    assert main is not None
    ids = {a.name: a.id for a in main.attrs}
    assert ids == {"colour": 1, "blob": 2, "big": 10, "next": 11, "sub": 12, "feat": 13, "fl": 14}
    assert main.by_name("colour").values == (0, 1, 7)  # type: ignore[union-attr]
    assert main.by_name("blob").max_len == 64  # type: ignore[union-attr]
    assert (main.by_name("big").min, main.by_name("big").max) == (1, 65535)  # type: ignore[union-attr]
    assert main.by_name("feat").values == (1, 2, 128)  # type: ignore[union-attr]
    assert main.by_name("fl").values == (1, 2, 4)  # type: ignore[union-attr]
    assert fam.attr_set("inner").attrs[0].max_len == 63  # type: ignore[union-attr]
    assert fam.attr_set("part").attrs[0] == NlAttr("big", 10, "u32", 1, 65535)  # type: ignore[union-attr]
    cmds = {c.name: c for c in fam.commands}
    assert (cmds["get"].id, cmds["get"].do, cmds["get"].dump) == (1, True, True)
    assert cmds["get"].attrs == ("colour", "big")
    assert (cmds["set"].id, cmds["note"].id) == (5, 6)
    assert not cmds["note"].do and not cmds["note"].dump
    assert fam.mcgrps == ("notes",)


def test_ynl_errors() -> None:
    doc = yaml.safe_load(YNL)
    doc["attribute-sets"][0]["attributes"][4]["nested-attributes"] = "nope"
    with pytest.raises(YnlError, match=r"toy\.yaml: attribute main\.sub: no attribute set .nope."):
        ynl_family_from(doc, "toy.yaml")
    with pytest.raises(YnlError, match="only generic netlink"):
        ynl_family_from({"name": "x", "protocol": "netlink-raw"}, "raw.yaml")


def test_boundary_ynl() -> None:
    fam = ynl_family(ROOT / "driver/netlink/boundary.yaml")
    assert fam.name == "boundary"
    assert any(c.dump for c in fam.commands) and any(c.do for c in fam.commands)
    assert all(fam.attr_set(c.attr_set) is not None for c in fam.commands)


def test_listing() -> None:
    entries = parse_listing((DATA / "listing.txt").read_text())
    assert len(entries) == 13
    devices, files = files_from_listing(entries)
    assert [d.path for d in devices] == ["/dev/boundary"]
    assert devices[0].open_flags == (2,)
    by_path = {f.path: f for f in files}
    assert set(by_path) == {
        "/proc/boundary/status",
        "/proc/boundary/ctl",
        "/sys/devices/virtual/misc/boundary/mode",
        "/sys/devices/virtual/misc/boundary/label",
        "/sys/devices/virtual/misc/boundary/policy",
        "/sys/kernel/debug/boundary/inject",
    }
    assert by_path["/sys/devices/virtual/misc/boundary/mode"].grammar == Grammar("int")
    assert by_path["/sys/devices/virtual/misc/boundary/policy"].grammar == Grammar(
        "enum", values=("above", "below")
    )
    assert by_path["/proc/boundary/ctl"].mode == 0o200
    assert not by_path["/proc/boundary/ctl"].readable
    assert by_path["/sys/kernel/debug/boundary/inject"].kind == FileKind.DEBUGFS
    with pytest.raises(ListingError, match="not a rig listing"):
        parse_listing("total 0\n", "x.txt")


def test_guess_grammar() -> None:
    assert guess_grammar(b"0x1f\n") == Grammar("int")
    assert guess_grammar(b"hello\n") == Grammar("string")
    assert guess_grammar(None) == Grammar()
    assert guess_grammar(b"a\nb\nc\n") == Grammar()


def test_listing_script_names_the_module() -> None:
    assert "m=boundary" in listing_script("boundary")
    with pytest.raises(Exception, match="module name"):
        listing_script("x; rm -rf /")


@pytest.mark.parametrize("name", ["netdev", "tcp_metrics", "nlctrl"])
def test_policy_dump_recorded_from_a_kernel(name: str) -> None:
    fam = family_from_replies((DATA / f"policy-{name}.bin").read_bytes())
    assert fam.name == name
    assert fam.commands and fam.attr_sets
    sets = {s.name for s in fam.attr_sets}
    assert all(c.attr_set in sets for c in fam.commands)
    for s in fam.attr_sets:
        for a in s.attrs:
            assert a.nested is None or a.nested in sets


def test_policy_nlctrl_details() -> None:
    fam = family_from_replies((DATA / "policy-nlctrl.bin").read_bytes())
    root = fam.attr_sets[0]
    name = root.by_name("attr2")
    assert name is not None and (name.type, name.max_len) == ("string", 15)
    assert {c.id: (c.do, c.dump) for c in fam.commands} == {3: (True, True), 10: (False, True)}


def test_policy_names_from_ynl() -> None:
    kernel = family_from_replies((DATA / "policy-nlctrl.bin").read_bytes())
    names = NlFamily(
        "nlctrl",
        attr_sets=(
            kernel.attr_sets[0].__class__(
                "ctrl", (NlAttr("family-id", 1, "u16"), NlAttr("family-name", 2, "string"))
            ),
        ),
        commands=(),
    )
    named = name_family(kernel, names)
    assert named.attr_sets[0].name == "ctrl"
    assert [a.name for a in named.attr_sets[0].attrs][:2] == ["family-id", "family-name"]
    assert named.attr_sets[0].attrs[1].max_len == 15  # the kernel's numbers stay


def test_policy_requests_and_program() -> None:
    get, pol = policy_requests("boundary")
    assert get[4:6] == b"\x10\x00" and b"boundary\x00" in get
    assert int.from_bytes(pol[6:8], "little") & 0x300 == 0x300
    policy_program("boundary").validate()
    with pytest.raises(ListingError, match="no CTRL_CMD_GETFAMILY"):
        family_from_replies(b"")
