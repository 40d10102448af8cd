"""Inputs of the benchmarks: a real price file when given, else deterministic synthetic data of
the same shape (tickers on a factor model, some pairs cointegrated so the strategy trades)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from research.data.prices import read_wide_csv
from research.search.grid import Grid

# ~2,000 configs: 5 windows x 4 entries x 4 exits x 4 stops x 3 stakes x 2 sides = 1,920.
SWEEP_GRID = Grid(
    window=(20, 30, 45, 60, 90),
    entry_z=(1.5, 2.0, 2.5, 3.0),
    exit_z=(0.0, 0.25, 0.5, 0.75),
    stop_z=(3.5, 4.0, 4.5, 5.0),
    stake=(25, 50, 75),
    long_only=(False, True),
)


def synthetic_universe(n_tickers: int, n_bars: int, seed: int = 11) -> pd.DataFrame:
    """Closes of ``n_tickers`` tickers: a market factor, three sector factors and own noise;
    every fourth ticker is a cointegrated partner of the one before it."""
    rng = np.random.default_rng(seed)
    market = np.cumsum(rng.normal(0.0003, 0.010, n_bars))
    sectors = np.cumsum(rng.normal(0.0, 0.006, (3, n_bars)), axis=1)
    columns: dict[str, np.ndarray] = {}
    for i in range(n_tickers):
        name = f"T{i:03d}"
        if i % 4 == 3:
            partner = columns[f"T{i - 1:03d}"]
            spread = np.zeros(n_bars)
            shocks = rng.normal(0, 0.01 * partner[0], n_bars)
            for t in range(1, n_bars):
                spread[t] = 0.9 * spread[t - 1] + shocks[t]
            columns[name] = np.abs(rng.uniform(0.5, 2.0) * partner + spread) + 1.0
        else:
            own = np.cumsum(rng.normal(0.0, 0.012, n_bars))
            columns[name] = rng.uniform(20, 400) * np.exp(market + sectors[i % 3] + own)
    prices = pd.DataFrame(
        {k: np.round(v, 2) for k, v in columns.items()},
        index=pd.bdate_range("2020-12-08", periods=n_bars),
    )
    prices.index.name = "date"
    return prices


DEFAULT_BARS = 1255


def load_prices(path: Path | None, n_tickers: int, n_bars: int) -> tuple[pd.DataFrame, str]:
    """(the last ``n_bars`` sessions of the file, all of them when ``n_bars`` is 0, or
    synthetic data; a label for the report)."""
    if path is None:
        n_bars = n_bars or DEFAULT_BARS
        return synthetic_universe(n_tickers, n_bars), f"synthetic({n_tickers}x{n_bars})"
    prices = read_wide_csv(path)
    if n_bars:
        prices = prices.iloc[-n_bars:]
    return prices, f"{path.name} last {len(prices)} sessions"


def pick_pair(prices: pd.DataFrame, wanted: tuple[str, str] | None = None) -> tuple[str, str]:
    """The seed's DIA/SPY when the file has them, else the first two complete tickers."""
    if wanted is None and {"DIA", "SPY"} <= set(prices.columns):
        wanted = ("DIA", "SPY")
    if wanted is not None:
        return wanted
    complete = [c for c in prices.columns if prices[c].notna().all()]
    return next(itertools.combinations(sorted(complete), 2))
