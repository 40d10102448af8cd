"""The report pictures are written as real PNGs, for one or several pairs, and the heatmap copes
with single-valued axes and undefined Sharpe values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from research.data.market_data import align_closes
from research.report.plots import pair_series, plot_sharpe_heatmap, write_report_plots
from shared.simulation import simulate
from shared.strategy import Action, StrategyParams
from tests.parity import synthetic_pairs as sp

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5_000


def test_report_plots_are_written_for_every_pair_and_the_grid(tmp_path: Path) -> None:
    ds = sp.portfolio(2, n_pairs=2, n_bars=200)
    data = align_closes(ds.prices, ds.tickers)
    results = pd.DataFrame(
        [
            {
                "window": w,
                "entry_z": e,
                "exit_z": 0.5,
                "delta": 1e-5,
                "R": 0.001,
                "stop_z": 4.0,
                "stake": k,
                "long_only": lo,
                "sharpe_ratio": 0.01 * w * k - e if k != 50 else np.nan,
            }
            for w in (30, 45)
            for e in (2.0, 2.5)
            for k in (25, 50)
            for lo in (False, True)
        ]
    )
    params = StrategyParams(window=30, entry_z=2.0)
    paths = write_report_plots(data, ds.pairs, params, results, tmp_path)
    names = sorted(p.name for p in paths)
    assert names == [
        "equity_curve.png",
        "kalman_beta.png",
        "sharpe_heatmap.png",
        "zscore_P0A_P0B.png",
        "zscore_P1A_P1B.png",
    ]
    assert all(is_png(p) for p in paths)


def test_heatmap_with_one_configuration_still_draws(tmp_path: Path) -> None:
    one = pd.DataFrame(
        [
            {
                "window": 60,
                "entry_z": 2.5,
                "exit_z": 0.5,
                "delta": 1e-5,
                "R": 0.001,
                "stop_z": 3.5,
                "stake": 25,
                "long_only": False,
                "sharpe_ratio": np.nan,
            }
        ]
    )
    assert is_png(plot_sharpe_heatmap(one, tmp_path / "h.png"))


def test_pair_series_marks_the_bars_where_the_strategy_acted() -> None:
    ds = sp.single_pair(1, n_bars=200)
    data = align_closes(ds.prices, ds.tickers)
    params = StrategyParams(window=30, entry_z=2.0)
    sim = simulate(data.closes, data.symbols, ds.pairs, params)
    (series,) = pair_series(sim, ds.pairs)
    assert len(series.z) == data.n_bars and np.isnan(series.z[: params.window - 1]).all()
    entries = [
        i for i, a in enumerate(series.actions) if a in (Action.ENTER_LONG, Action.ENTER_SHORT)
    ]
    assert entries and all(abs(series.z[i]) > params.entry_z for i in entries)
    fill_bars = {f.bar for f in sim.fills}
    assert all(i + 1 in fill_bars for i in entries if i + 1 < data.n_bars)
