"""Campaign options: durations, doors and engines are checked, and a resume keeps its options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rig.bugtable import bug_params, fault_param
from rig.campaign.options import (
    CampaignOptions,
    check_resume,
    parse_doors,
    parse_duration,
    parse_engine,
)
from rig.campaign.runner import existing_image
from rig.config import Home
from rig.errors import ConfigError, RigBug
from rig.util import sha256_file


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("1h30m", 5400), ("2h", 7200), ("45", 45)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "30x", "-5", "0", "1m2h", "m"])
def test_malformed_durations_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="duration"):
        parse_duration(bad)


def test_doors() -> None:
    assert parse_doors("ioctl, netlink") == ("ioctl", "netlink")
    with pytest.raises(ConfigError, match=r"unknown door.*usb"):
        parse_doors("ioctl,usb")


def test_engines() -> None:
    assert parse_engine("blind") == "random"
    with pytest.raises(ConfigError, match="unknown engine 'afl'"):
        parse_engine("afl")


def opts() -> CampaignOptions:
    return CampaignOptions(
        "/d", None, "x", 2, 60.0, "atheris", ("ioctl",), 0, "/s.yaml", params="bugs=x"
    )


def test_options_round_trip_through_json() -> None:
    assert CampaignOptions.from_json(opts().to_json()) == opts()


def test_resume_with_conflicting_options_is_refused_with_the_reason() -> None:
    check_resume(opts(), {"engine": "atheris", "duration_s": 10}, Path("/c"))
    with pytest.raises(
        ConfigError, match=r"started with engine='atheris'; refusing .* engine='random'"
    ):
        check_resume(opts(), {"engine": "random"}, Path("/c"))
    with pytest.raises(ConfigError, match="bugs"):
        check_resume(opts(), {"bugs": "other"}, Path("/c"))


REPO_DRIVER = Path(__file__).resolve().parents[3] / "driver"


def test_planted_bugs_go_through_the_parameter_the_bug_table_names(tmp_path: Path) -> None:
    assert fault_param(REPO_DRIVER) == "bugs"
    assert bug_params(REPO_DRIVER, "a,b", "debug=1") == "bugs=a,b debug=1"
    assert bug_params(REPO_DRIVER, "", "debug=1  queues=4") == "debug=1 queues=4"
    other = tmp_path / "other"
    other.mkdir()
    (other / "bugs.toml").write_text('param = "faults"\n[[bug]]\n')
    assert bug_params(other, "x") == "faults=x"
    (other / "bugs.toml").write_text('param = "f; reboot"\n')
    with pytest.raises(ConfigError, match="`param` must name"):
        fault_param(other)
    with pytest.raises(ConfigError, match="--params instead of --driver-bugs"):
        bug_params(tmp_path, "x")
    assert bug_params(tmp_path, "", "a=1") == "a=1", "no bug table needed without bugs"


def test_options_saved_before_params_existed_get_them_from_bugs() -> None:
    saved = {
        "driver": "/d", "module": None, "bugs": "ioctl_unconfigured", "vms": 2,
        "duration_s": 60.0, "engine": "atheris", "doors": ["ioctl"], "seed": 0, "spec": "/s",
    }  # fmt: skip
    assert CampaignOptions.from_json(saved).params == "bugs=ioctl_unconfigured"
    assert CampaignOptions.from_json({**saved, "params": "bugs=x y=1"}).params == "bugs=x y=1"


def _image(home: Home, image_id: str) -> None:
    d = home.images / image_id
    d.mkdir(parents=True)
    sums = {}
    for part in ("vmlinux", "initramfs.cpio"):
        (d / part).write_bytes(part.encode())
        sums[part] = sha256_file(d / part)
    manifest = {"sha256": sums, "module": {"name": "uinput", "driver_dir": "/src/uinput",
                                           "params": ["debug=1"]}}  # fmt: skip
    (d / "manifest.json").write_text(json.dumps(manifest))


def test_an_image_by_id_fixes_driver_module_and_parameters(tmp_path: Path) -> None:
    home = Home(tmp_path).ensure()
    _image(home, "abc123")
    assert existing_image(home, "abc123", None, None, "", "").module == "uinput"
    assert existing_image(home, "abc123", Path("/src/uinput"), "uinput", "", "").id == "abc123"
    for args, match in [
        (("nope", None, None, "", ""), "does not exist"),
        (("../abc123", None, None, "", ""), "not an image id"),
        (("abc123", None, None, "x", ""), "drop --driver-bugs/--params"),
        (("abc123", None, None, "", "a=1"), "drop --driver-bugs/--params"),
        (("abc123", Path("/src/other"), None, "", ""), "built from /src/uinput"),
        (("abc123", None, "boundary", "", ""), "holds module uinput"),
    ]:
        with pytest.raises(ConfigError, match=match):
            existing_image(home, *args)  # type: ignore[arg-type]


def test_options_with_bugs_but_no_parameters_are_a_bug_of_the_caller() -> None:
    with pytest.raises(RigBug, match="no module parameters"):
        CampaignOptions("/d", None, "x", 2, 60.0, "atheris", ("ioctl",), 0, "/s.yaml")
