"""`rig review`'s refusals: each a one-line error before anything is built or booted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rig.cli.main import COMMANDS
from rig.cli.review import cli, parse_fail_on
from rig.errors import ConfigError


def git_driver(tmp: Path, commits: int = 2) -> Path:
    drv = tmp / "repo" / "drv"
    drv.mkdir(parents=True)
    # No GIT_* of the caller's (an index file, a work tree) may leak into this repository.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    subprocess.run(["git", "init", "-q", str(drv.parent)], check=True, env=env)
    for i in range(commits):
        (drv / "x.c").write_text(f"int x = {i};\n")
        subprocess.run(["git", "-C", str(drv), "add", "x.c"], check=True, env=env)
        subprocess.run(["git", "-C", str(drv), "commit", "-qm", f"c{i}"], check=True, env=env)
    return drv


def refuse(tmp: Path, *args: str) -> str:
    res = CliRunner().invoke(cli, ["--home", str(tmp / "home"), *args])
    assert isinstance(res.exception, ConfigError), (res.output, res.exception)
    assert not (tmp / "home" / "images").exists() or not any((tmp / "home" / "images").iterdir())
    return str(res.exception)


def test_registered() -> None:
    assert "review" in COMMANDS


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("crash,high", ("crash", "high")),
        ("never", ()),
        ("medium", ("medium",)),
        (" crash , low ", ("crash", "low")),
    ],
)
def test_fail_on(value: str, want: tuple[str, ...]) -> None:
    assert parse_fail_on(value) == want


@pytest.mark.parametrize("value", ["", "crash,bogus", "never,crash", "HIGH"])
def test_fail_on_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="--fail-on"):
        parse_fail_on(value)


def test_needs_revisions_or_directories(tmp_path: Path) -> None:
    msg = refuse(tmp_path)
    assert "--driver DIR with --base REV and --head REV" in msg
    drv = git_driver(tmp_path)
    assert "--base REV" in refuse(tmp_path, "--driver", str(drv), "--head", "HEAD")


def test_both_directories_or_none(tmp_path: Path) -> None:
    assert "both --base-dir and --head-dir" in refuse(tmp_path, "--base-dir", str(tmp_path))
    msg = refuse(
        tmp_path, "--base-dir", str(tmp_path), "--head-dir", str(tmp_path), "--base", "HEAD"
    )
    assert "drop them" in msg
    missing = tmp_path / "nope"
    msg = refuse(tmp_path, "--base-dir", str(tmp_path), "--head-dir", str(missing))
    assert f"{missing} is not a directory" in msg


def test_unknown_or_equal_revisions(tmp_path: Path) -> None:
    drv = git_driver(tmp_path)
    msg = refuse(tmp_path, "--driver", str(drv), "--base", "nosuchrev", "--head", "HEAD")
    assert "nosuchrev" in msg
    msg = refuse(tmp_path, "--driver", str(drv), "--base", "HEAD", "--head", "HEAD~0")
    assert "same commit" in msg


def test_not_a_git_tree(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    msg = refuse(tmp_path, "--driver", str(plain), "--base", "a", "--head", "b")
    assert "git" in msg


def test_header_must_be_relative(tmp_path: Path) -> None:
    drv = git_driver(tmp_path)
    args = ["--driver", str(drv), "--base", "HEAD~1", "--head", "HEAD", "--header", "/x.h"]
    assert "relative to the driver directory" in refuse(tmp_path, *args)


def test_bad_budget_and_fail_on_exit_2_with_one_line(tmp_path: Path) -> None:
    drv = git_driver(tmp_path)
    base = [sys.executable, "-m", "rig", "review", "--home", str(tmp_path / "home")]
    base += ["--driver", str(drv), "--base", "HEAD~1", "--head", "HEAD"]
    done = subprocess.run([*base, "--fail-on", "sometimes"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("rig: error: --fail-on 'sometimes'")
    assert len(done.stderr.strip().splitlines()) == 1
    done = subprocess.run([*base, "--budget", "soon"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "budget" in done.stderr
