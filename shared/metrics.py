"""The seed's performance metrics, as its backtrader analyzers compute them (docs/strategy.md).

All are daily and un-annualized, so that research, the compiled engine and the daemon can be
compared number for number with the seed's printed results.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

from shared.orders import Fill


@dataclass(frozen=True, slots=True)
class Metrics:
    final_value: float
    total_return: float
    sharpe_ratio: float | None  # None when the daily returns have zero std (never traded)
    max_dd_pct: float
    max_dd_abs: float
    total_trades: int
    n_days: int

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


# The metric names, in the seed's results-table order: every metric column derives from these.
METRIC_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Metrics))
# The metrics a run computes from its values and fills, in METRIC_NAMES order: every one but the
# session count, which is the data's. The compiled engine's metrics matrix has one column per
# name here, in this order, and every table built from it names its columns from this tuple.
RUN_METRICS: tuple[str, ...] = tuple(name for name in METRIC_NAMES if name != "n_days")
# Metrics that count something (integers in a table); the others are floats.
COUNT_METRICS: frozenset[str] = frozenset(f.name for f in fields(Metrics) if f.type in ("int", int))


def daily_returns(values: Sequence[float] | np.ndarray, initial_cash: float) -> np.ndarray:
    """r_t = V_t / V_{t-1} - 1 with V_{-1} = initial cash (backtrader's TimeReturn)."""
    v = np.asarray(values, dtype=np.float64)
    prev = np.concatenate(([initial_cash], v[:-1]))
    return v / prev - 1.0


def sharpe_ratio(returns: np.ndarray) -> float | None:
    """mean/std (population) of daily returns, risk-free 0; None when std is 0 or no data."""
    if returns.size == 0:
        return None
    std = float(np.std(returns))
    if std == 0.0 or not math.isfinite(std):
        return None
    return float(np.mean(returns)) / std


def drawdowns(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """(max drawdown in %, max drawdown in money) against the running peak of value."""
    if len(values) == 0:
        return 0.0, 0.0
    v = np.asarray(values, dtype=np.float64)
    peak = np.maximum.accumulate(v)
    money = peak - v
    pct = 100.0 * money / peak
    return float(pct.max()), float(money.max())


def count_closed_trades(fills: Iterable[Fill]) -> int:
    """Closed trades counted per asset: each time a leg returns to zero or flips sign."""
    positions: dict[str, int] = {}
    closed = 0
    for fill in fills:
        before = positions.get(fill.symbol, 0)
        after = before + fill.signed_quantity
        if before != 0 and (after == 0 or (after > 0) != (before > 0)):
            closed += 1
        positions[fill.symbol] = after
    return closed


def compute_metrics(
    values: Sequence[float] | np.ndarray, initial_cash: float, fills: Iterable[Fill]
) -> Metrics:
    """All seed metrics from the end-of-bar portfolio values and the fills."""
    returns = daily_returns(values, initial_cash)
    final_value = float(initial_cash * np.prod(1.0 + returns)) if returns.size else initial_cash
    dd_pct, dd_abs = drawdowns(values)
    return Metrics(
        final_value=final_value,
        total_return=final_value / initial_cash - 1.0,
        sharpe_ratio=sharpe_ratio(returns),
        max_dd_pct=dd_pct,
        max_dd_abs=dd_abs,
        total_trades=count_closed_trades(fills),
        n_days=len(values),
    )
