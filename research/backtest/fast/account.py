"""A config's account in the compiled engine: one order's execution at the broker, and the
seed metrics accumulated bar by bar as the values are made.

These are the operations of ``shared/fill_model.py`` and ``shared/metrics.py`` in the same
order, shared by the portfolio loop (``portfolio_kernel``) and the single-pair loop
(``pair_kernel``) so that both land on the same bits.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from research.backtest.fast.kernels import tree_square_sum, tree_sum
from shared.metrics import RUN_METRICS

# Columns of the per-config metrics matrix: ``shared.metrics.RUN_METRICS``, in its order. (The
# kernel cache key hashes shared/metrics.py too, so a reordering there recompiles the kernels.)
FINAL_VALUE = RUN_METRICS.index("final_value")
TOTAL_RETURN = RUN_METRICS.index("total_return")
SHARPE = RUN_METRICS.index("sharpe_ratio")
MAX_DD_PCT = RUN_METRICS.index("max_dd_pct")
MAX_DD_ABS = RUN_METRICS.index("max_dd_abs")
TOTAL_TRADES = RUN_METRICS.index("total_trades")
N_METRICS = len(RUN_METRICS)


@njit(cache=True, inline="always")
def execute(q, price, position, cash, commission):  # pragma: no cover - compiled
    """``shared.fill_model.execute_order``: (cash, executed size). The part of ``q`` that
    closes ``position`` always fills; the opening part is nullified (margin) when it would leave
    cash below 0 at the real fill price."""
    if position == 0 or (position > 0) == (q > 0):
        closed, opened = 0, q
    elif abs(q) <= abs(position):
        closed, opened = q, 0
    else:
        closed = -position
        opened = q - closed
    if closed != 0:
        cash -= closed * price
        cash -= abs(closed) * price * commission
    if opened != 0:
        after = cash - opened * price - abs(opened) * price * commission
        if after < 0.0:
            opened = 0
        else:
            cash = after
    return cash, closed + opened


@njit(cache=True, inline="always")
def closes_trade(position, new_pos):  # pragma: no cover - compiled
    """A leg returning to zero or flipping sign closes a trade (``count_closed_trades``)."""
    return position != 0 and (new_pos == 0 or (new_pos > 0) != (position > 0))


@njit(cache=True, inline="always")
def record_fill(fills_out, n_fill, t, s, executed, price, commission):  # pragma: no cover
    if n_fill < fills_out.shape[0]:
        fills_out[n_fill, 0] = t
        fills_out[n_fill, 1] = s
        fills_out[n_fill, 2] = executed
        fills_out[n_fill, 3] = price
        fills_out[n_fill, 4] = abs(executed) * price * commission
    return n_fill + 1


@njit(cache=True, inline="always", error_model="numpy")
def mark(v, marks, returns, t):  # pragma: no cover - compiled
    """Bar ``t``'s end value into the running metrics (``shared.metrics.compute_metrics``
    fused into the simulation): the return, the product of gross returns, and the drawdown.

    ``marks`` is (previous value, product, peak, deepest drawdown under the current peak, max
    drawdown %, max drawdown money). A value that did not move gives a return of exactly 0 and
    multiplies the product by exactly 1, so that case needs no branch; a drawdown percentage is
    monotone in the money drawdown while the peak holds, so it is divided out once per peak.

    No branches: whether a bar makes a new peak, or deepens the drawdown, is a coin flip while
    a position is held, and a mispredicted branch per bar cost more than computing both sides
    and selecting (the drawdown money never shrinks below the current segment's, so taking the
    maximum with every bar's is the same as taking it only when the segment deepens; NaN
    compares false either way, as in the reference).
    """
    prev, prod, peak, seg, dd_pct, dd_abs = marks
    same = v == prev
    r = 0.0 if same else v / prev - 1.0
    returns[t] = r
    prod *= 1.0 + r
    prev = prev if same else v
    new_peak = v > peak
    closed_pct = max(dd_pct, 100.0 * seg / peak)  # the segment's drawdown %, if the peak moves
    money = peak - v
    dd_abs = max(dd_abs, money)
    deeper = max(seg, money)
    dd_pct = closed_pct if new_peak else dd_pct
    seg = 0.0 if new_peak else deeper
    peak = v if new_peak else peak
    return prev, prod, peak, seg, dd_pct, dd_abs


@njit(cache=True, inline="always", error_model="numpy")
def hold(t, stop_t, closes, pos_0, pos_1, cash, marks, returns, values, record):
    """Mark bars ``t..stop_t-1``, held with fixed positions and cash (no signal before
    ``stop_t``). The value sums in symbol order, skipping flat legs, like the broker."""
    for i in range(t, stop_t):
        value = cash
        if pos_0 != 0:
            value += pos_0 * closes[i, 0]
        if pos_1 != 0:
            value += pos_1 * closes[i, 1]
        marks = mark(value, marks, returns, i)
        if record:
            values[i] = value
    return marks


@njit(cache=True, inline="always", error_model="numpy")
def finish(returns, marks, program, stack, initial_cash, n_fill, trades, out):  # pragma: no cover
    """The config's metrics row from its marks and returns; a config that never traded skips
    the arithmetic (its value is the initial cash on every bar)."""
    n = returns.shape[0]
    mean = square_sum = 0.0
    if n_fill != 0 and n > 0:
        mean = tree_sum(returns, 0, program, stack) / n
        square_sum = tree_square_sum(returns, program, stack, mean)
    metrics_row(marks, n, mean, square_sum, initial_cash, n_fill, trades, out)


@njit(cache=True, inline="always", error_model="numpy")
def metrics_row(marks, n, mean, square_sum, initial_cash, n_fill, trades, out):  # pragma: no cover
    """Write a metrics row from the marks of ``n`` bars, the returns' mean and the pairwise
    sum of their squared deviations (``np.std``'s); a config that never traded is the initial
    cash throughout."""
    out[:] = 0.0
    if n_fill == 0:
        out[FINAL_VALUE] = initial_cash
        out[SHARPE] = np.nan
    elif n > 0:
        _, prod, peak, seg, dd_pct, dd_abs = marks
        out[MAX_DD_PCT] = max(dd_pct, 100.0 * seg / peak)
        out[MAX_DD_ABS] = dd_abs
        final = initial_cash * prod
        out[FINAL_VALUE] = final
        out[TOTAL_RETURN] = final / initial_cash - 1.0
        std = math.sqrt(square_sum / n)
        out[SHARPE] = np.nan if (std == 0.0 or not math.isfinite(std)) else mean / std
    out[TOTAL_TRADES] = trades
