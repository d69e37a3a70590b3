"""Reports as HTML: one self-contained file (`rig report`), or pages of `rig serve`.

The pages are made with jinja2, with autoescaping on for every template:
what the guest printed (console text, titles, programs) reaches the page
only as escaped text, without each call site having to remember to escape
it. jinja2 is the templating library Python web tools use (Flask, Ansible,
Sphinx), and the one a reader of these templates will know.

A page needs nothing but itself: styles are inline, plots are inline SVG
drawn by `rig.report.plots`, and its Content-Security-Policy lets no script
run and nothing be fetched.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

import rig
from rig.config import Home
from rig.crash.store import CrashStore
from rig.report.model import ReportData, Subject, campaign_rows, gather, resolve
from rig.report.plots import svg
from rig.report.text import visible_line
from rig.util import atomic_write


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rig.report", "templates"),
        autoescape=True,  # every template, whatever its name: see the module docstring
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=_when, duration=_duration, num=_num, signed=_signed, seconds=_seconds, percent=_percent
    )
    return env


def _when(t: float | None) -> str:
    if t is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(t))


def _duration(s: float) -> str:
    s = int(s)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _num(n: int | float) -> str:
    return f"{n:,}"


def _signed(n: int) -> str:
    return f"{n:+,}"


def _seconds(s: float | None) -> str:
    return "—" if s is None else f"{s:.1f} s"


def _percent(part: int, whole: int) -> str:
    if not whole:
        return "—"
    return f"{math.floor(1000 * part / whole) / 10:.1f}%"


def html(
    env: jinja2.Environment, data: ReportData, *, refresh_s: int = 0, index_url: str = ""
) -> str:
    """The report page of `data`; `refresh_s` and `index_url` are for `rig serve`."""
    # svg() escapes every label it draws, so its markup goes in as it is.
    charts = [Markup(svg(c)) for c in data.charts]
    return env.get_template("report.html").render(
        r=data,
        charts=charts,
        refresh_s=refresh_s,
        index_url=index_url,
        version=rig.__version__,
        generated=data.generated,
    )


def open_store(home: Home) -> CrashStore | None:
    """The home's crash store, or None when it has none (a report must not create one)."""
    return CrashStore.open(home.root) if home.crash_db.exists() else None


def report_page(home: Home, subject: Subject, *, refresh_s: int = 0, index_url: str = "") -> str:
    store = open_store(home)
    try:
        data = gather(home, subject, store)
    finally:
        if store is not None:
            store.close()
    return html(environment(), data, refresh_s=refresh_s, index_url=index_url)


def render_report(home: Home | Path, subject: str | int | Path, out_dir: Path) -> Path:
    """Write OUT_DIR/report.html for a run (its id) or a campaign (name or directory).

    The file stands alone: it can be mailed, archived as a CI artifact or
    opened from disk without a network. Returns its path.
    """
    h = home if isinstance(home, Home) else Home(Path(home))
    store = open_store(h)
    try:
        subj = resolve(h, str(subject), store)
        data = gather(h, subj, store)
    finally:
        if store is not None:
            store.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "report.html"
    atomic_write(out, html(environment(), data).encode("utf-8"))
    return out


def index_page(home: Home, *, refresh_s: int = 0) -> str:
    """The list of a home's nightly runs and campaigns, newest first."""
    store = open_store(home)
    try:
        runs = list(reversed(store.runs())) if store is not None else []
    finally:
        if store is not None:
            store.close()
    rows: list[dict[str, Any]] = [
        {**asdict(r), "config": visible_line(r.config), "campaign": visible_line(r.campaign)}
        for r in runs[:500]
    ]
    campaigns, note = campaign_rows(home)
    return (
        environment()
        .get_template("index.html")
        .render(
            home=str(home.root),
            runs=rows,
            campaigns=campaigns,
            names={c.name for c in campaigns},
            campaigns_note=note,
            refresh_s=refresh_s,
            index_url="",
            version=rig.__version__,
            generated=time.time(),
        )
    )


def error_page(status: int, reason: str, message: str) -> str:
    return (
        environment()
        .get_template("error.html")
        .render(
            status=status,
            reason=reason,
            message=message,
            refresh_s=0,
            index_url="/",
            version=rig.__version__,
            generated=time.time(),
        )
    )
