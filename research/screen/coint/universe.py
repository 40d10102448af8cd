"""The screen's input: a validated wide table of closes and the pairs to test.

NaN handling follows the seed's 01 notebook: each pair is tested on the rows where *both* of its
tickers have a price (``prices[[a, b]].dropna()``), so a ticker that starts late only shortens
its own pairs. Returns for ``corr`` are taken after that alignment, i.e. a return may span a
date the other ticker was missing, exactly as ``np.log(pair).diff()`` on the aligned frame.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shared.errors import DataError

# The fewest common sessions a pair needs to be tested; shorter pairs are reported as skipped.
# Measured on pairs of independent random walks (the null; 400-2,000 pairs per length, the ADF
# lag chosen by AIC up to statsmodels' 12*(n/100)**0.25): at 20 sessions every pair picks the
# maximum lag (the regression has no degrees of freedom left to choose with) and none can
# pass; at 21 half pick the maximum and 20% pass at 5%; up to 40 sessions 11-13% pass at 5%
# (two to three times the nominal rate). From about 60 sessions on, no pair sits at the
# maximum lag (<= 1%) and the false-positive rate at 5% settles at the 6-9% it keeps up to a
# year of sessions. Sixty sessions (about three months) is where the test starts to mean
# what its p-value says.
MIN_OBS = 60
MIN_OBS_REASON = (
    f"the screen needs at least {MIN_OBS} common sessions per pair: with fewer, the ADF lag "
    "search runs out of degrees of freedom (at 20 sessions every pair picks the maximum lag) "
    "and pairs of unrelated random walks pass at 5% two to four times as often as they should"
)


@dataclass(frozen=True)
class Universe:
    """Tickers sorted alphabetically and their closes (NaN where a ticker has no price)."""

    tickers: tuple[str, ...]
    closes: np.ndarray  # (n_bars, n_tickers), float64, C-contiguous by column after .T
    complete: np.ndarray  # bool per ticker: no NaN at all

    @property
    def n_tickers(self) -> int:
        return len(self.tickers)

    def pair_arrays(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Closes of tickers ``i`` and ``j`` on the rows where both have a price."""
        a, b = self.closes[:, i], self.closes[:, j]
        if self.complete[i] and self.complete[j]:
            return a, b
        keep = ~(np.isnan(a) | np.isnan(b))
        return a[keep], b[keep]


def build_universe(prices: pd.DataFrame, source: str = "price table") -> Universe:
    """Validate ``prices`` (one column per ticker) and sort its tickers alphabetically."""
    if not isinstance(prices, pd.DataFrame):
        raise DataError(f"{source}: expected a DataFrame of closes, got {type(prices).__name__}")
    names = [str(c) for c in prices.columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(
            f"{source}: ticker column(s) {', '.join(dupes)} appear twice", symbol=dupes[0]
        )
    if len(names) < 2:
        raise DataError(f"{source}: needs at least two ticker columns to form a pair (got {names})")
    frame = prices.copy()
    frame.columns = pd.Index(names)
    frame = frame[sorted(names)]
    try:
        closes = frame.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{source}: non-numeric price cells ({exc}); clean the table first"
        ) from exc
    for k, name in enumerate(frame.columns):
        col = closes[:, k]
        bad = np.flatnonzero(~np.isnan(col) & ~(col > 0))
        if bad.size:
            raise DataError(
                f"{source}: ticker {name} has a non-positive or infinite close "
                f"({col[bad[0]]}) at row {frame.index[bad[0]]}; log returns need positive "
                "prices: fix or drop the ticker",
                symbol=name,
            )
    complete = ~np.isnan(closes).any(axis=0)
    return Universe(tuple(frame.columns), np.ascontiguousarray(closes), complete)


def seed_pairs(n_tickers: int) -> Iterator[tuple[int, int]]:
    """Every unordered pair (i < j) in alphabetical order: ``asset_1 < asset_2``."""
    for i in range(n_tickers):
        for j in range(i + 1, n_tickers):
            yield i, j


def ordered_pairs(n_tickers: int, direction: str) -> np.ndarray:
    """(asset_1, asset_2) index rows to test: the seed's i < j, or both directions."""
    rows = list(seed_pairs(n_tickers))
    if direction == "both":
        rows += [(j, i) for i, j in rows]
    elif direction != "seed":
        raise ValueError(f"direction must be 'seed' or 'both' (got {direction!r})")
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


def log_return_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of the two series' daily log returns (the seed's ``corr``)."""
    ra, rb = np.diff(np.log(a)), np.diff(np.log(b))
    if len(ra) < 2:
        return float("nan")
    ra = ra - ra.mean()
    rb = rb - rb.mean()
    denom = np.sqrt(np.dot(ra, ra) * np.dot(rb, rb))
    return float(np.dot(ra, rb) / denom) if denom > 0 else float("nan")
