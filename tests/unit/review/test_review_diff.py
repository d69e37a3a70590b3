"""Entry points of two surfaces, their diff, and the focused spec built from it."""

from __future__ import annotations

import dataclasses

from rig.review.diff import diff, entry_points
from rig.review.focus import count, doors, focus, matchers
from rig.review.surface import GenlOp, Surface
from rig.spec.types import (
    Device,
    Dir,
    Field,
    File,
    FileKind,
    Int,
    Ioctl,
    LinkKind,
    NlAttr,
    NlAttrSet,
    NlCommand,
    NlFamily,
    Ptr,
    Spec,
    Struct,
    StructRef,
)

INFO = Struct("demo_info", 8, 4, (Field("version", 0, Int(4)), Field("flags", 4, Int(4))))
GET = Ioctl("DEMO_IOC_GET", 0x8008D301, Dir.OUT, 0xD3, 1, 8, Ptr(StructRef("demo_info"), Dir.OUT))
RESET = Ioctl("DEMO_IOC_RESET", 0xD302, Dir.NONE, 0xD3, 2)
ECHO = Ioctl("DEMO_IOC_ECHO", 0xC010D303, Dir.INOUT, 0xD3, 3, 16, Ptr(StructRef("demo_info")))
POLICY = NlAttrSet(
    "demo_policy", (NlAttr("attr1", 1, "u32"), NlAttr("attr2", 2, "string", max_len=15))
)
FAMILY = NlFamily("demo", 1, (POLICY,), (NlCommand("cmd1", 1, "demo_policy"),))
LEVEL = File("/sys/devices/virtual/misc/demo/level", 0o644, FileKind.SYSFS)
INJECT = File("/sys/kernel/debug/demo/inject", 0o600, FileKind.DEBUGFS)


def base() -> Surface:
    spec = Spec(
        "demo",
        (Device("/dev/demo", ("DEMO_IOC_GET", "DEMO_IOC_RESET")),),
        (GET, RESET),
        (INFO,),
        (FAMILY,),
        (LEVEL, INJECT),
    )
    ops = (GenlOp("demo", 1, True, False, 1, "demo_policy", "demo_ops"),)
    return Surface(spec, genl_ops=ops)


def head() -> Surface:
    """Base plus ECHO and cmd2, RESET gone, GET's struct grown, a file made writable."""
    b = base()
    info = dataclasses.replace(INFO, size=12, fields=(*INFO.fields, Field("extra", 8, Int(4))))
    get = dataclasses.replace(GET, code=0x800CD301, size=12)
    policy = dataclasses.replace(POLICY, attrs=(POLICY.attrs[0], NlAttr("attr2", 2, "string")))
    fam = dataclasses.replace(
        FAMILY,
        attr_sets=(policy,),
        commands=(*FAMILY.commands, NlCommand("cmd2", 2, "demo_policy")),
    )
    spec = dataclasses.replace(
        b.spec,
        devices=(Device("/dev/demo", ("DEMO_IOC_GET", "DEMO_IOC_ECHO")),),
        ioctls=(get, ECHO),
        structs=(info,),
        families=(fam,),
        files=(dataclasses.replace(LEVEL, mode=0o666), INJECT),
        links=(LinkKind("demolink"),),
    )
    ops = (*b.genl_ops, GenlOp("demo", 2, True, False, 0, "demo_policy", "demo_ops"))
    return Surface(spec, genl_ops=ops)


def test_entry_points_have_typed_signatures() -> None:
    got = {e.key: e.signature for e in entry_points(base())}
    assert got["ioctl:DEMO_IOC_GET"].startswith("0x8008d301 type 0xd3 nr 0x01 out size 8")
    assert "struct demo_info (8 bytes: 0:version u32, 4:flags u32)" in got["ioctl:DEMO_IOC_GET"]
    assert got["genl:demo/cmd1"] == "cmd 1 do policy demo_policy flags 0x01"
    assert got["attr:demo/demo_policy/attr2"] == "string max_len 15"
    assert got["file:/sys/devices/virtual/misc/demo/level"] == "sysfs mode 0644"


def test_diff_lists_added_removed_and_changed_with_both_signatures() -> None:
    changes = {(c.status, c.key): c for c in diff(base(), head())}
    assert set(changes) == {
        ("changed", "ioctl:DEMO_IOC_GET"),
        ("added", "ioctl:DEMO_IOC_ECHO"),
        ("removed", "ioctl:DEMO_IOC_RESET"),
        ("added", "genl:demo/cmd2"),
        ("changed", "attr:demo/demo_policy/attr2"),
        ("changed", "file:/sys/devices/virtual/misc/demo/level"),
        ("added", "link:demolink"),
    }
    get = changes[("changed", "ioctl:DEMO_IOC_GET")]
    assert "size 8" in get.before and "size 12" in get.after and "8:extra u32" in get.after
    assert changes[("removed", "ioctl:DEMO_IOC_RESET")].after == ""
    assert changes[("added", "ioctl:DEMO_IOC_ECHO")].before == ""
    level = changes[("changed", "file:/sys/devices/virtual/misc/demo/level")]
    assert (level.before, level.after) == ("sysfs mode 0644", "sysfs mode 0666")


def test_same_surface_no_changes() -> None:
    assert diff(base(), base()) == []


def test_focus_keeps_only_new_and_changed_entry_points() -> None:
    h = head()
    spec = focus(h.spec, diff(base(), h))
    assert [i.name for i in spec.ioctls] == ["DEMO_IOC_GET", "DEMO_IOC_ECHO"]
    assert spec.devices == (Device("/dev/demo", ("DEMO_IOC_GET", "DEMO_IOC_ECHO")),)
    # cmd2 is new; cmd1 comes along because an attribute of its set changed.
    assert [c.id for c in spec.families[0].commands] == [1, 2]
    assert [f.path for f in spec.files] == [LEVEL.path]
    assert [k.kind for k in spec.links] == ["demolink"]
    assert spec.structs == h.spec.structs
    assert doors(spec) == ("ioctl", "netlink", "sysfs")


def test_focus_on_one_new_ioctl_needs_only_its_device() -> None:
    b, h = base(), base()
    h.spec = dataclasses.replace(
        h.spec,
        ioctls=(*h.spec.ioctls, ECHO),
        devices=(Device("/dev/demo", ("DEMO_IOC_GET", "DEMO_IOC_RESET", "DEMO_IOC_ECHO")),),
    )
    spec = focus(h.spec, diff(b, h))
    assert spec.devices == (Device("/dev/demo", ("DEMO_IOC_ECHO",)),)
    assert (spec.families, spec.files, spec.links) == ((), (), ())
    assert doors(spec) == ("ioctl",)


def test_count_per_entry_point_from_programs_logs(tmp_path: object) -> None:
    from pathlib import Path

    camp = Path(str(tmp_path))
    h = head()
    changes = diff(base(), h)
    spec = focus(h.spec, changes)
    log = camp / "boots" / "vm0" / "programs.log"
    log.parent.mkdir(parents=True)
    msg = bytes(16) + bytes([2, 1, 0, 0])
    log.write_text(
        'r0 = open("/dev/demo", 0x2, 0x0)\n'
        "ioctl(r0, 0xc010d303, buf(size=16))\n"
        "ioctl(r0, 0xc010d303, buf(size=99))\n"
        "ioctl(r0, 0x800cd301, buf(size=12))\n"
        f'r1 = nl_socket()\nnl_send(r1, "demo", x"{msg.hex()}")\n'
        'file_write("/sys/devices/virtual/misc/demo/level", "3")\n'
    )
    doors_ = {"ioctl": {"calls": 3, "edges": 40}, "netlink": {"calls": 1, "edges": 7}}
    crash = "ioctl(r0, 0xc010d303, buf(size=99))\n"
    stats = {s.key: s for s in count(camp, spec, changes, doors_, {"b1": crash})}
    assert stats["ioctl:DEMO_IOC_ECHO"].calls == 2
    assert stats["ioctl:DEMO_IOC_ECHO"].edges == 40
    assert stats["ioctl:DEMO_IOC_ECHO"].crashes == ["b1"]
    assert stats["ioctl:DEMO_IOC_GET"].calls == 1
    assert stats["ioctl:DEMO_IOC_GET"].crashes == []
    assert stats["genl:demo/cmd2"].calls == 1 and stats["genl:demo/cmd2"].edges == 7
    assert stats["file:/sys/devices/virtual/misc/demo/level"].calls == 1
    assert "ioctl:DEMO_IOC_RESET" not in stats  # removed: nothing to fuzz
    patterns, _ = matchers(spec, changes)
    assert not patterns["ioctl:DEMO_IOC_GET"].search("ioctl(r0, 0x800cd3010, x)")
