"""The per-config numba kernel: signal state machine, BackBroker fills, seed metrics.

Everything independent of the thresholds and the stake (Kalman paths, z-series) arrives
precomputed, so this loop is all that runs per config. It keeps ``shared/``'s operation order
(see ``shared/fill_model.py``, ``shared/metrics.py``) so cash, values and metrics land on the
same bits as the reference; the shortcuts it takes are exact ones (a value that did not move
gives a return of exactly 0; a drawdown percentage is monotone in the money drawdown while the
peak holds). The metrics are accumulated as the values are made, so a flat stretch costs a scan
of its z blocks (``zblocks``) and nothing per bar.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from research.backtest.fast import signal_tables, zblocks
from research.backtest.fast.account import (  # the metrics columns are part of this module's API
    FINAL_VALUE,
    MAX_DD_ABS,
    MAX_DD_PCT,
    N_METRICS,
    SHARPE,
    TOTAL_RETURN,
    TOTAL_TRADES,
    closes_trade,
    execute,
    finish,
    mark,
    record_fill,
)
from research.backtest.fast.lane_kernel import lane_scratch, run_group
from research.backtest.fast.pair_kernel import run_pair

__all__ = [
    "FINAL_VALUE",
    "MAX_DD_ABS",
    "MAX_DD_PCT",
    "N_METRICS",
    "SHARPE",
    "TOTAL_RETURN",
    "TOTAL_TRADES",
    "run_configs",
]


@njit(cache=True, inline="always")
def _fill_orders(
    t, closes, pend_sym, pend_qty, pend_price, pend_ok, n_pend, pos, cash, commission, fills_out, n_fill
):  # fmt: skip  # pragma: no cover - compiled
    """Start of bar ``t``: backtrader's creation-price check, then fills at ``t``'s close with
    the margin check on the opening part (``shared.fill_model.process_bar``).

    Returns (cash, closed trades added, fills so far)."""
    run_cash = cash
    for o in range(n_pend):
        q = pend_qty[o]
        p = pend_price[o]
        run_cash -= q * p
        run_cash -= abs(q) * p * commission
        pend_ok[o] = run_cash >= 0.0  # the running copy is not restored after a rejection
    trades = 0
    for o in range(n_pend):
        if not pend_ok[o]:
            continue
        s = pend_sym[o]
        price = closes[t, s]
        position = pos[s]
        cash, executed = execute(pend_qty[o], price, position, cash, commission)
        if executed == 0:
            continue
        new_pos = position + executed
        trades += closes_trade(position, new_pos)
        pos[s] = new_pos
        n_fill = record_fill(fills_out, n_fill, t, s, executed, price, commission)
    return cash, trades, n_fill


@njit(cache=True, inline="always")
def _push(pend_sym, pend_qty, pend_price, n_pend, symbol, qty, price):  # pragma: no cover
    pend_sym[n_pend] = symbol
    pend_qty[n_pend] = qty
    pend_price[n_pend] = price
    return n_pend + 1


@njit(cache=True, inline="always")
def _signals(
    t, closes, leg_a, leg_b, betas, zs, br, zr, entry, exit_, stop, size_b, only_long,
    pos, state, pend_sym, pend_qty, pend_price,
):  # fmt: skip  # pragma: no cover - compiled
    """Every pair's decision on bar ``t`` (``shared.strategy.step_pair``): orders are queued
    for the next bar's fills; returns how many were queued."""
    n_pend = 0
    for k in range(leg_a.shape[0]):
        z = zs[zr[k], t]
        if z != z:  # NaN: warming up or zero std, the strategy skips the bar
            continue
        a = leg_a[k]
        b = leg_b[k]
        pos_a = pos[a]
        pos_b = pos[b]
        if state[k] == 0 and pos_a == 0 and pos_b == 0:
            if z < -entry:
                direction = 1
            elif not only_long and z > entry:
                direction = -1
            else:
                continue
            qty_a = int(betas[br[k], t] * size_b)  # truncation toward zero
            if qty_a != 0:  # a size-0 order is not sent; a negative one flips to abs
                qty = direction * abs(qty_a)
                n_pend = _push(pend_sym, pend_qty, pend_price, n_pend, a, qty, closes[t, a])
            if size_b != 0:
                qty = -direction * abs(size_b)
                n_pend = _push(pend_sym, pend_qty, pend_price, n_pend, b, qty, closes[t, b])
            state[k] = direction
        elif state[k] != 0 and (abs(z) < exit_ or abs(z) > stop):
            if pos_a != 0:
                n_pend = _push(pend_sym, pend_qty, pend_price, n_pend, a, -pos_a, closes[t, a])
            if pos_b != 0:
                n_pend = _push(pend_sym, pend_qty, pend_price, n_pend, b, -pos_b, closes[t, b])
            state[k] = 0
    return n_pend


@njit(cache=True, nogil=True, error_model="numpy")
def run_configs(
    closes, leg_a, leg_b, betas, zs, beta_rows, z_rows, entry_z, exit_z, stop_z, stake,
    long_only, lanes, table_kinds, table_levels, table_rows, initial_cash, commission, program,
    metrics_out, values_out, fills_out, fill_counts,
):  # fmt: skip  # pragma: no cover - compiled
    """Backtest every config (one shared-cash portfolio of all pairs each) bar by bar.

    Config ``c`` reads pair ``k``'s precomputed beta and z from rows ``beta_rows[c, k]`` and
    ``z_rows[c, k]``; ``program`` is ``sum_program(n_bars)``. ``values_out``/``fills_out`` are
    written only when they have rows (detail runs pass one config), ``fill_counts`` unless the
    configs run in lane groups: a single pair's configs do when ``lanes`` has rows
    (``plan.lane_groups``; ``lane_kernel.run_group``, with the z rows' ``signal_tables``).
    The metrics are accumulated bar by bar as the values are made (``account.mark``). A
    single pair runs in ``pair_kernel``. numpy's error model: a value that reaches exactly 0
    gives inf/NaN returns like the reference's numpy arithmetic, rather than an exception.
    """
    n_bars, n_symbols = closes.shape
    record = values_out.shape[0] > 0
    values = values_out[0] if record else np.empty(0)
    returns = np.empty(n_bars)
    stack = np.empty(64)
    one_pair = leg_a.shape[0] == 1 and n_symbols == 2
    # Block extremes of the z rows the configs read, made on first use (see zblocks).
    n_blocks = (n_bars + zblocks.BLOCK - 1) // zblocks.BLOCK
    extremes = np.empty((zs.shape[0] if one_pair else 0, n_blocks, zblocks.N_EXTREMES))
    ready = np.zeros(extremes.shape[0], dtype=np.bool_)
    if one_pair and lanes.shape[0] > 0:
        scratch = lane_scratch(n_bars)
        tables = np.empty((table_kinds.shape[0], n_bars + 1), dtype=np.int64)
        tabled = -1  # the z row whose tables are made (a row's groups are consecutive)
        for g in range(lanes.shape[0]):
            c = lanes[g, 0]
            row = z_rows[c, 0]
            if row != tabled:
                signal_tables.build(zs[row], table_kinds, table_levels, tables)
                tabled = row
            run_group(
                closes, leg_a[0], zs[row], betas[beta_rows[c, 0]], tables, lanes[g], table_rows,
                entry_z, stake, long_only, initial_cash, commission, program, scratch,
                metrics_out,
            )  # fmt: skip
        return
    for c in range(entry_z.shape[0]):
        if one_pair:
            row = z_rows[c, 0]
            if not ready[row]:
                zblocks.block_extremes(zs[row], extremes[row])
                ready[row] = True
            marks, n_fill, trades = run_pair(
                closes, leg_a[0], zs[row], betas[beta_rows[c, 0]], extremes[row], entry_z[c],
                exit_z[c], stop_z[c], stake[c], long_only[c], initial_cash, commission,
                returns, values, record, fills_out,
            )  # fmt: skip
        else:
            marks, n_fill, trades = _run_portfolio(
                closes, leg_a, leg_b, betas, zs, beta_rows[c], z_rows[c], entry_z[c],
                exit_z[c], stop_z[c], stake[c], long_only[c], initial_cash, commission,
                returns, values, record, fills_out,
            )  # fmt: skip
        fill_counts[c] = n_fill
        finish(returns, marks, program, stack, initial_cash, n_fill, trades, metrics_out[c])


@njit(cache=True, error_model="numpy")
def _run_portfolio(
    closes, leg_a, leg_b, betas, zs, br, zr, entry, exit_, stop, size_b, only_long,
    initial_cash, commission, returns, values, record, fills_out,
):  # fmt: skip  # pragma: no cover - compiled
    """One config of a portfolio of pairs sharing one cash balance; returns (marks, fills,
    closed trades)."""
    n_bars, n_symbols = closes.shape
    n_pairs = leg_a.shape[0]
    pos = np.zeros(n_symbols, dtype=np.int64)
    state = np.zeros(n_pairs, dtype=np.int64)
    pend_sym = np.zeros(2 * n_pairs, dtype=np.int64)
    pend_qty = np.zeros(2 * n_pairs, dtype=np.int64)
    pend_price = np.zeros(2 * n_pairs)
    pend_ok = np.zeros(2 * n_pairs, dtype=np.bool_)
    cash = initial_cash
    n_pend = n_fill = trades = n_open = 0
    # Nothing can fill on the first bar, so its value, the first peak, is the initial cash.
    marks = (initial_cash, 1.0, initial_cash, 0.0, 0.0, 0.0)
    for t in range(n_bars):
        if n_pend > 0:
            cash, closed, n_fill = _fill_orders(
                t, closes, pend_sym, pend_qty, pend_price, pend_ok, n_pend, pos, cash,
                commission, fills_out, n_fill,
            )  # fmt: skip
            trades += closed
            n_open = 0
            for s in range(n_symbols):
                n_open += pos[s] != 0
        n_pend = _signals(
            t, closes, leg_a, leg_b, betas, zs, br, zr, entry, exit_, stop, size_b,
            only_long, pos, state, pend_sym, pend_qty, pend_price,
        )  # fmt: skip
        value = cash
        if n_open:
            for s in range(n_symbols):
                if pos[s] != 0:
                    value += pos[s] * closes[t, s]
        marks = mark(value, marks, returns, t)
        if record:
            values[t] = value
    return marks, n_fill, trades
