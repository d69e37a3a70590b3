"""rig bisect without VMs: the search over fake testers, the git side on real throw-away repositories,
and bisect() end to end over a store, a repository and a fake tester."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from repro_support import TITLE, make_image, record

from rig.cli.main import cli as rig_cli
from rig.config import Home
from rig.context import RunContext
from rig.errors import BuildError, ConfigError
from rig.image.build import Image
from rig.prog import text
from rig.prog.program import Buffer, Ioctl, Open, Program
from rig.repro.bisect import (
    BAD,
    GOOD,
    RESULT_FILE,
    SKIP,
    DriverRepo,
    Revision,
    Search,
    Trial,
    VmTester,
    bisect,
    load_target,
    search,
)

TRIGGER = Program((Open("/dev/boundary"), Ioctl(0, 0xC018B703, Buffer.of(b"\x01", size=24))))


def revs(n: int) -> list[Revision]:
    return [Revision(f"{i:040x}", f"commit {i}") for i in range(n)]


@dataclass
class FakeTester:
    """Bad from `first_bad` on (by position in `history`), skipping the revisions in `skips`."""

    history: list[Revision]
    first_bad: int
    skips: set[int] = field(default_factory=set)
    tested: list[int] = field(default_factory=list)

    def test(self, rev: Revision) -> Trial:
        i = self.history.index(rev)
        self.tested.append(i)
        if i in self.skips:
            return Trial(SKIP, reason="does not build: error: expected ';'")
        if i >= self.first_bad:
            return Trial(BAD, 2, 3)
        return Trial(GOOD, 0, 3)


def run_search(n: int, first_bad: int, skips: set[int] | None = None) -> tuple[FakeTester, Search]:
    history = revs(n + 1)  # history[0] is the good endpoint, the rest is the path
    tester = FakeTester(history, first_bad, skips or set())
    return tester, search(history[1:], history[0], tester)


@pytest.mark.parametrize("n", [1, 2, 5, 8, 33])
def test_every_first_bad_commit_is_found_in_logarithmic_steps(n: int) -> None:
    for first_bad in range(1, n + 1):
        tester, res = run_search(n, first_bad)
        assert res.status == "found", res.message
        assert res.first_bad == tester.history[first_bad]
        assert tester.tested[:2] == [n, 0], "both endpoints are checked first"
        search_steps = len(tester.tested) - 2
        assert search_steps <= max(1, (n - 1).bit_length()), tester.tested
        assert len(set(tester.tested)) == len(tester.tested), "no revision is tested twice"


def test_steps_record_role_evidence_and_what_is_left() -> None:
    tester, res = run_search(5, 3)
    steps = res.steps
    assert [s.role for s in steps[:2]] == ["bad", "good"]
    assert all(s.role == "search" for s in steps[2:])
    assert steps[0].trial.crashed == 2 and steps[0].left is None
    assert steps[-1].left == 0
    assert res.message.startswith("first bad commit: " + tester.history[3].sha)


def test_a_skipped_revision_is_stepped_around() -> None:
    # Path 1..5, first bad 4; 2, first in the middle, does not build: 3 and 4 decide.
    tester, res = run_search(5, 4, skips={2})
    assert res.status == "found" and res.first_bad == tester.history[4]
    assert tester.tested[2] == 2, "the skipped revision was the first one tried"
    assert [s.trial.verdict for s in res.steps if s.revision == tester.history[2]] == [SKIP]


def test_skips_next_to_the_change_leave_a_range() -> None:
    # First bad is 3, but 2 and 3 do not build: the bug came in with 2 or 3 (or 4 is first).
    tester, res = run_search(5, 3, skips={2, 3})
    assert res.status == "ambiguous"
    assert res.first_bad is None
    assert res.candidates == tester.history[2:5]
    assert tester.history[1].short in res.message and tester.history[4].short in res.message
    assert "could not be tested" in res.message


def test_a_good_endpoint_that_crashes_stops_the_search() -> None:
    history = revs(5)
    tester = FakeTester(history, first_bad=0)
    res = search(history[1:], history[0], tester)
    assert res.status == "endpoint" and res.first_bad is None
    assert f"--good {history[0].short}" in res.message and "2/3" in res.message
    assert tester.tested == [4, 0], "nothing in between is tested"


def test_a_bad_endpoint_that_does_not_crash_stops_before_the_good_one() -> None:
    history = revs(5)
    tester = FakeTester(history, first_bad=99)
    res = search(history[1:], history[0], tester)
    assert res.status == "endpoint"
    assert f"--bad {history[4].short}" in res.message and "0/3" in res.message
    assert tester.tested == [4]


def test_an_endpoint_that_does_not_build_is_named() -> None:
    history = revs(5)
    tester = FakeTester(history, first_bad=2, skips={0})
    res = search(history[1:], history[0], tester)
    assert res.status == "endpoint"
    assert "--good" in res.message and "could not be tested: does not build" in res.message


# ---------------------------------------------------------------- git


def git(repo: Path, *args: str) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def commit(repo: Path, message: str, files: dict[str, str]) -> str:
    for name, body in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(body)
    git(repo, "add", *files)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, list[str]]:
    """A repository with the driver in drv/: c0 .. c4, c3 turns the bug on."""
    top = tmp_path / "repo"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    shas = [
        commit(top, "add the driver", {"drv/Kbuild": "obj-m := d.o\n", "drv/d.c": "int x;\n"}),
        commit(top, "notes", {"NOTES": "a\n"}),
        commit(top, "tidy the driver", {"drv/d.c": "int x; /* tidy */\n"}),
        commit(top, "turn the bug on", {"drv/d.c": "int x = 1; /* tidy */\n"}),
        commit(top, "more notes", {"NOTES": "b\n"}),
    ]
    return top, shas


def test_driver_repo_finds_its_top_and_prefix(repo: tuple[Path, list[str]]) -> None:
    top, _ = repo
    r = DriverRepo.open(top / "drv")
    assert r.top == top.resolve() and r.prefix == "drv"
    assert DriverRepo.open(top).prefix == ""


def test_bad_input_is_named(repo: tuple[Path, list[str]], tmp_path: Path) -> None:
    top, shas = repo
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ConfigError, match="not in a git work tree"):
        DriverRepo.open(plain)
    with pytest.raises(ConfigError, match="does not exist"):
        DriverRepo.open(tmp_path / "nowhere")
    r = DriverRepo.open(top / "drv")
    with pytest.raises(ConfigError, match=r"--good 'v9\.9': no such commit"):
        r.revision("v9.9", "--good")
    with pytest.raises(ConfigError, match="is not a revision"):
        r.revision("--all", "--bad")
    good, bad = r.revision(shas[3], "--good"), r.revision(shas[1], "--bad")
    with pytest.raises(ConfigError, match="is not an ancestor of --bad"):
        r.first_parent_path(good, bad)
    with pytest.raises(ConfigError, match="the same commit"):
        r.first_parent_path(good, good)


def test_the_path_runs_from_after_good_to_bad(repo: tuple[Path, list[str]]) -> None:
    top, shas = repo
    r = DriverRepo.open(top / "drv")
    path = r.first_parent_path(r.revision(shas[0], "--good"), r.revision("main", "--bad"))
    assert [p.sha for p in path] == shas[1:]
    assert [p.subject for p in path][-1] == "more notes"


def test_a_good_on_a_merged_branch_starts_at_the_merge(repo: tuple[Path, list[str]]) -> None:
    top, shas = repo
    git(top, "checkout", "-q", "-b", "side", shas[1])
    side = commit(top, "side work", {"OTHER": "x\n"})
    git(top, "checkout", "-q", "main")
    git(top, "merge", "-q", "--no-edit", "-m", "merge side", "side")
    merge = git(top, "rev-parse", "HEAD")
    after = commit(top, "after the merge", {"NOTES": "c\n"})
    r = DriverRepo.open(top / "drv")
    path = r.first_parent_path(r.revision(side, "--good"), r.revision(after, "--bad"))
    assert [p.sha for p in path] == [merge, after]


def test_export_is_the_driver_at_that_revision_and_leaves_the_work_tree(
    repo: tuple[Path, list[str]], tmp_path: Path
) -> None:
    top, shas = repo
    (top / "drv" / "d.c").write_text("local edit\n")
    r = DriverRepo.open(top / "drv")
    cache = tmp_path / "cache"
    out = r.export(r.revision(shas[2], "--good"), cache)
    assert out == cache / "revisions" / shas[2] / "drv"
    assert (out / "d.c").read_text() == "int x; /* tidy */\n"
    assert sorted(p.name for p in out.iterdir()) == ["Kbuild", "d.c"]
    assert r.export(r.revision(shas[2], "--good"), cache) == out, "exported once"
    assert (top / "drv" / "d.c").read_text() == "local edit\n"
    assert git(top, "status", "--porcelain") == "M drv/d.c"
    assert sorted(p.name for p in (cache / "revisions").iterdir()) == [shas[2]]


# ---------------------------------------------------------------- bisect() end to end


@dataclass
class ShaTester:
    """Bad for the revisions whose sha is in `bad`."""

    bad: set[str]
    tested: list[str] = field(default_factory=list)

    def test(self, rev: Revision) -> Trial:
        self.tested.append(rev.sha)
        return Trial(BAD, 1, 2) if rev.sha in self.bad else Trial(GOOD, 0, 2)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home").ensure()


def bucket_with_reproducer(home: Home) -> str:
    bid = record(home, make_image(home), [TRIGGER])
    text.dump(home.root / "crashes" / bid / "repro.prog", TRIGGER)
    return bid


def test_bisect_names_the_commit_and_records_it(home: Home, repo: tuple[Path, list[str]]) -> None:
    top, shas = repo
    bid = bucket_with_reproducer(home)
    tester = ShaTester(set(shas[3:]))
    seen: list[str] = []
    res = bisect(
        RunContext(home),
        bid[:6],
        top / "drv",
        shas[0],
        "main",
        runs=2,
        tester=tester,
        on_step=lambda s: seen.append(s.revision.sha),
    )
    assert res.found and res.search.first_bad is not None
    assert res.search.first_bad.sha == shas[3]
    assert res.title == TITLE and res.params == "bugs=ioctl_unconfigured"
    assert seen == tester.tested and tester.tested[:2] == [shas[4], shas[0]]
    assert [s.revision.sha for s in res.evidence()] == sorted(
        tester.tested, key=lambda s: shas.index(s)
    )
    saved = json.loads((home.root / "crashes" / bid / RESULT_FILE).read_text())
    assert saved["first_bad"]["sha"] == shas[3] and saved["status"] == "found"
    assert saved["good"]["sha"] == shas[0] and saved["bad"]["sha"] == shas[4]
    assert saved["runs"] == 2 and saved["first_parent"] is True
    assert {s["verdict"] for s in saved["steps"]} == {"good", "bad"}


def test_an_endpoint_disagreement_records_nothing(home: Home, repo: tuple[Path, list[str]]) -> None:
    top, shas = repo
    bid = bucket_with_reproducer(home)
    res = bisect(RunContext(home), bid, top / "drv", shas[0], shas[4], tester=ShaTester(set(shas)))
    assert not res.found and res.search.status == "endpoint"
    assert "--good" in res.search.message
    assert not (home.root / "crashes" / bid / RESULT_FILE).exists()


def test_a_bucket_without_a_reproducer_or_an_unknown_one_is_refused(
    home: Home, repo: tuple[Path, list[str]]
) -> None:
    top, shas = repo
    tester = ShaTester(set())
    with pytest.raises(ConfigError, match="has no crash store"):
        bisect(RunContext(home), "abcd", top / "drv", shas[0], shas[4], tester=tester)
    bid = record(home, make_image(home), [TRIGGER])
    with pytest.raises(ConfigError, match=r"no reproducer .* run `rig repro"):
        bisect(RunContext(home), bid, top / "drv", shas[0], shas[4], tester=tester)
    with pytest.raises(ConfigError, match="no crash bucket 'ffff'"):
        bisect(RunContext(home), "ffff", top / "drv", shas[0], shas[4], tester=tester)
    assert tester.tested == []


def invoke(home: Home, *args: str) -> tuple[int, str]:
    out = CliRunner().invoke(rig_cli, ["--home", str(home.root), "bisect", *args])
    msg = out.output + (str(out.exception) if out.exception else "")
    return out.exit_code, msg


def test_the_cli_refuses_bad_input_before_any_vm(
    home: Home, repo: tuple[Path, list[str]], tmp_path: Path
) -> None:
    top, shas = repo
    bid = bucket_with_reproducer(home)
    drv = str(top / "drv")
    cases: list[tuple[list[str], Callable[[str], bool]]] = [
        (["ffff", "--good", shas[0], "--bad", shas[4], "--driver", drv], lambda m: "ffff" in m),
        (["--good", shas[0], "--bad", "nope", "--driver", drv], lambda m: "'nope'" in m),
        (["--good", shas[4], "--bad", shas[0], "--driver", drv], lambda m: "ancestor" in m),
        (
            ["--good", shas[0], "--bad", shas[4], "--driver", str(tmp_path)],
            lambda m: "git work tree" in m,
        ),
    ]
    for args, ok in cases:
        if args[0] == "--good":
            args = [bid, *args]
        code, msg = invoke(home, *args)
        assert code != 0 and ok(msg), (args, msg)


def test_the_cli_prints_each_step_the_answer_and_json_last(
    home: Home, repo: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    top, shas = repo
    bid = bucket_with_reproducer(home)

    @dataclass
    class Fake:
        """Stands in for VmTester: the bug is on from shas[3]."""

        ctx: object
        host: object
        repo: object
        target: object
        runs: int
        campaign: str

        def test(self, rev: Revision) -> Trial:
            bad = shas.index(rev.sha) >= 3
            return Trial(BAD, self.runs, self.runs) if bad else Trial(GOOD, 0, self.runs)

    monkeypatch.setattr("rig.repro.bisect.VmTester", Fake)
    monkeypatch.setattr("rig.context.RunContext.open", lambda self: _Closable())
    code, out = invoke(
        home, bid, "--good", shas[0], "--bad", shas[4], "--driver", str(top / "drv"),
        "--runs", "2", "--json",
    )  # fmt: skip
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith(f"bisecting bucket {bid}") and "4 commit(s)" in lines[0]
    assert lines[1].split()[:5] == ["--bad", shas[4][:12], "2/2", "crashed", "bad"]
    assert lines[2].split()[:5] == ["--good", shas[0][:12], "0/2", "crashed", "good"]
    assert f"first bad commit: {shas[3]} turn the bug on" in lines
    result = json.loads(lines[-1])
    assert result["first_bad"]["sha"] == shas[3] and result["runs"] == 2
    assert [s["sha"] for s in result["steps"]][:2] == [shas[4], shas[0]]

    code, out = invoke(home, bid, "--good", shas[3], "--bad", shas[4], "--driver", str(top / "drv"))
    assert code == 1 and "a good endpoint must not" in out and "3/3" in out


class _Closable:
    def close(self) -> None:
        pass


def test_a_revision_without_the_driver_does_not_build(tmp_path: Path) -> None:
    top = tmp_path / "late"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    before = commit(top, "notes only", {"NOTES": "a\n"})
    commit(top, "add the driver", {"drv/Kbuild": "obj-m := d.o\n"})
    r = DriverRepo.open(top / "drv")
    with pytest.raises(BuildError, match="has no files at"):
        r.export(r.revision(before, "--good"), tmp_path / "cache")


def test_a_revision_is_built_as_the_crash_was_sharing_its_image(
    home: Home, repo: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No module named first (as `rig fuzz` builds), then by name; another module is refused."""
    top, _ = repo
    bid = bucket_with_reproducer(home)
    calls: list[str | None] = []
    several = True

    def build_image(
        self: RunContext, driver: Path, module: str | None, params: str, **kw: object
    ) -> Image:
        calls.append(module)
        assert params in ("bugs=ioctl_unconfigured", "") and kw["coverage"] is True
        if module is None and several:
            raise ConfigError("builds several modules (boundary, other): pick one with --module")
        return make_image(home, "img-" + str(module))

    monkeypatch.setattr(RunContext, "build_image", build_image)
    host: Any = None  # building needs no VM
    tester = VmTester(
        RunContext(home), host, DriverRepo.open(top / "drv"), load_target(home, bid), 1, "t"
    )
    assert tester.build(top / "drv").id == "img-boundary" and calls == [None, "boundary"]
    several = False
    calls.clear()
    assert tester.build(top / "drv").id == "img-None" and calls == [None]
    other = replace(tester.target, manifest={"module": {"name": "other", "params": []}})
    with pytest.raises(ConfigError, match="builds module boundary, the crash ran other"):
        replace(tester, target=other).build(top / "drv")
