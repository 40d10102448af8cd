"""numba kernels of the compiled engine: the same arithmetic as ``shared/`` in the same order.

Bit-exactness matters because a threshold decision (``z < -entry_z``) or a truncation
(``int(beta * stake)``) can flip on one ulp. Three details keep the bits equal to the reference:

* ``price_B**2`` is evaluated with libm's ``pow`` like CPython does; LLVM would fold a constant
  exponent into ``x*x``, which differs from glibc's ``pow`` on ~0.1% of inputs, so the exponent
  arrives as a runtime argument (``two``).
* ``np.mean``/``np.std`` sum with numpy's pairwise summation; :func:`pairwise_sum` replicates it
  (8 accumulators per block of up to 128 values, recursive halving above).
* Cash and value updates keep the fill model's operation order (``shared/fill_model.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from research.fast.cache import configure_numba_cache

configure_numba_cache()

_BLOCK = 128  # numpy's PW_BLOCKSIZE

# Columns of the per-config metrics matrix the portfolio kernel fills.
FINAL_VALUE, TOTAL_RETURN, SHARPE, MAX_DD_PCT, MAX_DD_ABS, TOTAL_TRADES, N_METRICS = range(7)


@njit(cache=True)
def pairwise_sum(a: np.ndarray, lo: int, n: int) -> float:  # pragma: no cover - compiled
    """numpy's ``pairwise_sum_DOUBLE`` over ``a[lo:lo+n]`` (what ``np.sum`` does on a
    contiguous float64 array)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    if n <= _BLOCK:
        r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
        r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
        i = 8
        stop = n - n % 8
        while i < stop:
            j = lo + i
            r0 += a[j]
            r1 += a[j + 1]
            r2 += a[j + 2]
            r3 += a[j + 3]
            r4 += a[j + 4]
            r5 += a[j + 5]
            r6 += a[j + 6]
            r7 += a[j + 7]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            res += a[lo + i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return pairwise_sum(a, lo, n2) + pairwise_sum(a, lo + n2, n - n2)


@njit(cache=True)
def kalman_path(
    price_a: np.ndarray,
    price_b: np.ndarray,
    hedge_ratio: float,
    delta: float,
    R: float,
    two: float,
    beta_out: np.ndarray,
    spread_out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """The hedge ratio after each bar and the spread it gives (``shared.kalman``)."""
    Q = delta / (1 - delta)
    beta = hedge_ratio
    P = 1.0
    for t in range(price_a.shape[0]):
        pa = price_a[t]
        pb = price_b[t]
        P_prior = P + Q
        if pb != 0:
            S = P_prior * pb**two + R
            K = (P_prior * pb) / S
            y = pa - beta * pb
            beta = beta + K * y
            P = (1 - K * pb) * P_prior
        beta_out[t] = beta
        spread_out[t] = pa - beta * pb


@njit(cache=True)
def zscore_path(spreads: np.ndarray, window: int, z_out: np.ndarray) -> None:  # pragma: no cover
    """z of each spread against the last ``window`` spreads (``shared.zscore``); NaN where the
    strategy skips the bar (warming up, or a window with zero std)."""
    n = spreads.shape[0]
    squares = np.empty(window)
    for t in range(n):
        if t + 1 < window:
            z_out[t] = np.nan
            continue
        lo = t + 1 - window
        mean = pairwise_sum(spreads, lo, window) / window
        for i in range(window):
            d = spreads[lo + i] - mean
            squares[i] = d * d
        std = math.sqrt(pairwise_sum(squares, 0, window) / window)
        z_out[t] = np.nan if std == 0 else (spreads[t] - mean) / std


@njit(cache=True)
def _fill_orders(
    t,
    closes,
    pend_sym,
    pend_qty,
    pend_price,
    pend_ok,
    n_pend,
    pos,
    cash,
    commission,
    fills_out,
    n_fill,
):  # pragma: no cover - compiled
    """Start of bar ``t``: backtrader's creation-price check, then fills at ``t``'s close with
    the margin check on the opening part (``shared.fill_model.process_bar``).

    Returns (cash, closed trades added, fills recorded so far)."""
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
                opened = 0
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


@njit(cache=True)
def _metrics(values, returns, squares, initial_cash, out):  # pragma: no cover - compiled
    """``shared.metrics.compute_metrics`` on the end-of-bar values (trades filled by caller)."""
    n = values.shape[0]
    prev = initial_cash
    prod = 1.0
    peak = values[0]
    dd_pct = 0.0
    dd_abs = 0.0
    for t in range(n):
        v = values[t]
        r = v / prev - 1.0
        returns[t] = r
        prod *= 1.0 + r
        prev = v
        if v > peak:
            peak = v
        money = peak - v
        if money > dd_abs:
            dd_abs = money
        pct = 100.0 * money / peak
        if pct > dd_pct:
            dd_pct = pct
    final = initial_cash * prod
    out[FINAL_VALUE] = final
    out[TOTAL_RETURN] = final / initial_cash - 1.0
    mean = pairwise_sum(returns, 0, n) / n
    for t in range(n):
        d = returns[t] - mean
        squares[t] = d * d
    std = math.sqrt(pairwise_sum(squares, 0, n) / n)
    out[SHARPE] = np.nan if (std == 0.0 or not math.isfinite(std)) else mean / std
    out[MAX_DD_PCT] = dd_pct
    out[MAX_DD_ABS] = dd_abs


@njit(cache=True)
def run_configs(
    closes,
    leg_a,
    leg_b,
    betas,
    zs,
    beta_rows,
    z_rows,
    entry_z,
    exit_z,
    stop_z,
    stake,
    long_only,
    initial_cash,
    commission,
    metrics_out,
    values_out,
    fills_out,
    fill_counts,
):  # pragma: no cover - compiled
    """Backtest every config (one shared-cash portfolio of all pairs each) bar by bar.

    ``betas``/``zs`` rows are precomputed paths; config ``c`` reads pair ``k``'s from rows
    ``beta_rows[c, k]`` and ``z_rows[c, k]``. ``values_out``/``fills_out`` are filled only when
    they have rows (detail runs pass one config at a time); ``fill_counts[c]`` is always set.
    """
    n_bars, n_symbols = closes.shape
    n_pairs = leg_a.shape[0]
    values = np.empty(n_bars)
    returns = np.empty(n_bars)
    squares = np.empty(n_bars)
    pos = np.zeros(n_symbols, dtype=np.int64)
    state = np.zeros(n_pairs, dtype=np.int64)
    pend_sym = np.zeros(2 * n_pairs, dtype=np.int64)
    pend_qty = np.zeros(2 * n_pairs, dtype=np.int64)
    pend_price = np.zeros(2 * n_pairs)
    pend_ok = np.zeros(2 * n_pairs, dtype=np.bool_)
    for c in range(entry_z.shape[0]):
        pos[:] = 0
        state[:] = 0
        cash = initial_cash
        n_pend = 0
        n_fill = 0
        trades = 0
        for t in range(n_bars):
            if n_pend > 0:
                cash, closed, n_fill = _fill_orders(
                    t, closes, pend_sym, pend_qty, pend_price, pend_ok, n_pend, pos, cash,
                    commission, fills_out, n_fill,
                )  # fmt: skip
                trades += closed
                n_pend = 0
            for k in range(n_pairs):
                z = zs[z_rows[c, k], t]
                if z != z:  # NaN: warming up or zero std, the bar is skipped
                    continue
                a = leg_a[k]
                b = leg_b[k]
                pos_a = pos[a]
                pos_b = pos[b]
                if state[k] == 0 and pos_a == 0 and pos_b == 0:
                    if z < -entry_z[c]:
                        direction = 1
                    elif not long_only[c] and z > entry_z[c]:
                        direction = -1
                    else:
                        continue
                    qty_a = int(betas[beta_rows[c, k], t] * stake[c])  # truncation toward 0
                    if qty_a != 0:
                        pend_sym[n_pend] = a
                        pend_qty[n_pend] = direction * abs(qty_a)
                        pend_price[n_pend] = closes[t, a]
                        n_pend += 1
                    if stake[c] != 0:
                        pend_sym[n_pend] = b
                        pend_qty[n_pend] = -direction * abs(stake[c])
                        pend_price[n_pend] = closes[t, b]
                        n_pend += 1
                    state[k] = direction
                elif state[k] != 0 and (abs(z) < exit_z[c] or abs(z) > stop_z[c]):
                    if pos_a != 0:
                        pend_sym[n_pend] = a
                        pend_qty[n_pend] = -pos_a
                        pend_price[n_pend] = closes[t, a]
                        n_pend += 1
                    if pos_b != 0:
                        pend_sym[n_pend] = b
                        pend_qty[n_pend] = -pos_b
                        pend_price[n_pend] = closes[t, b]
                        n_pend += 1
                    state[k] = 0
            value = cash
            for s in range(n_symbols):
                if pos[s] != 0:
                    value += pos[s] * closes[t, s]
            values[t] = value
        fill_counts[c] = n_fill
        if n_fill == 0:  # never traded: value is the initial cash on every bar
            metrics_out[c, FINAL_VALUE] = initial_cash
            metrics_out[c, TOTAL_RETURN] = 0.0
            metrics_out[c, SHARPE] = np.nan
            metrics_out[c, MAX_DD_PCT] = 0.0
            metrics_out[c, MAX_DD_ABS] = 0.0
        else:
            _metrics(values, returns, squares, initial_cash, metrics_out[c])
        metrics_out[c, TOTAL_TRADES] = trades
        if values_out.shape[0] > 0:
            values_out[0, :] = values
