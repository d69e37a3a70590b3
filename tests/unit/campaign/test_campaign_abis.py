"""A campaign's ABIs fit its image: one without the 32-bit guest agent runs 64-bit programs only."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rig.campaign.options import CampaignOptions
from rig.campaign.runner import fit_abis
from rig.errors import ConfigError
from rig.image.build import Image


def own_compat() -> list[str]:
    return ["uinput_compat_ioctl"]


def test_an_image_without_the_32bit_agent_runs_64bit_programs_only(tmp_path: Path) -> None:
    opts = CampaignOptions("/d", None, "", 2, 60.0, "atheris", ("ioctl",), 0, "/s.yaml")
    with_agent32 = Image(tmp_path / "new", {"module": {"name": "uinput"}, "agent32": True})
    before_it = Image(tmp_path / "old", {"module": {"name": "uinput"}})
    assert with_agent32.agent32 and not before_it.agent32
    assert fit_abis(opts, with_agent32, own_compat).abis == (64, 32)
    chosen = fit_abis(opts, before_it, own_compat)
    assert chosen.abis == (64,)
    assert chosen.abi_reason == "64-bit programs only: image old has no 32-bit guest agent"
    with pytest.raises(ConfigError, match=r"image old has no 32-bit guest agent.*--abi 64"):
        fit_abis(replace(opts, abis=(64, 32)), before_it, own_compat)
    assert fit_abis(replace(opts, abis=(64,)), before_it, own_compat).abis == (64,)
    assert fit_abis(replace(opts, abis=(32,)), with_agent32, own_compat).abis == (32,)
