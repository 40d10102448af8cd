"""A deterministic synthetic universe of daily closes: the offline sample for demos and tests.

Every ticker is named ``SYN_*`` and the source label says ``synthetic`` so the data is never
mistaken for a market's. The universe is built to exercise the whole research path:

- *Free* tickers follow a geometric Brownian motion driven by a market factor, a sector factor
  and their own noise, so they are correlated the way stocks are but (mostly) not cointegrated.
- *Planted pairs*: ``A_t = intercept + hedge * B_t + s_t`` where ``B`` is a free-style GBM and the
  spread ``s`` is an Ornstein-Uhlenbeck process (mean reversion with a half-life of a few weeks).
  Engle-Granger finds these, with OLS hedge ratios near the planted 0.5-2.5, and their z-scores
  cross the seed grid's entry thresholds often enough for the strategy to trade.

The same ``seed`` gives the same prices: numpy's PCG64 streams are stable across versions and
platforms, and the closes are rounded to 6 decimals so last-bit differences in ``exp`` do not
show. Each series has its own stream, so a shorter sample is a prefix of a longer one.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

# Seed 27, measured: the screen keeps 6 pairs, selection SYN_A/SYN_B and SYN_D/SYN_E, and the
# seed grid's best configuration (window 90, entry 2.5) makes 48 trades at Sharpe 0.032.
DEFAULT_SEED = 27
DEFAULT_START = date(2019, 1, 2)
DEFAULT_SESSIONS = 1_260  # five years of business days (the seed's window had 1,255)
TRADING_DAYS = 252


@dataclass(frozen=True)
class PlantedPair:
    """A pair cointegrated by construction: ``A = intercept + hedge * B + OU spread``."""

    asset_1: str
    asset_2: str
    hedge: float
    intercept: float
    half_life: float  # sessions for the spread's expected deviation to halve
    spread_vol: float  # daily std of the spread's shocks, as a fraction of A's start price


# Like the seed's universe (DIA cointegrated with SPY, XLK and QQQ), SYN_A and SYN_C both track
# SYN_B, so the screen finds three overlapping pairs of which selection may keep only one; SYN_D and
# SYN_E form an independent pair. Strength varies so the screen has a clear order.
PLANTED: tuple[PlantedPair, ...] = (
    PlantedPair("SYN_A", "SYN_B", hedge=0.6, intercept=12.0, half_life=10.0, spread_vol=0.006),
    PlantedPair("SYN_C", "SYN_B", hedge=1.8, intercept=-8.0, half_life=25.0, spread_vol=0.005),
    PlantedPair("SYN_D", "SYN_E", hedge=1.3, intercept=6.0, half_life=15.0, spread_vol=0.005),
)
FREE_TICKERS: tuple[str, ...] = tuple(f"SYN_{c}" for c in "FGHIJKLMN")
N_SECTORS = 3


def source_label(seed: int) -> str:
    return f"synthetic(seed={seed})"


def generate_universe(
    *,
    seed: int = DEFAULT_SEED,
    start: date = DEFAULT_START,
    n_sessions: int = DEFAULT_SESSIONS,
) -> pd.DataFrame:
    """Wide closes (index ``date``, business days from ``start``), 14 ``SYN_*`` tickers.

    Every series draws from its own named random stream, so a shorter ``n_sessions`` gives a
    prefix of the longer universe (same seed, same start): windows of one sample agree.
    """
    if n_sessions < 2:
        raise ValueError(f"n_sessions must be at least 2 (got {n_sessions})")
    dates = pd.bdate_range(start=start, periods=n_sessions, name="date")
    market = _stream(seed, "market").normal(0.07 / TRADING_DAYS, 0.011, n_sessions)
    sectors = [_stream(seed, f"sector{i}").normal(0.0, 0.007, n_sessions) for i in range(3)]

    columns: dict[str, np.ndarray] = {}
    for k, planted in enumerate(PLANTED):
        if planted.asset_2 not in columns:  # a base shared by several pairs is drawn once
            columns[planted.asset_2] = _factor_gbm(
                _stream(seed, planted.asset_2), market, sectors[k % N_SECTORS], (60, 180)
            )
        b = columns[planted.asset_2]
        spread = _ou(_stream(seed, planted.asset_1), n_sessions, planted.half_life)
        a_start = planted.intercept + planted.hedge * b[0]
        a = planted.intercept + planted.hedge * b + spread * planted.spread_vol * a_start
        columns[planted.asset_1] = a
    for k, ticker in enumerate(FREE_TICKERS):
        columns[ticker] = _factor_gbm(
            _stream(seed, ticker), market, sectors[k % N_SECTORS], (20, 300)
        )

    frame = pd.DataFrame(columns, index=dates)
    if (frame.to_numpy() <= 0).any():  # cannot happen with the planted constants; guard edits
        raise ValueError("synthetic universe produced a non-positive price; adjust PLANTED")
    return frame[sorted(frame.columns)].round(6)


def _stream(seed: int, name: str) -> np.random.Generator:
    """An independent generator per (seed, series name); crc32 is stable across runs."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _factor_gbm(
    rng: np.random.Generator,
    market: np.ndarray,
    sector: np.ndarray,
    price_range: tuple[float, float],
) -> np.ndarray:
    """Closes whose log returns load on the market and a sector, plus idiosyncratic noise."""
    # Scalars first, then the path: the path's first n draws do not depend on its length.
    start_price = rng.uniform(*price_range)
    beta_mkt = rng.uniform(0.7, 1.3)
    idio_vol = rng.uniform(0.006, 0.014)
    log_returns = beta_mkt * market + sector + rng.normal(0.0, idio_vol, len(market))
    log_returns[0] = 0.0
    return np.asarray(start_price * np.exp(np.cumsum(log_returns)))


def _ou(rng: np.random.Generator, n: int, half_life: float) -> np.ndarray:
    """A unit-shock AR(1) (discretized OU) started at 0 with the given half-life."""
    phi = 0.5 ** (1.0 / half_life)
    shocks = rng.normal(0.0, 1.0, n)
    out = np.empty(n)
    level = 0.0
    for t in range(n):
        level = phi * level + shocks[t]
        out[t] = level
    return out
