"""The report and `rig serve` as a person sees them, in Debian's headless chromium.

Each test saves a full-page screenshot under the artifacts directory
(tests/browser.py): report-file.png, serve-index.png, serve-run.png and
serve-campaign.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from report_support import CAMPAIGN, SCRIPT, Synthetic

from rig.report.render import render_report
from tests.browser import Visit, browser, served, visit

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chrome() -> Iterator[object]:
    with browser() as b:
        yield b


def check_plots(v: Visit) -> None:
    charts = v.page.locator("#progress svg.chart")
    assert charts.count() == 3
    for i in range(3):
        chart = charts.nth(i)
        box = chart.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100
        d = chart.locator("path.series").get_attribute("d") or ""
        assert d.count("L") >= 10, d  # a line through the campaign's 13 samples
        assert chart.locator("circle.point").count() == 13
        assert chart.locator("text.axis-label").first.text_content() == "campaign time (s)"
        path_box = chart.locator("path.series").bounding_box()
        assert path_box is not None and path_box["width"] > 100  # drawn, not collapsed


def check_hostile_text(v: Visit, synthetic: Synthetic) -> None:
    """The guest's script tag and terminal escapes are characters on the page, nothing more."""
    page = v.page
    assert v.dialogs == [] and v.errors == []
    assert page.locator("script").count() == 0
    section = page.locator(f"#bucket-{synthetic.hostile}")
    report = section.locator("details.console pre").first.text_content() or ""
    assert f"BUG: {SCRIPT} red in alpha" in report
    # The console log as the serial line carried it: ESC shown as ␛, never obeyed.
    section.locator("details.console summary").nth(1).click()
    log = section.locator("details.console pre").nth(1)
    assert log.is_visible()
    text = log.text_content() or ""
    assert f"BUG: {SCRIPT} ␛[31mred␛[0m in alpha" in text
    assert "\x1b" not in text and "<U+202E>evil" in text
    title = page.locator("#bucket-table td.title").first.text_content() or ""
    assert "<script>alert(NUM)</script>" in title


def check_tables(v: Visit, synthetic: Synthetic, run: bool) -> None:
    page = v.page
    rows = page.locator("#bucket-table tbody tr")
    ids = {
        (rows.nth(i).locator("td").first.text_content() or "").strip() for i in range(rows.count())
    }
    want = {synthetic.hostile, synthetic.quiet} if run else {synthetic.hostile}
    assert ids == want
    hostile = page.locator("#bucket-table tbody tr", has_text=synthetic.hostile)
    cells = [c.strip() for c in hostile.locator("td").all_text_contents()]
    assert cells[3:] == (["2", "31.0 s", "new", "2/3"] if run else ["2", "31.0 s", "—", "—"])
    cov = page.locator("#coverage-table tbody tr")
    names = [(cov.nth(i).locator("td").first.text_content() or "") for i in range(cov.count())]
    assert names == ["alpha", "beta", "gamma_cold"]
    alpha = [c.strip() for c in cov.nth(0).locator("td").all_text_contents()]
    assert alpha[3] == alpha[4] and alpha[5] == "100.0%"


def test_the_report_file(chrome: object, synthetic: Synthetic, tmp_path: Path) -> None:
    out = render_report(synthetic.home, str(synthetic.run), tmp_path)
    v = visit(chrome, out.as_uri())  # type: ignore[arg-type]
    assert v.page.title().startswith("rig: run")
    check_plots(v)
    check_tables(v, synthetic, run=True)
    check_hostile_text(v, synthetic)
    assert v.page.locator("#new-buckets li").count() == 1
    assert v.page.locator("#gone-buckets li").count() == 1
    assert "first_bad" in (v.page.locator("pre.bisect").text_content() or "")
    v.screenshot("report-file")


def test_rig_serve_pages(chrome: object, synthetic: Synthetic) -> None:
    with served(synthetic.home.root) as (url, _proc):
        v = visit(chrome, url)  # type: ignore[arg-type]
        assert v.page.locator("#campaign-table tbody tr").count() == 1
        assert v.page.locator("#run-table tbody tr").count() == 2
        v.screenshot("serve-index")
        v.page.click(f'#run-table a[href="/run/{synthetic.run}"]')
        v.page.wait_for_url(f"{url}run/{synthetic.run}")
        check_plots(v)
        check_tables(v, synthetic, run=True)
        check_hostile_text(v, synthetic)
        assert v.page.locator('meta[http-equiv="refresh"]').count() == 1
        v.screenshot("serve-run")
        v.page.goto(url)
        v.page.click(f'#campaign-table a[href="/campaign/{CAMPAIGN}"]')
        v.page.wait_for_url(f"{url}campaign/{CAMPAIGN}")
        check_tables(v, synthetic, run=False)
        v.screenshot("serve-campaign")
        bad = v.page.goto(f"{url}campaign/..%2f..%2fcrashes.db")
        assert bad is not None and bad.status == 400
        assert "Traceback" not in v.page.content()


def test_rig_serve_elsewhere_warns(synthetic: Synthetic) -> None:
    with served(synthetic.home.root, "--bind", "0.0.0.0") as (url, proc):
        assert url.startswith("http://0.0.0.0:")
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "warning: the pages are unauthenticated" in err
