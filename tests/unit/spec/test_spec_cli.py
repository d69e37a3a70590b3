"""`rig spec import` and `rig spec check` end to end on the bundled driver's declarations."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from rig.cli.spec import cli
from rig.spec.load import load

ROOT = Path(__file__).resolve().parents[3]
DATA = Path(__file__).parent / "data"


def test_import_then_check(tmp_path: Path) -> None:
    out = tmp_path / "b.yaml"
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        "rig-spec: 1\nname: boundary\nfiles:\n"
        "  - {path: /proc/boundary/ctl, mode: 0200, grammar: {commands: [{word: go}]}}\n"
    )
    args = ["import", "--home", str(tmp_path / "home"), "--name", "boundary"]
    args += ["--header", str(ROOT / "driver/include/uapi/boundary.h")]
    args += ["--ynl", str(ROOT / "driver/netlink/boundary.yaml")]
    args += ["--listing", str(DATA / "listing.txt"), "--overlay", str(overlay), "-o", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "gcc agrees" in res.output
    spec = load(out)
    assert [d.path for d in spec.devices] == ["/dev/boundary"]
    assert spec.devices[0].ioctls == tuple(io.name for io in spec.ioctls)
    ctl = next(f for f in spec.files if f.path == "/proc/boundary/ctl")
    assert ctl.grammar.kind == "commands"
    assert out.read_text().startswith("# Generated; do not edit. Regenerate with:\n#   rig spec")
    res = CliRunner().invoke(cli, ["check", "--home", str(tmp_path / "home"), str(out)])
    assert res.exit_code == 0, res.output
    assert "ok: 1 devices" in res.output


def test_check_reports_file_line_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rig-spec: 1\nname: x\ndevices:\n  - {path: /dev/x, ioctls: [NOPE]}\n")
    res = CliRunner().invoke(cli, ["check", "--home", str(tmp_path), str(bad)])
    assert res.exit_code != 0
    assert f"{bad}:4: devices[0]: /dev/x: no ioctl 'NOPE'" in str(res.exception)


def test_import_needs_a_device_for_ioctls(tmp_path: Path) -> None:
    args = ["import", "--home", str(tmp_path), "--name", "boundary", "-o", str(tmp_path / "o")]
    args += ["--header", str(ROOT / "driver/include/uapi/boundary.h")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code != 0
    assert "no device" in str(res.exception)
