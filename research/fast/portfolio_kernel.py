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

import math

import numpy as np
from numba import njit

from research.fast import zblocks
from research.fast.cache import configure_numba_cache
from research.fast.kernels import tree_sum

configure_numba_cache()

# Columns of the per-config metrics matrix.
FINAL_VALUE, TOTAL_RETURN, SHARPE, MAX_DD_PCT, MAX_DD_ABS, TOTAL_TRADES, N_METRICS = range(7)


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
        q = pend_qty[o]
        price = closes[t, s]
        position = pos[s]
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
                opened = 0  # margin: the opening part is nullified at the real fill price
            else:
                cash = after
        executed = closed + opened
        if executed == 0:
            continue
        new_pos = position + executed
        if position != 0 and (new_pos == 0 or (new_pos > 0) != (position > 0)):
            trades += 1
        pos[s] = new_pos
        if n_fill < fills_out.shape[0]:
            fills_out[n_fill, 0] = t
            fills_out[n_fill, 1] = s
            fills_out[n_fill, 2] = executed
            fills_out[n_fill, 3] = price
            fills_out[n_fill, 4] = abs(executed) * price * commission
        n_fill += 1
    return cash, trades, n_fill


@njit(cache=True, inline="always", error_model="numpy")
def _mark(v, marks, returns, t):  # pragma: no cover - compiled
    """Bar ``t``'s end value into the running metrics (``shared.metrics.compute_metrics``
    fused into the simulation): the return, the product of gross returns, and the drawdown.

    ``marks`` is (previous value, product, peak, deepest drawdown under the current peak, max
    drawdown %, max drawdown money). A value that did not move gives a return of exactly 0 and
    multiplies the product by exactly 1, so that case needs no branch; a drawdown percentage is
    monotone in the money drawdown while the peak holds, so it is divided out once per peak.
    """
    prev, prod, peak, seg, dd_pct, dd_abs = marks
    same = v == prev
    r = 0.0 if same else v / prev - 1.0
    returns[t] = r
    prod *= 1.0 + r
    prev = prev if same else v
    if v > peak:
        dd_pct = max(dd_pct, 100.0 * seg / peak)
        peak = v
        seg = 0.0
    else:
        money = peak - v
        if money > seg:
            seg = money
            dd_abs = max(dd_abs, seg)
    return prev, prod, peak, seg, dd_pct, dd_abs


@njit(cache=True, inline="always", error_model="numpy")
def _hold(t, stop_t, closes, pos_0, pos_1, cash, marks, returns, values, record):
    """Mark bars ``t..stop_t-1``, held with fixed positions and cash (no signal before
    ``stop_t``). The value sums in symbol order, skipping flat legs, like the broker."""
    for i in range(t, stop_t):
        value = cash
        if pos_0 != 0:
            value += pos_0 * closes[i, 0]
        if pos_1 != 0:
            value += pos_1 * closes[i, 1]
        marks = _mark(value, marks, returns, i)
        if record:
            values[i] = value
    return marks


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
    long_only, initial_cash, commission, program, metrics_out, values_out, fills_out, fill_counts,
):  # fmt: skip  # pragma: no cover - compiled
    """Backtest every config (one shared-cash portfolio of all pairs each) bar by bar.

    Config ``c`` reads pair ``k``'s precomputed beta and z from rows ``beta_rows[c, k]`` and
    ``z_rows[c, k]``; ``program`` is ``sum_program(n_bars)``. ``values_out``/``fills_out`` are
    written only when they have rows (detail runs pass one config); ``fill_counts`` always.
    The metrics are accumulated bar by bar as the values are made (:func:`_mark`); a flat
    stretch's bars have returns of exactly 0 and leave the drawdown as it was, so they are
    skipped. numpy's error model: a value that reaches exactly 0 gives inf/NaN returns like
    the reference's numpy arithmetic, rather than an exception.
    """
    n_bars, n_symbols = closes.shape
    n_pairs = leg_a.shape[0]
    record = values_out.shape[0] > 0
    values = values_out[0] if record else np.empty(0)
    returns = np.empty(n_bars)
    stack = np.empty(64)
    pos = np.zeros(n_symbols, dtype=np.int64)
    state = np.zeros(n_pairs, dtype=np.int64)
    zr = np.zeros(n_pairs, dtype=np.int64)
    br = np.zeros(n_pairs, dtype=np.int64)
    pend_sym = np.zeros(2 * n_pairs, dtype=np.int64)
    pend_qty = np.zeros(2 * n_pairs, dtype=np.int64)
    pend_price = np.zeros(2 * n_pairs)
    pend_ok = np.zeros(2 * n_pairs, dtype=np.bool_)
    one_pair = n_pairs == 1 and n_symbols == 2
    # Block extremes of the z rows the configs read, made on first use (see zblocks).
    n_blocks = (n_bars + zblocks.BLOCK - 1) // zblocks.BLOCK
    extremes = np.empty((zs.shape[0] if one_pair else 0, n_blocks, zblocks.N_EXTREMES))
    ready = np.zeros(extremes.shape[0], dtype=np.bool_)
    for c in range(entry_z.shape[0]):
        entry, exit_, stop, size_b, only_long = (
            entry_z[c],
            exit_z[c],
            stop_z[c],
            stake[c],
            long_only[c],
        )
        for k in range(n_pairs):
            zr[k] = z_rows[c, k]
            br[k] = beta_rows[c, k]
        pos[:] = 0
        state[:] = 0
        cash = initial_cash
        n_pend = n_fill = trades = n_open = 0
        z_first = zs[zr[0]]
        if one_pair and not ready[zr[0]]:
            zblocks.block_extremes(z_first, extremes[zr[0]])
            ready[zr[0]] = True
        ext = extremes[zr[0]] if one_pair else extremes[0:0, 0]
        # Nothing can fill on the first bar, so its value, the first peak, is the initial cash.
        marks = (initial_cash, 1.0, initial_cash, 0.0, 0.0, 0.0)
        t = 0
        while t < n_bars:
            if one_pair and n_pend == 0 and state[0] == 0 and n_open == 0:
                # Flat with nothing pending: the value stays the cash (the last bar's value)
                # until the next entry signal.
                start = t
                t = zblocks.next_entry(z_first, ext, t, entry, only_long)
                returns[start:t] = 0.0
                if record:
                    values[start:t] = cash
                if t == n_bars:
                    break
            elif one_pair and n_pend == 0 and state[0] != 0:
                # In a trade: only the value moves until |z| leaves the (exit, stop) band.
                signal = zblocks.next_exit(z_first, ext, t, exit_, stop)
                marks = _hold(
                    t, signal, closes, pos[0], pos[1], cash, marks, returns, values, record
                )
                t = signal
                if t == n_bars:
                    break
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
            marks = _mark(value, marks, returns, t)
            if record:
                values[t] = value
            t += 1
        fill_counts[c] = n_fill
        _finish(returns, marks, program, stack, initial_cash, n_fill, trades, metrics_out[c])


@njit(cache=True, inline="always", error_model="numpy")
def _finish(returns, marks, program, stack, initial_cash, n_fill, trades, out):  # pragma: no cover
    """The config's metrics row from its marks and returns; a config that never traded skips
    the arithmetic (its value is the initial cash on every bar)."""
    out[:] = 0.0
    n = returns.shape[0]
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
        mean = tree_sum(returns, 0, program, stack) / n
        for t in range(n):
            d = returns[t] - mean
            returns[t] = d * d
        std = math.sqrt(tree_sum(returns, 0, program, stack) / n)
        out[SHARPE] = np.nan if (std == 0.0 or not math.isfinite(std)) else mean / std
    out[TOTAL_TRADES] = trades
