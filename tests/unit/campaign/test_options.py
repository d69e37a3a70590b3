"""Campaign options: durations, doors and engines are checked, and a resume keeps its options."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.campaign.options import (
    CampaignOptions,
    check_resume,
    parse_doors,
    parse_duration,
    parse_engine,
)
from rig.errors import ConfigError


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
    return CampaignOptions("/d", None, "x", 2, 60.0, "atheris", ("ioctl",), 0, "/s.yaml")


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
