"""The real-bug table (tests/realbugs/NAME/bug.toml) and how a campaign's buckets are judged."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from rig.bench.realbugs import Finder
from rig.bugtable import load_real
from rig.errors import ConfigError

GOOD = """\
name = "toy_null"
module = "toy"
sources = ["drivers/net/toy.c"]
params = ""
needs = "rtnetlink"
title = "BUG: unable to handle kernel NULL pointer dereference in toy_changelink"
pattern = "BUG: kernel NULL pointer dereference"
trigger = "RTM_NEWLINK type toy, then RTM_NEWLINK changing it without IFLA_TOY_MODE"
fatal = true

[fix]
commit = "0123456789ab"
subject = "toy: check IFLA_TOY_MODE before use"
changelog = "linux (6.1.99-1): toy: check IFLA_TOY_MODE before use"

[interface]
header = "/usr/include/linux/if_link.h"
"""


def _bug(root: Path, name: str, text: str, kbuild: bool = True) -> Path:
    d = root / name
    (d / "driver").mkdir(parents=True)
    if kbuild:
        (d / "driver" / "Kbuild").write_text("obj-m := toy.o\n")
    (d / "bug.toml").write_text(text)
    return d


def test_a_real_bug_reads_with_its_build_and_interface(tmp_path: Path) -> None:
    _bug(tmp_path, "toy_null", GOOD)
    (bug,) = load_real(tmp_path)
    assert (bug.name, bug.module, bug.needs, bug.sources) == (
        "toy_null",
        "toy",
        "rtnetlink",
        ("drivers/net/toy.c",),
    )
    assert bug.header == "/usr/include/linux/if_link.h" and bug.device == ""
    assert bug.driver == tmp_path / "toy_null" / "driver"
    assert bug.fix["commit"] == "0123456789ab"


@pytest.mark.parametrize(
    ("text", "kbuild", "match"),
    [
        (GOOD.replace('needs = "rtnetlink"', 'needs = "magic"'), True, "needs 'magic'"),
        (GOOD.replace('module = "toy"\n', ""), True, "malformed real bug"),
        (GOOD.replace('name = "toy_null"', 'name = "other"'), True, "not its directory's"),
        (GOOD, False, "no driver/Kbuild"),
        (GOOD + "[[", True, "malformed real bug"),
    ],
)
def test_a_broken_table_says_which_file_and_why(
    tmp_path: Path, text: str, kbuild: bool, match: str
) -> None:
    _bug(tmp_path, "toy_null", text, kbuild)
    with pytest.raises(ConfigError, match=match):
        load_real(tmp_path)


def test_no_bugs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no real bugs"):
        load_real(tmp_path)


def test_the_finder_stops_at_the_bug_and_counts_every_other_bucket(tmp_path: Path) -> None:
    _bug(tmp_path, "toy_null", GOOD)
    (bug,) = load_real(tmp_path)
    finder = Finder(bug)
    camp: Any = SimpleNamespace(wall_started=100.0, stop_requested=False)
    other = SimpleNamespace(title="WARNING in toy_open", first_seen=130.0)
    finder(camp, [other])
    assert (finder.found_s, finder.false, camp.stop_requested) == (None, [other.title], False)
    it = SimpleNamespace(title=bug.bug.title, first_seen=142.5)
    finder(camp, [it])
    assert (finder.found_s, camp.stop_requested) == (42.5, True)
