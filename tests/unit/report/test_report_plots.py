"""Inline SVG charts: axes, ticks, labels, one path through every point."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from rig.report.plots import Chart, nice_ticks, svg, thin

NS = "{http://www.w3.org/2000/svg}"


def test_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(0, 474, 6) == [0, 100, 200, 300, 400, 500]
    assert nice_ticks(0, 1) == [0.0, 0.5, 1.0]
    ticks = nice_ticks(0, 111.8)
    assert ticks[0] == 0 and ticks[-1] >= 111.8


def test_thin_keeps_both_ends() -> None:
    pts = [(float(i), float(i * i)) for i in range(10_000)]
    out = thin(pts, 600)
    assert len(out) == 600 and out[0] == pts[0] and out[-1] == pts[-1]


def test_chart_is_valid_svg_with_axes_labels_and_a_path() -> None:
    pts = tuple((5.0 * i, float(i * 3)) for i in range(20))
    doc = ET.fromstring(svg(Chart("Coverage <edges>", "edges & more", pts)))
    assert doc.tag == f"{NS}svg"
    texts = [t.text for t in doc.iter(f"{NS}text")]
    assert "Coverage <edges>" in texts and "edges & more" in texts  # escaped, then parsed back
    assert "campaign time (s)" in texts
    assert len(doc.findall(f"{NS}line")) >= 4
    (path,) = doc.findall(f"{NS}path")
    assert len(re.findall(r"[ML]", path.get("d", ""))) == 20
    assert len(doc.findall(f"{NS}circle")) == 20


def test_long_campaigns_use_hours_and_no_markers() -> None:
    pts = tuple((60.0 * i, float(i)) for i in range(1000))
    doc = ET.fromstring(svg(Chart("x", "y", pts)))
    assert "campaign time (h)" in [t.text for t in doc.iter(f"{NS}text")]
    assert not doc.findall(f"{NS}circle")


def test_a_flat_single_point_series_still_draws() -> None:
    doc = ET.fromstring(svg(Chart("x", "y", ((0.0, 0.0),))))
    assert doc.findall(f"{NS}path")
