"""`rig report`: one self-contained file with every section, guest text escaped and bounded."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_support import CAMPAIGN, SCRIPT, Synthetic

from rig.cli.main import cli as rig_cli
from rig.config import Home
from rig.errors import ConfigError
from rig.report import model
from rig.report.render import render_report


class Tags(HTMLParser):
    """Every start tag and its attributes, and the text, of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(path: Path) -> tuple[str, Tags]:
    html = path.read_text()
    t = Tags()
    t.feed(html)
    return html, t


def test_a_runs_report_has_every_section(synthetic: Synthetic, tmp_path: Path) -> None:
    out = render_report(synthetic.home, str(synthetic.run), tmp_path / "r")
    assert out == tmp_path / "r" / "report.html"
    html, t = parsed(out)
    ids = {a.get("id") for _, a in t.tags}
    for section in ("facts", "progress", "comparison", "buckets", "coverage", "details"):
        assert section in ids, section
    assert f"bucket-{synthetic.hostile}" in ids and f"bucket-{synthetic.quiet}" in ids
    text = "".join(t.text)
    for fact in ("fake-nightly", "rev2", "fakedrv", "bugs=all", "feedfacecafe00000000",
                 "6.1.0-57-amd64 6.1.192-3", "1,440", "64-bit, 32-bit", "atheris"):  # fmt: skip
        assert fact in text, fact
    assert len([tag for tag, a in t.tags if tag == "svg"]) == 3
    # The bucket table: the run's verdicts, k/n, the first found time in campaign seconds.
    assert "new" in text and "fixed" in text and "2/3" in text and "31.0 s" in text
    # Compared with run 1: the hostile bucket is new there, the quiet one gone.
    new = html[html.index('id="new-buckets"') :]
    assert synthetic.hostile in new[: new.index("</ul>")]
    gone = html[html.index('id="gone-buckets"') :]
    assert synthetic.quiet in gone[: gone.index("</ul>")]
    assert "edges +4" in text  # 7 reached now against 3 in run 1
    # History across the config's runs, and the bisection as indented JSON.
    assert '"first_bad": "rev2"' in text
    # Coverage by function.
    assert "alpha" in text and "gamma_cold" in text and "100.0%" in text


def test_guest_text_is_escaped_and_no_script_can_run(synthetic: Synthetic, tmp_path: Path) -> None:
    html, t = parsed(render_report(synthetic.home, str(synthetic.run), tmp_path / "r"))
    assert not [tag for tag, _ in t.tags if tag in ("script", "iframe", "object", "embed")]
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\x1b" not in html and "␛[31mred␛[0m" in html
    assert "<U+202E>evil" in "".join(t.text)  # the bidi override is named, not obeyed
    csp = [
        a for tag, a in t.tags if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp and "default-src 'none'" in (csp[0].get("content") or "")
    # Self-contained: nothing is fetched from anywhere.
    assert not [a for tag, a in t.tags if tag in ("link", "img") or "src" in a]
    assert 'http-equiv="refresh"' not in html  # only served pages reload


def test_a_campaigns_report_has_no_verdicts(synthetic: Synthetic, tmp_path: Path) -> None:
    html, _ = parsed(render_report(synthetic.home, CAMPAIGN, tmp_path / "c"))
    assert 'id="comparison"' not in html
    row = html[html.index(f'<tr><td><a href="#bucket-{synthetic.hostile}"') :]
    row = row[: row.index("</tr>")]
    assert 'class="verdict-—">—<' in row
    # The same by directory.
    again = render_report(synthetic.home.root, synthetic.campaign, tmp_path / "d")
    assert synthetic.hostile in again.read_text()


def test_logs_are_capped_and_the_page_says_so(
    synthetic: Synthetic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model, "CONSOLE_TAIL", 64)
    html = render_report(synthetic.home, CAMPAIGN, tmp_path / "c").read_text()
    assert "truncated: the last 64 of" in html


def test_a_running_campaign_without_summary_reads_its_workers(
    tmp_path: Path, synthetic: Synthetic
) -> None:
    home = Home(tmp_path / "h").ensure()
    camp = home.campaign("live")
    (camp / "workers" / "0").mkdir(parents=True)
    (camp / "campaign.json").write_text(
        json.dumps({"status": "running", "created": 1.0, "options": {}})
    )
    (camp / "workers" / "0" / "stats.json").write_text(json.dumps({"execs": 77}))
    html = render_report(home, "live", tmp_path / "o").read_text()
    assert ">77<" in html and "no progress recorded yet" in html and "no crash bucket yet" in html
    assert "the campaign&#39;s module is unknown" in html


@pytest.mark.parametrize("what", ["99", "nope", "../etc", "/nonexistent/dir"])
def test_an_unknown_subject_is_a_clear_error(
    synthetic: Synthetic, tmp_path: Path, what: str
) -> None:
    with pytest.raises(ConfigError, match=r"run|campaign"):
        render_report(synthetic.home, what, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_rig_report_command(synthetic: Synthetic, tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        rig_cli,
        [
            "--home",
            str(synthetic.home.root),
            "report",
            str(synthetic.run),
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert res.output.strip() == str(tmp_path / "o" / "report.html")
    res = runner.invoke(
        rig_cli, ["--home", str(synthetic.home.root), "report", "12345", "-o", str(tmp_path)]
    )
    assert res.exit_code != 0 and "no run 12345" in str(res.exception)


def test_a_run_whose_campaign_files_are_gone(synthetic: Synthetic, tmp_path: Path) -> None:
    """Retention deletes old campaigns' files; their runs' pages come from the store."""
    html, t = parsed(render_report(synthetic.home, str(synthetic.previous), tmp_path / "p"))
    text = "".join(t.text)
    assert "run 1 (fake-nightly)" in text and "the first run of config fake-nightly" in text
    assert synthetic.quiet in html and "no progress recorded yet" in text
    assert "500" in text  # the run's executions, from the store
