"""Line charts as inline SVG, drawn here so a report needs no script and no network to show them.

Every label is escaped; the numbers are ours, but labels may one day carry
a campaign's name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

MAX_POINTS: Final = 600  # more points than pixels only makes the file bigger
MARKERS_UP_TO: Final = 60  # a point marker each, when there are few


@dataclass(frozen=True)
class Chart:
    title: str
    y_label: str
    points: tuple[tuple[float, float], ...]  # (seconds, value)
    width: int = 380
    height: int = 230


def thin(
    points: Sequence[tuple[float, float]], limit: int = MAX_POINTS
) -> list[tuple[float, float]]:
    """At most `limit` points, evenly spread, always keeping the first and the last."""
    if len(points) <= limit:
        return list(points)
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t < hi + step * 0.999:
        ticks.append(round(t, 10))
        t += step
    return ticks


def short_number(v: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= limit:
            return f"{v / limit:.3g}{suffix}"
    return f"{v:.3g}" if v != int(v) else str(int(v))


def time_unit(seconds: float) -> tuple[float, str]:
    if seconds >= 2 * 3600:
        return 3600.0, "h"
    if seconds >= 180:
        return 60.0, "min"
    return 1.0, "s"


def svg(chart: Chart) -> str:
    """The chart as an <svg> element: axes, ticks, labels, one path and, if few, point markers."""
    pts = thin(chart.points)
    w, h = chart.width, chart.height
    left, right, top, bottom = 58, 14, 28, 44
    pw, ph = w - left - right, h - top - bottom
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    unit, unit_name = time_unit(max(xs))
    xticks = nice_ticks(0.0, max(xs) / unit)
    yticks = nice_ticks(min(0.0, min(ys)), max(ys))
    x0, x1 = xticks[0] * unit, xticks[-1] * unit
    y0, y1 = yticks[0], yticks[-1]

    def px(x: float) -> float:
        return left + (x - x0) / ((x1 - x0) or 1) * pw

    def py(y: float) -> float:
        return top + ph - (y - y0) / ((y1 - y0) or 1) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{w}" '
        f'height="{h}" viewBox="0 0 {w} {h}" aria-label="{escape(chart.title)}">',
        f'<text class="chart-title" x="{left}" y="18">{escape(chart.title)}</text>',
    ]
    for t in yticks:
        y = py(t)
        out.append(
            f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(short_number(t))}</text>"
        )
    for t in xticks:
        x = px(t * unit)
        out.append(
            f'<line class="tickmark" x1="{x:.1f}" y1="{top + ph}" x2="{x:.1f}" y2="{top + ph + 4}"/>'
            f'<text class="tick" x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle">'
            f"{escape(short_number(t))}</text>"
        )
    out.append(
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}"/>'
        f'<line class="axis" x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}"/>'
        f'<text class="axis-label" x="{left + pw / 2:.1f}" y="{h - 6}" text-anchor="middle">'
        f"campaign time ({unit_name})</text>"
        f'<text class="axis-label" x="14" y="{top + ph / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + ph / 2:.1f})">{escape(chart.y_label)}</text>'
    )
    d = " ".join(f"{'M' if i == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for i, (x, y) in enumerate(pts))
    out.append(f'<path class="series" d="{d}"/>')
    if len(pts) <= MARKERS_UP_TO:
        out.extend(
            f'<circle class="point" cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5"/>' for x, y in pts
        )
    out.append("</svg>")
    return "".join(out)
