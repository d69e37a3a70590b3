"""A driver the rig did not write, through the README's commands: an in-tree module with coverage.

uinput (drivers/input/misc/uinput.c) is taken from Debian's linux-source of
the guest's kernel, built with rigcov's hooks, its spec imported from the
system's UAPI header, and fuzzed: coverage must come from rigcov, and a
stock module must give no kernel bucket.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rig.config import Home
from tests.vm.cli import fuzz, rig

pytestmark = pytest.mark.vm

UINPUT_H = Path("/usr/include/linux/uinput.h")


def test_an_in_tree_module_is_fuzzed_with_coverage(home: Home, tmp_path: Path) -> None:
    drv, spec = tmp_path / "uinput", tmp_path / "uinput.yaml"
    got = rig(home, "image", "intree", "drivers/input/misc/uinput.c", "-o", str(drv), timeout=900)
    assert got.returncode == 0, got.stderr
    assert (drv / "drivers/input/input-compat.h").exists(), "its relative include came along"

    got = rig(home, "image", "build", "--driver", str(drv))
    assert got.returncode == 0, got.stderr
    assert "module uinput" in got.stdout and "no coverage" not in got.stdout, got.stdout

    got = rig(
        home, "spec", "import", "--name", "uinput", "--header", str(UINPUT_H),
        "--device", "/dev/uinput", "--module", "uinput", "-o", str(spec),
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert "gcc agrees" in got.stdout and "DWARF agrees" in got.stdout, got.stdout

    name = f"uinput-{time.strftime('%H%M%S')}"
    got = fuzz(
        home, "--driver", str(drv), "--spec", str(spec), "--duration", "75s", "--vms", "2",
        "--campaign", name,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr + got.stdout
    summary = json.loads((home.campaign(name) / "summary.json").read_text())
    assert summary["execs"] > 200
    assert summary["edges"] > 20 and summary["warnings"] == [], summary["warnings"]
    assert summary["buckets"] == [], "no false kernel bucket on a stock module"


def test_an_in_tree_link_driver_is_fuzzed_through_rtnetlink(home: Home, tmp_path: Path) -> None:
    """dummy registers a link kind and nothing else: the rig finds the kind and drives links."""
    drv, spec = tmp_path / "dummy", tmp_path / "dummy.yaml"
    got = rig(home, "image", "intree", "drivers/net/dummy.c", "-o", str(drv), timeout=900)
    assert got.returncode == 0, got.stderr
    got = rig(home, "image", "build", "--driver", str(drv))
    assert got.returncode == 0, got.stderr

    got = rig(home, "spec", "import", "--name", "dummy", "--module", "dummy", "-o", str(spec))
    assert got.returncode == 0, got.stderr
    assert "rtnetlink link kinds dummy" in got.stdout, got.stdout

    name = f"dummy-{time.strftime('%H%M%S')}"
    got = fuzz(
        home, "--driver", str(drv), "--spec", str(spec), "--duration", "60s", "--vms", "1",
        "--campaign", name,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr + got.stdout
    summary = json.loads((home.campaign(name) / "summary.json").read_text())
    links = summary["links"]
    assert links.get("create", 0) > 0 and links.get("delete", 0) > 0, links
    assert links.get("change", 0) + links.get("updown", 0) > 0, links
    assert summary["edges"] > 5 and summary["warnings"] == [], summary
    assert summary["buckets"] == [], "no false kernel bucket on a stock module"
