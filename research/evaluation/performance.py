"""The metrics people quote, beside the seed's daily ones (which stay as they are for parity).

Everything is computed from the end-of-bar portfolio values and the fills of one backtest, the
same inputs :func:`shared.metrics.compute_metrics` takes, so any engine's output can be quoted.
Conventions (stated because quoted metrics vary between shops):

- annualization uses ``periods_per_year`` sessions (252) and the seed's population std, so
  ``sharpe_annualized`` is exactly the seed's daily Sharpe × √252;
- ``cagr`` compounds over ``n_days / periods_per_year`` years;
- ``sortino_annualized`` divides the mean return by the downside deviation √mean(min(r, 0)²);
- ``calmar`` is CAGR over the maximum drawdown (as a fraction);
- ``exposure`` is the share of bars that end with any open position;
- ``turnover_annualized`` is traded notional per year over the average portfolio value;
- ``avg_holding_bars`` is the mean number of bars a leg stays open, per closed trade (closed
  trades counted per leg, as the seed's ``total_trades``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from shared.metrics import daily_returns, drawdowns
from shared.orders import Fill

PERIODS_PER_YEAR = 252


@dataclass(frozen=True, slots=True)
class QuotedMetrics:
    sharpe_annualized: float | None
    cagr: float
    volatility_annualized: float
    sortino_annualized: float | None
    calmar: float | None
    exposure: float
    turnover_annualized: float
    avg_holding_bars: float | None
    closed_trades: int

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def _ratio(numerator: float, denominator: float) -> float | None:
    """numerator/denominator, or None when the denominator is 0 (an undefined ratio)."""
    if denominator == 0.0 or not math.isfinite(denominator):
        return None
    return numerator / denominator


def positions_by_bar(fills: Iterable[Fill], n_bars: int) -> dict[str, np.ndarray]:
    """Each symbol's position at the end of every bar (fills apply on their bar)."""
    changes: dict[str, np.ndarray] = {}
    for fill in fills:
        if not 0 <= fill.bar < n_bars:
            raise ValueError(f"fill on bar {fill.bar} is outside the {n_bars} bars given")
        changes.setdefault(fill.symbol, np.zeros(n_bars, dtype=np.int64))[fill.bar] += (
            fill.signed_quantity
        )
    return {symbol: np.cumsum(delta) for symbol, delta in changes.items()}


def holding_periods(fills: Iterable[Fill]) -> list[int]:
    """Bars each leg position stayed open, one entry per closed trade (a flip closes one)."""
    positions: dict[str, int] = {}
    opened: dict[str, int] = {}
    held: list[int] = []
    for fill in fills:
        before = positions.get(fill.symbol, 0)
        after = before + fill.signed_quantity
        if before != 0 and (after == 0 or (after > 0) != (before > 0)):
            held.append(fill.bar - opened[fill.symbol])
        if after != 0 and (before == 0 or (after > 0) != (before > 0)):
            opened[fill.symbol] = fill.bar
        positions[fill.symbol] = after
    return held


def quoted_metrics(
    values: Sequence[float] | np.ndarray,
    initial_cash: float,
    fills: Sequence[Fill] = (),
    periods_per_year: int = PERIODS_PER_YEAR,
) -> QuotedMetrics:
    """The quoted metrics of one backtest (see the module docstring for the conventions)."""
    v = np.asarray(values, dtype=np.float64)
    n = int(v.size)
    if n == 0:
        raise ValueError("no portfolio values: the backtest covered no bars")
    returns = daily_returns(v, initial_cash)
    mean, std = float(np.mean(returns)), float(np.std(returns))
    root = math.sqrt(periods_per_year)
    years = n / periods_per_year
    growth = float(v[-1]) / initial_cash
    cagr = growth ** (1.0 / years) - 1.0 if growth > 0 else -1.0
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    max_dd_pct, _ = drawdowns(v)
    positions = positions_by_bar(fills, n)
    in_market = np.zeros(n, dtype=bool)
    for pos in positions.values():
        in_market |= pos != 0
    notional = sum(abs(f.signed_quantity) * f.price for f in fills)
    held = holding_periods(fills)
    sharpe = _ratio(mean, std)
    sortino = _ratio(mean, downside)
    return QuotedMetrics(
        sharpe_annualized=None if sharpe is None else sharpe * root,
        cagr=cagr,
        volatility_annualized=std * root,
        sortino_annualized=None if sortino is None else sortino * root,
        calmar=_ratio(cagr, max_dd_pct / 100.0),
        exposure=float(np.mean(in_market)),
        turnover_annualized=notional / float(np.mean(v)) / years,
        avg_holding_bars=float(np.mean(held)) if held else None,
        closed_trades=len(held),
    )
