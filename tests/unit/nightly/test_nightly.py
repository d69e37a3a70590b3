"""Nightly runs without VMs: the configuration, the verdicts, JUnit and summary.json."""

from __future__ import annotations

from pathlib import Path

import pytest
from junitparser import JUnitXml

from rig.crash.store import RunVerdict
from rig.errors import ConfigError
from rig.nightly import config as nconfig
from rig.nightly import junit
from rig.nightly.run import SUMMARY_KEYS
from rig.nightly.verdicts import decide, last_verdicts, plan


def _cfg(tmp_path: Path, body: str) -> nconfig.NightlyConfig:
    p = tmp_path / "n.toml"
    p.write_text(body)
    return nconfig.load(p)


def test_the_example_configuration_loads_and_hashes_its_content(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, nconfig.EXAMPLE)
    assert cfg.name == "boundary-nightly"
    assert cfg.driver.dir == (tmp_path / "driver").resolve()
    assert (cfg.campaign.duration_s, cfg.campaign.vms, cfg.campaign.abis) == (1800.0, 2, None)
    assert cfg.fail_on == ("new", "regressed")
    assert cfg.repro.runs == 3
    again = _cfg(tmp_path, "# a comment changes nothing\n" + nconfig.EXAMPLE)
    assert again.hash == cfg.hash
    other = _cfg(tmp_path, nconfig.EXAMPLE.replace('duration = "30m"', 'duration = "1h"'))
    assert other.hash != cfg.hash
    assert nconfig.with_fail_on(cfg, "any").fail_on == nconfig.FAIL_ON
    assert nconfig.with_fail_on(cfg, "never").fail_on == ()
    with pytest.raises(ConfigError, match="--fail-on"):
        nconfig.with_fail_on(cfg, "old")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("version = 1\n", r"\[driver\] needs dir"),
        ("version = 2\n[driver]\ndir = 'd'\n", "version must be an integer in 1..1"),
        ("[driver]\ndir = 'd'\ntypo = 1\n", r"\[driver\] unknown key\(s\) typo"),
        ("[driver]\ndir = 'd'\n[campaign]\nabi = 'mixed'\n", "campaign.abi 'mixed'"),
        ("[driver]\ndir = 'd'\n[campaign]\nduration = 'soon'\n", "soon"),
        ("[driver]\ndir = 'd'\n[campaign]\nengine = 'afl'\n", "unknown engine"),
        ("[driver]\ndir = 'd'\n[output]\nfail_on = ['old']\n", "unknown"),
        ("[driver\n", "not TOML"),
    ],
)
def test_a_bad_configuration_names_the_file_and_the_key(
    tmp_path: Path, body: str, match: str
) -> None:
    with pytest.raises(ConfigError, match=match) as e:
        _cfg(tmp_path, body)
    assert str(tmp_path / "n.toml") in str(e.value)


def _judge(
    seen: dict[str, int],
    history: list[list[RunVerdict]],
    has: set[str],
    repro: dict[str, tuple[int, int]],
) -> dict[str, str]:
    before = last_verdicts(history)
    p = plan(seen, before, dict.fromkeys(has, True), {}, max_new=5)
    return {v.bucket_id: v.verdict for v in decide(p, repro)}


def _run(verdicts: dict[str, str]) -> list[RunVerdict]:
    return [RunVerdict(0, b, v, 1) for b, v in verdicts.items()]


def test_three_nights_new_then_still_and_new_then_fixed_and_still() -> None:
    """The issue's sequence: A on; A and B on; B on with A's fix."""
    n1 = _judge({"A": 3}, [], set(), {"A": (1, 1)})
    assert n1 == {"A": "new"}
    n2 = _judge({"A": 2, "B": 1}, [_run(n1)], {"A"}, {"A": (3, 3), "B": (1, 1)})
    assert n2 == {"A": "still", "B": "new"}
    n3 = _judge({"B": 4}, [_run(n1), _run(n2)], {"A", "B"}, {"A": (0, 3), "B": (2, 3)})
    assert n3 == {"A": "fixed", "B": "still"}
    # A fourth night hits A again: it came back.
    n4 = _judge({"A": 1, "B": 1}, [_run(n1), _run(n2), _run(n3)], {"A", "B"}, {"B": (3, 3)})
    assert n4 == {"A": "regressed", "B": "still"}


def test_fixed_needs_a_reproducer_that_no_longer_crashes() -> None:
    history = [_run({"A": "new", "C": "new", "D": "new"})]
    got = _judge({}, history, {"A", "D"}, {"A": (1, 3), "D": (0, 3)})
    # A: not hit but its reproducer still crashes; C: no reproducer, so never fixed.
    assert got == {"A": "still", "C": "still", "D": "fixed"}
    assert _judge({"A": 1}, history[:1], {"A"}, {"A": (0, 3)})["A"] == "flaky"


def test_only_new_buckets_without_reproducers_are_reproduced_oldest_first() -> None:
    p = plan(
        {"x": 1, "y": 1, "z": 1, "old": 1},
        {"old": "new"},
        {"z": True, "old": True},
        {"x": 20.0, "y": 10.0, "z": 5.0},
        max_new=1,
    )
    assert p.reproduce == ["y"] and p.verify == ["old"]


def test_junit_fails_on_the_configured_verdicts_and_on_idle_doors(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    verdicts = [RunVerdict(1, "a" * 16, "new", 2, 1, 1), RunVerdict(1, "b" * 16, "fixed", 0, 0, 3)]
    titles = {"a" * 16: "BUG: <script>x</script>", "b" * 16: "WARNING in f"}
    doors = {"ioctl": {"calls": 10, "edges": 4}}
    junit.write(path, "n", 1, verdicts, titles, doors, ["ioctl", "netlink"], ["new"], 5.0)
    (suite,) = list(JUnitXml.fromfile(str(path)))
    cases = {c.name: c for c in suite}
    assert cases["BUG: <script>x</script>"].result, "new fails"
    assert not cases["WARNING in f"].result, "fixed does not"
    assert not cases["door ioctl"].result and cases["door netlink"].result
    assert (suite.tests, suite.failures) == (4, 2)


def test_summary_keys_are_documented_once() -> None:
    import rig.nightly.run as run

    doc = Path(run.__file__).read_text()
    for key in SUMMARY_KEYS:
        assert f'"{key}",  #' in doc, key


def test_a_driver_revision_is_exported_without_touching_the_work_tree(tmp_path: Path) -> None:
    import subprocess

    from rig.image.revision import export, subject

    repo = tmp_path / "repo"
    (repo / "drv").mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "drv" / "a.c").write_text("one\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "first"], check=True)
    (repo / "drv" / "a.c").write_text("two\n")
    subprocess.run([*git, "commit", "-qam", "second"], check=True)
    (repo / "drv" / "a.c").write_text("dirty\n")
    out, sha = export(repo / "drv", "HEAD~1", tmp_path / "cache")
    assert (out / "a.c").read_text() == "one\n" and subject(repo / "drv", sha) == "first"
    assert (repo / "drv" / "a.c").read_text() == "dirty\n"
    assert export(repo / "drv", sha, tmp_path / "cache") == (out, sha), "exported once"
    with pytest.raises(ConfigError, match="nosuch"):
        export(repo / "drv", "nosuch", tmp_path / "cache")
    with pytest.raises(ConfigError):
        export(tmp_path / "cache", "HEAD", tmp_path / "cache2")


def test_new_buckets_are_bisected_only_between_two_commits() -> None:
    from rig.nightly.run import bisect_targets

    good, bad = "a" * 40, "b" * 40
    vs = [
        RunVerdict(2, "n1", "new", 1),
        RunVerdict(2, "n2", "new", 1),
        RunVerdict(2, "s", "still", 1),
    ]
    has = {"n1": True, "n2": False, "s": True}
    assert bisect_targets(vs, has, good, bad) == ["n1"], "new, and with a reproducer"
    assert bisect_targets(vs, has, None, bad) == [], "no earlier run"
    assert bisect_targets(vs, has, bad, bad) == [], "the same commit"
    assert bisect_targets(vs, has, "worktree:0123", bad) == [], "a work tree is no commit"
