"""A driver at a revision: the commit that last touched a file, and a file's text then."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rig.errors import ConfigError
from rig.image import revision


def _git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t"}
    env |= {"GIT_COMMITTER_EMAIL": "t@e"}
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_last_change_and_show_read_history_without_a_checkout(tmp_path: Path) -> None:
    top = tmp_path / "repo"
    (top / "drv").mkdir(parents=True)
    _git(top, "init", "-q", "-b", "main")
    (top / "drv" / "hooks.c").write_text("int hooks;\n")
    (top / "drv" / "d.c").write_text("int d;\n")
    _git(top, "add", ".")
    _git(top, "commit", "-q", "-m", "with hooks")
    _git(top, "rm", "-q", "drv/hooks.c")
    _git(top, "commit", "-q", "-m", "hooks dropped")
    dropped = _git(top, "rev-parse", "HEAD")
    (top / "drv" / "d.c").write_text("int d2;\n")
    _git(top, "commit", "-q", "-am", "later")
    assert revision.last_change(top / "drv", "drv/hooks.c") == dropped
    assert revision.show(top / "drv", f"{dropped}^", "drv/hooks.c") == "int hooks;\n"
    assert revision.show(top / "drv", dropped, "drv/d.c") == "int d;\n"
    with pytest.raises(ConfigError, match="no commit"):
        revision.last_change(top / "drv", "drv/never.c")
