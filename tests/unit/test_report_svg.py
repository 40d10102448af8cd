"""The report's inline charts: axis ticks cover the data, bars and lines land inside the plot."""

from __future__ import annotations

import itertools
import re

from daemon.monitoring.svg import Series, bar_chart, line_chart, nice_ticks


def test_ticks_cover_every_value_with_round_steps() -> None:
    for low, high in [(-594.84, 210.25), (98_000.0, 100_250.0), (-1.87, 0.0), (5.0, 5.0)]:
        ticks = nice_ticks(low, high)
        assert ticks[0] <= low and ticks[-1] >= high
        steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
        assert len(steps) == 1


def test_bars_stay_inside_the_plot_area() -> None:
    svg = bar_chart(
        "pair-pnl",
        "P&L",
        ["A/B", "C/D"],
        [Series("paper", "#000", [210.25, -594.84]), Series("model", "#111", [13.0, -2.0])],
    )
    bars = re.findall(r'<rect x="[\d.]+" y="([\d.]+)"[^>]*data-series', svg)
    tops = [float(y) for y in bars]
    assert len(tops) == 4 and min(tops) >= 34 - 1e-9  # TOP margin: nothing is drawn over the title
    assert svg.count('data-series="paper"') == 2


def test_an_empty_chart_says_so() -> None:
    svg = line_chart("equity", "Equity", [], [Series("paper", "#000", [])])
    assert "no data yet" in svg and 'data-chart="equity"' in svg
