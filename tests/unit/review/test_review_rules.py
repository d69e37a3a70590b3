"""Each rule of rig.review.rules on a stand-in module pair: one that plants its flaw, one that does not.

data/demo.c and data/demo.h are compiled with `gcc -g -c` (an object with
DWARF and relocations, as a .ko is), the header imported as `rig review`
imports it; a FLAW_* define plants the one mistake a rule is about.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from rig.review.rules import CHECKS, RULES, Finding, findings, new_findings
from rig.review.surface import Surface, discover

DATA = Path(__file__).parent / "data"

# rule id -> the FLAW_* define that plants it (file-writable comes from the probe's listing)
FLAWS = {
    "ioctl-size": "FLAW_IOCTL_SIZE",
    "ioctl-dir": "FLAW_IOCTL_DIR",
    "ioctl-magic": "FLAW_IOCTL_MAGIC",
    "ioctl-user-length": "FLAW_USER_LENGTH",
    "genl-no-policy": "FLAW_GENL_POLICY",
    "nla-unbounded": "FLAW_NLA_UNBOUNDED",
    "genl-no-perm": "FLAW_GENL_PERM",
    "file-writable": "FLAW_FILE_MODE",
}

LISTING = """rig-listing 1
2180 600 /dev/demo
41ed 755 /sys/devices/virtual/misc/demo
81a4 {mode} /sys/devices/virtual/misc/demo/level 310a
8180 600 /sys/kernel/debug/demo/inject
"""


def build(tmp: Path, flaw: str | None, opt: str = "-O0") -> Surface:
    """The stand-in driver directory with `flaw` planted, built and discovered."""
    if not shutil.which("gcc"):
        pytest.fail("gcc is needed (the rig builds modules with it)")
    drv = tmp / (flaw or "clean")
    (drv / "include").mkdir(parents=True)
    define = f"#define {flaw}\n" if flaw else ""
    (drv / "include" / "demo.h").write_text(define + (DATA / "demo.h").read_text())
    ko = drv / "demo.o"
    flags = [f"-D{flaw}"] if flaw else []
    cmd = ["gcc", "-g", opt, "-c", *flags, "-I", str(drv / "include"), "-o", str(ko)]
    subprocess.run([*cmd, str(DATA / "demo.c")], check=True)
    mode = "666" if flaw == "FLAW_FILE_MODE" else "644"
    return discover(
        "demo", drv, ko, "include/demo.h", LISTING.format(mode=mode), None, ("/dev/demo",)
    )


def test_every_rule_row_names_a_check_and_a_planted_flaw() -> None:
    assert {r.id for r in RULES} == set(FLAWS)
    for r in RULES:
        assert r.check in CHECKS, r
        assert r.severity in ("high", "medium", "low")
        assert r.description.endswith(".")


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Surface:
    return build(tmp_path_factory.mktemp("clean"), None)


def test_the_clean_module_has_no_finding(clean: Surface) -> None:
    assert findings(clean) == []


@pytest.mark.parametrize("rule_id", list(FLAWS))
def test_rule_finds_its_planted_flaw_and_nothing_in_the_clean_module(
    rule_id: str, clean: Surface, tmp_path: Path
) -> None:
    flawed = build(tmp_path, FLAWS[rule_id])
    row = next(r for r in RULES if r.id == rule_id)
    got = CHECKS[row.check](flawed)
    assert got, f"{rule_id} found nothing in the module with {FLAWS[rule_id]}"
    assert all(f.rule == rule_id for f in got)
    assert CHECKS[row.check](clean) == []
    # Only this rule fires: the flaws are independent of each other.
    assert {f.rule for f in findings(flawed)} == {rule_id}
    # The base had none of it, so the review keeps every one as new.
    assert new_findings(clean, flawed) == got


def _one(s: Surface, rule_id: str) -> Finding:
    got = [f for f in findings(s) if f.rule == rule_id]
    assert len(got) == 1, got
    return got[0]


def test_ioctl_size_names_the_handler_and_its_line(tmp_path: Path) -> None:
    f = _one(build(tmp_path, "FLAW_IOCTL_SIZE"), "ioctl-size")
    assert f.entry == "ioctl:DEMO_IOC_SET_CONFIG"
    assert f.severity == "high"
    assert "demo_ioctl_set_config" in f.message and "16 bytes" in f.message
    assert f.location is not None
    assert f.location.file.endswith("demo.c")
    src = (DATA / "demo.c").read_text().splitlines()
    assert src[f.location.line - 1].startswith("long demo_ioctl_set_config(")


def test_ioctl_locations_are_header_lines(tmp_path: Path) -> None:
    f = _one(build(tmp_path, "FLAW_IOCTL_MAGIC"), "ioctl-magic")
    assert f.location is not None and f.location.file == "include/demo.h"
    lines = (tmp_path / "FLAW_IOCTL_MAGIC" / "include" / "demo.h").read_text().splitlines()
    assert "define DEMO_IOC_RESET" in lines[f.location.line - 1]
    assert "0x78" in f.message and "0xd3" in f.message


def test_ioctl_dir_sees_copies_through_inlined_handlers(tmp_path: Path) -> None:
    """Built as modules are (-O2): the handlers' calls are still credited to them."""
    f = _one(build(tmp_path, "FLAW_IOCTL_DIR", "-O2"), "ioctl-dir")
    assert f.entry == "ioctl:DEMO_IOC_GET_INFO"
    assert "only copies to user" in f.message


def test_user_length_names_the_length_field(tmp_path: Path) -> None:
    f = _one(build(tmp_path, "FLAW_USER_LENGTH"), "ioctl-user-length")
    assert f.entry == "ioctl:DEMO_IOC_ECHO" and f.severity == "low"
    assert "demo_buf.len" in f.message


def test_genl_findings_point_at_the_ops_array(tmp_path: Path) -> None:
    f = _one(build(tmp_path, "FLAW_GENL_PERM"), "genl-no-perm")
    assert f.entry == "genl:demo/cmd2"
    assert f.location is not None
    src = (DATA / "demo.c").read_text().splitlines()
    assert "demo_ops" in src[f.location.line - 1]


def test_file_writable_by_anyone_is_high_by_group_medium(tmp_path: Path) -> None:
    s = build(tmp_path, "FLAW_FILE_MODE")
    f = _one(s, "file-writable")
    assert f.severity == "high" and "0666" in f.message
    import dataclasses

    from rig.review.rules import check_file_writable

    group = dataclasses.replace(
        s,
        spec=dataclasses.replace(
            s.spec, files=tuple(dataclasses.replace(x, mode=0o664) for x in s.spec.files)
        ),
    )
    assert {x.severity for x in check_file_writable(group)} == {"medium"}
