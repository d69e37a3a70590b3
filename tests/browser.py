"""Pages as a person sees them: Debian's chromium, headless, driven by playwright.

Only the system browser is used (`chromium` is installed by
`rig host setup --with-test`, which `make test` runs first): playwright's own
browser download is never needed. A missing browser fails the test with the
command that installs it; browser tests do not skip.

Screenshots (full-page PNGs) go to $RIG_ARTIFACTS/screenshots, by default
artifacts/screenshots/ at the top of the checkout that runs the tests, which
is where CI's run leaves them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page

ROOT = Path(__file__).resolve().parents[1]


def chromium() -> str:
    path = os.environ.get("RIG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            "Debian's chromium is not installed: `rig host setup --with-test` (or "
            "`apt-get install chromium`) installs it for the browser tests"
        )
    return path


def artifacts() -> Path:
    """Where screenshots are kept for whoever looks at a test run afterwards."""
    root = Path(os.environ.get("RIG_ARTIFACTS") or ROOT / "artifacts")
    out = root / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


@contextmanager
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), headless=True)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Visit:
    """A page and what it did that a person would notice: dialogs, page errors."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        path = artifacts() / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000, f"{path} is empty"
        return path


def visit(b: Browser, url: str) -> Visit:
    page = b.new_page(viewport={"width": 1280, "height": 900})
    v = Visit(page)

    def on_dialog(d: Dialog) -> None:
        v.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: v.errors.append(str(e)))
    page.on("console", lambda m: v.console.append(m.text))
    page.goto(url)
    return v


@contextmanager
def served(home: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`rig serve --port 0` on a home, as a user starts it; its URL from its first line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rig", "serve", "--home", str(home), "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"at (http://\S+/)$", line.strip())
        if m is None:
            proc.kill()
            raise AssertionError(f"rig serve said {line!r}; stderr: {proc.communicate()[1]}")
        yield m.group(1), proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
