"""A real campaign seen through `rig serve` while it runs, then through its `rig report` file,
in Debian's headless chromium. Screenshots: vm-serve-live.png, vm-campaign-report.png."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from rig.config import Home
from tests.browser import browser, served, visit
from tests.vm.cli import campaign_buckets, rig, start_fuzz, wait_for_execs

pytestmark = [pytest.mark.vm, pytest.mark.browser]


def _number(text: str | None) -> int:
    return int(re.sub(r"[^0-9]", "", text or "") or 0)


def test_a_live_campaign_and_its_report_in_a_browser(home: Home, tmp_path: Path) -> None:
    name = f"report-{time.strftime('%H%M%S')}"
    camp = home.campaign(name)
    # A planted bug that a short campaign finds, so the table has a real bucket to list.
    proc = start_fuzz(
        home, "--duration", "45s", "--vms", "1", "--driver-bugs", "ioctl_unconfigured",
        "--campaign", name,
    )  # fmt: skip
    try:
        wait_for_execs(camp, 240, slots=1)
        with browser() as b, served(home.root) as (url, _server):
            v = visit(b, f"{url}campaign/{name}")
            assert v.page.locator("#status").text_content() == "running"
            before = _number(v.page.locator("#execs").text_content())
            assert before > 0
            # The page reloads itself (every 5 s) and shows the campaign further on.
            with v.page.expect_event("load", timeout=20_000):
                pass
            assert _number(v.page.locator("#execs").text_content()) >= before
            assert v.dialogs == [] and v.errors == []
            v.screenshot("vm-serve-live")
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, out + err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    res = rig(home, "report", name, "-o", str(tmp_path))
    assert res.returncode == 0, res.stderr
    report = Path(res.stdout.strip())
    assert report == tmp_path / "report.html"
    found = campaign_buckets(home, name)
    with browser() as b:
        v = visit(b, report.as_uri())
        page = v.page
        charts = page.locator("#progress svg.chart")
        assert charts.count() == 3
        for i in range(3):
            d = charts.nth(i).locator("path.series").get_attribute("d") or ""
            assert d.count("L") >= 3, d  # a sample every few seconds for 45 s
        rows = page.locator("#bucket-table tbody tr")
        ids = {
            (rows.nth(i).locator("td").first.text_content() or "").strip()
            for i in range(rows.count())
        }
        assert ids == set(found)
        for bid, count in found.items():
            row = page.locator("#bucket-table tbody tr", has_text=bid)
            assert _number(row.locator("td").nth(3).text_content()) == count
            assert page.locator(f"#bucket-{bid} details.console pre").first.is_visible()
        cov = page.locator("#coverage-table tbody tr")
        assert cov.count() > 10
        names = cov.locator("td:first-child").all_text_contents()
        assert "boundary_ioctl" in names
        reached = sum(_number(t) for t in cov.locator("td:nth-child(5)").all_text_contents())
        assert reached > 50
        assert _number(page.locator("#edges").text_content()) > 100
        assert v.dialogs == [] and v.errors == []
        v.screenshot("vm-campaign-report")
