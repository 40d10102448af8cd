"""Aligning a wide table of closes into the matrix every backtest engine consumes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shared.errors import DataError
from shared.strategy import Pair


@dataclass(frozen=True)
class AlignedCloses:
    """Closes of ``symbols`` on their common ``dates``: ``closes[bar, symbol_index]``."""

    symbols: tuple[str, ...]
    dates: pd.DatetimeIndex
    closes: np.ndarray

    def column(self, symbol: str) -> np.ndarray:
        return self.closes[:, self.symbols.index(symbol)]

    @property
    def n_bars(self) -> int:
        return int(self.closes.shape[0])


def pair_symbols(pairs: Sequence[Pair]) -> list[str]:
    """The seed's ticker order: the sorted set of both legs of every pair."""
    return sorted({s for p in pairs for s in (p.asset_1, p.asset_2)})


def align_closes(prices: pd.DataFrame, symbols: Sequence[str]) -> AlignedCloses:
    """The seed's data preparation: each close series ``dropna``'d, then all intersected on
    common dates. Raises a DataError naming the ticker when one is absent, empty or has a
    non-positive or non-finite price."""
    missing = [s for s in symbols if s not in prices.columns]
    if missing:
        raise DataError(
            f"ticker(s) {', '.join(missing)} not in the price table (columns: "
            f"{', '.join(map(str, prices.columns[:10]))}{'...' if len(prices.columns) > 10 else ''}); "
            "check the pair list or re-run the prices step",
            symbol=missing[0],
        )
    series = {}
    for s in symbols:
        col = pd.to_numeric(prices[s], errors="coerce").dropna()
        if col.empty:
            raise DataError(f"ticker {s} has no prices", symbol=s)
        bad = col[~np.isfinite(col.to_numpy()) | (col <= 0).to_numpy()]
        if not bad.empty:  # the engines' last guard; commands validate prices before this
            raise DataError(
                f"ticker {s} has a non-positive or non-finite close {bad.iloc[0]} on "
                f"{bad.index[0]:%Y-%m-%d}; fix or drop the ticker",
                symbol=s,
            )
        series[s] = col
    common = series[symbols[0]].index
    for s in symbols[1:]:
        common = common.intersection(series[s].index)
    if len(common) == 0:
        raise DataError(f"tickers {', '.join(symbols)} share no dates")
    closes = np.column_stack([series[s].loc[common].to_numpy(dtype=np.float64) for s in symbols])
    return AlignedCloses(tuple(symbols), pd.DatetimeIndex(common), closes)
