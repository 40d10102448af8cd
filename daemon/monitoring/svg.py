"""Small inline-SVG charts for the static report: no library, no script, no network.

Each function returns one ``<svg>`` element sized by its viewBox (it scales with the page) with
a ``<title>`` for screen readers and a ``data-chart`` attribute tests can find.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 78, 16, 34, 40


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    color: str
    values: Sequence[float]
    dashed: bool = False


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high - low < 1e-12:
        pad = abs(high) * 0.01 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    ticks = [math.floor(low / step) * step]
    while ticks[-1] < high:  # the last tick is at or above the highest value
        ticks.append(ticks[-1] + step)
    return [round(t, 10) for t in ticks]


def _fmt(value: float, unit: str) -> str:
    if unit == "$":
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    if unit == "%":
        return f"{value:.2f}%"
    return f"{value:g}"


def _frame(kind: str, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" data-chart="{kind}" class="chart">'
        f"<title>{escape(title)}</title>"
        f'<text x="{LEFT}" y="20" class="chart-title">{escape(title)}</text>'
        + "".join(body)
        + "</svg>"
    )


def _y_axis(ticks: list[float], y: object, unit: str) -> list[str]:
    out = []
    for t in ticks:
        py = y(t)  # type: ignore[operator]
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{py:.1f}" y2="{py:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{py + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(_fmt(t, unit))}</text>"
        )
    return out


def line_chart(
    kind: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    unit: str = "$",
    markers: Sequence[tuple[str, str]] = (),
) -> str:
    """Lines over a shared x axis of ``labels`` (session dates), first and last dates shown.
    ``markers``: (label of the x axis, text) drawn as a dashed vertical line (a hand-over)."""
    values = [v for s in series for v in s.values]
    if not labels or not values:
        return _frame(kind, title, ['<text x="50%" y="50%" class="tick">no data yet</text>'])
    ticks = nice_ticks(min(values), max(values))
    low, high = ticks[0], ticks[-1]
    n = len(labels)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - (v - low) / (high - low))

    body = _y_axis(ticks, y, unit)
    for i in sorted({0, n // 2, n - 1}):
        anchor = "start" if i == 0 else ("end" if i == n - 1 else "middle")
        body.append(
            f'<text x="{x(i):.1f}" y="{HEIGHT - 14}" text-anchor="{anchor}" class="tick">'
            f"{escape(labels[i])}</text>"
        )
    where = {label: i for i, label in enumerate(labels)}
    for at, text in markers:
        if at in where:
            mx = x(where[at])
            body.append(
                f'<line x1="{mx:.1f}" y1="{TOP}" x2="{mx:.1f}" y2="{HEIGHT - BOTTOM}" '
                f'stroke="#888" stroke-dasharray="3 3" data-marker="{escape(at)}"/>'
                f'<text x="{mx + 3:.1f}" y="{TOP + 10}" class="tick">{escape(text)}</text>'
            )
    for k, s in enumerate(series):
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(s.values))
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        body.append(
            f'<polyline points="{points}" fill="none" stroke="{s.color}" stroke-width="2"'
            f'{dash} data-series="{escape(s.label)}"/>'
        )
        lx = WIDTH - RIGHT - 84 * (len(series) - k)
        body.append(
            f'<rect x="{lx}" y="10" width="14" height="4" fill="{s.color}"/>'
            f'<text x="{lx + 18}" y="16" class="legend">{escape(s.label)}</text>'
        )
    return _frame(kind, title, body)


def bar_chart(
    kind: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    unit: str = "$",
) -> str:
    """Grouped vertical bars (one group per category) around a zero line."""
    values = [v for s in series for v in s.values]
    if not categories or not values:
        return _frame(kind, title, ['<text x="50%" y="50%" class="tick">no data yet</text>'])
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values))
    low, high = ticks[0], ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(v: float) -> float:
        return TOP + plot_h * (1 - (v - low) / (high - low))

    body = _y_axis(ticks, y, unit)
    group = plot_w / len(categories)
    bar = min(40.0, group * 0.8 / len(series))
    for c, name in enumerate(categories):
        center = LEFT + group * (c + 0.5)
        body.append(
            f'<text x="{center:.1f}" y="{HEIGHT - 14}" text-anchor="middle" class="tick">'
            f"{escape(name)}</text>"
        )
        for k, s in enumerate(series):
            v = s.values[c]
            bx = center - bar * len(series) / 2 + bar * k
            top, bottom = sorted((y(v), y(0.0)))
            body.append(
                f'<rect x="{bx:.1f}" y="{top:.1f}" width="{bar - 2:.1f}" '
                f'height="{max(bottom - top, 0.5):.1f}" fill="{s.color}" '
                f'data-series="{escape(s.label)}"><title>{escape(s.label)} {escape(name)}: '
                f"{escape(_fmt(v, unit))}</title></rect>"
            )
    body.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(0.0):.1f}" y2="{y(0.0):.1f}" class="zero"/>'
    )
    for k, s in enumerate(series):
        lx = WIDTH - RIGHT - 84 * (len(series) - k)
        body.append(
            f'<rect x="{lx}" y="8" width="12" height="8" fill="{s.color}"/>'
            f'<text x="{lx + 16}" y="16" class="legend">{escape(s.label)}</text>'
        )
    return _frame(kind, title, body)
