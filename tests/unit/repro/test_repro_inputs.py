"""`rig repro` inputs: a bucket, a crash directory, a program file; every bad input named clearly."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from repro_support import DRIVER, TITLE, make_image, record

from rig.config import Home
from rig.crash.store import CrashStore
from rig.errors import ConfigError
from rig.prog import text
from rig.prog.program import Buffer, Ioctl, Open, Program
from rig.repro import inputs

XFER = 0xC018B703
NOISE = Program((Open("/dev/boundary"), Ioctl(0, 0x8038B701, Buffer.of(size=56))))
TRIGGER = Program((Open("/dev/boundary"), Ioctl(0, XFER, Buffer.of(size=24))))


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home").ensure()


def test_a_bucket_prefix_gives_its_newest_crash_with_the_console_marker(home: Home) -> None:
    image = make_image(home)
    bid = record(home, image, [NOISE, NOISE, TRIGGER, NOISE], last=3)
    inp = inputs.load(home, bid[:6])
    assert inp.bucket_id == bid and inp.title == TITLE
    assert [e.seq for e in inp.entries] == [1, 2, 3, 4]
    assert inp.last_seq == 3, "the marker printed after the report does not count"
    assert inp.image.id == "img0" and inp.out_dir == home.root / "crashes" / bid
    assert inp.header.driver_hash == DRIVER


def test_the_crash_directory_and_its_program_file_name_the_same_crash(home: Home) -> None:
    image = make_image(home)
    bid = record(home, image, [TRIGGER])
    bdir = home.root / "crashes" / bid
    assert inputs.load(home, str(bdir)).bucket_id == bid
    inp = inputs.load(home, str(bdir / "prog0"))
    assert inp.bucket_id == bid and inp.entries[0].file.program == TRIGGER


def test_a_loose_program_file_needs_an_image(home: Home, tmp_path: Path) -> None:
    make_image(home)
    prog = tmp_path / "p.prog"
    text.dump(prog, TRIGGER)
    with pytest.raises(ConfigError, match="needs --image"):
        inputs.load(home, str(prog))
    inp = inputs.load(home, str(prog), image="img0")
    assert inp.title is None and inp.out_dir == tmp_path / "p-repro"


def test_a_copied_crash_directory_uses_its_manifest_file(home: Home, tmp_path: Path) -> None:
    image = make_image(home)
    bid = record(home, image, [TRIGGER])
    copy = tmp_path / "copy"
    shutil.copytree(home.root / "crashes" / bid, copy)
    with pytest.raises(ConfigError, match=r"no manifest\.json"):
        inputs.load(home, str(copy))
    (copy / "manifest.json").write_text(__import__("json").dumps(image.manifest))
    inp = inputs.load(home, str(copy))
    assert inp.bucket_id is None and inp.title == TITLE


def test_missing_image_is_named_with_how_to_rebuild_it(home: Home) -> None:
    image = make_image(home)
    bid = record(home, image, [TRIGGER])
    shutil.rmtree(image.dir)
    with pytest.raises(ConfigError) as e:
        inputs.load(home, bid)
    msg = str(e.value)
    assert "image img0" in msg and "no longer exists" in msg and "bugs=ioctl_unconfigured" in msg


def test_corrupt_image_is_named(home: Home) -> None:
    image = make_image(home)
    bid = record(home, image, [TRIGGER])
    (image.dir / "vmlinux").write_bytes(b"changed")
    with pytest.raises(ConfigError, match="img0 is corrupt: vmlinux"):
        inputs.load(home, bid)


def test_an_image_for_other_parameters_is_refused(home: Home) -> None:
    image = make_image(home)
    bid = record(home, image, [TRIGGER])
    other = make_image(home, "img1")
    manifest = dict(other.manifest, module=dict(other.manifest["module"], params=["bugs=all"]))
    (other.dir / "manifest.json").write_text(__import__("json").dumps(manifest))
    with pytest.raises(ConfigError, match=r"module\.params is \['bugs=all'\]"):
        inputs.load(home, bid, image="img1")


def test_program_for_another_driver_version_names_both_hashes(home: Home) -> None:
    image = make_image(home)
    bid = record(home, image, [TRIGGER], header=text.Header(driver_hash="ab" * 32))
    with pytest.raises(ConfigError) as e:
        inputs.load(home, bid)
    assert "ab" * 32 in str(e.value) and DRIVER in str(e.value) and "prog0" in str(e.value)


def test_missing_program_file_is_named(home: Home) -> None:
    image = make_image(home)
    bid = record(home, image, [TRIGGER])
    (home.root / "crashes" / bid / "prog0").unlink()
    with pytest.raises(ConfigError, match=rf"crashes/{bid}/prog0 is missing"):
        inputs.load(home, bid)


def test_corrupt_program_file_names_file_line_and_call(home: Home) -> None:
    image = make_image(home)
    bid = record(home, image, [NOISE, TRIGGER])
    prog = home.root / "crashes" / bid / "prog0"
    prog.write_text(prog.read_text().replace("ioctl(r0, 0xc018b703", "ioctl(r7, 0xc018b703"))
    with pytest.raises(ConfigError, match=r"prog0 \(program 2\):\d+: call 1 \(ioctl\)"):
        inputs.load(home, bid)


def test_missing_console_log_is_named(home: Home) -> None:
    image = make_image(home)
    bid = record(home, image, [TRIGGER])
    (home.root / "crashes" / bid / "log0").unlink()
    with pytest.raises(ConfigError, match="log0 is missing"):
        inputs.load(home, bid)


def test_a_crash_without_programs_cannot_be_replayed(home: Home) -> None:
    image = make_image(home)
    from repro_support import console_with_markers

    from rig.crash.parse import parse_first

    console = console_with_markers(1)
    report = parse_first(console)
    assert report is not None
    with CrashStore.open(home.root) as store:
        bid = store.record(report, console, None, "t", "vm", image.manifest).bucket_id
    with pytest.raises(ConfigError, match="nothing to replay"):
        inputs.load(home, bid)


def test_unknown_bucket_or_path(home: Home) -> None:
    with pytest.raises(ConfigError, match="has no crash store"):
        inputs.load(home, "deadbeef")
    CrashStore.open(home.root).close()
    with pytest.raises(ConfigError, match="neither a crash directory"):
        inputs.load(home, "deadbeef")


def test_rig_repro_prints_one_error_line(home: Home) -> None:
    image = make_image(home)
    bid = record(home, image, [TRIGGER])
    shutil.rmtree(image.dir)
    proc = subprocess.run(
        [sys.executable, "-m", "rig", "--home", str(home.root), "repro", bid[:8]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rig: error:") and "img0" in lines[0]


def test_program_log_text_without_records_is_one_program(tmp_path: Path) -> None:
    p = tmp_path / "one.prog"
    text.dump(p, TRIGGER)
    assert [e.file.program for e in inputs.read_programs(p)] == [TRIGGER]
    p.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        inputs.read_programs(p)
