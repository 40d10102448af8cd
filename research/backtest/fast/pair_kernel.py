"""One config of a single-pair portfolio, bar by bar, with its whole state in scalars.

The portfolio loop (``portfolio_kernel``) keeps positions, signal states and pending orders in
arrays for any number of pairs; a sweep backtests one pair at a time, where a bar holds at most
two pending orders and two positions. Here they are plain variables, and the bar's steps are
the portfolio loop's for ``n_pairs == 1`` in the same order: fills of the previous bar's orders
(creation-price check, then execution), the pair's signal, the end-of-bar value. Flat and held
stretches are skipped to their next signal (``zblocks``) and marked without a decision.
"""

from __future__ import annotations

from numba import njit

from research.backtest.fast import zblocks
from research.backtest.fast.account import closes_trade, execute, hold, mark, record_fill


@njit(cache=True, inline="always")
def creation_check(cash, q, price, commission):  # pragma: no cover - compiled
    """One step of backtrader's creation-price check on the running cash copy."""
    cash -= q * price
    cash -= abs(q) * price * commission
    return cash


@njit(cache=True, inline="always")
def fill_order(t, closes, s, q, cash, pos0, pos1, commission, fills_out, n_fill, trades):
    """Execute one accepted order on symbol column ``s`` at bar ``t``'s close."""
    price = closes[t, s]
    position = pos0 if s == 0 else pos1
    cash, executed = execute(q, price, position, cash, commission)
    if executed != 0:
        new_pos = position + executed
        trades += closes_trade(position, new_pos)
        if s == 0:
            pos0 = new_pos
        else:
            pos1 = new_pos
        n_fill = record_fill(fills_out, n_fill, t, s, executed, price, commission)
    return cash, pos0, pos1, n_fill, trades


@njit(cache=True, error_model="numpy")
def run_pair(
    closes, a, z, beta, ext, entry, exit_, stop, size_b, only_long, initial_cash, commission,
    returns, values, record, fills_out,
):  # fmt: skip  # pragma: no cover - compiled
    """Backtest one config of the pair (A in column ``a``, B in the other); returns (marks,
    fills, closed trades). ``returns`` gets each bar's return, ``values`` (when ``record``)
    each bar's value, ``fills_out`` the fills while it has rows."""
    n = z.shape[0]
    b = 1 - a
    cash = initial_cash
    pos0 = pos1 = state = n_fill = trades = 0
    n_pend = s1 = q1 = s2 = q2 = 0
    p1 = p2 = 0.0
    # Nothing can fill on the first bar, so its value, the first peak, is the initial cash.
    marks = (initial_cash, 1.0, initial_cash, 0.0, 0.0, 0.0)
    t = 0
    while t < n:
        if n_pend == 0 and state == 0 and pos0 == 0 and pos1 == 0:
            # Flat with nothing pending: the value stays the cash (the last bar's value).
            start = t
            t = zblocks.next_entry(z, ext, t, entry, only_long)
            returns[start:t] = 0.0
            if record:
                values[start:t] = cash
            if t == n:
                break
        elif n_pend == 0 and state != 0:
            signal = zblocks.next_exit(z, ext, t, exit_, stop)
            marks = hold(t, signal, closes, pos0, pos1, cash, marks, returns, values, record)
            t = signal
            if t == n:
                break
        if n_pend > 0:
            run_cash = creation_check(cash, q1, p1, commission)
            ok1 = run_cash >= 0.0  # the running copy is not restored after a rejection
            ok2 = n_pend > 1 and creation_check(run_cash, q2, p2, commission) >= 0.0
            if ok1:
                cash, pos0, pos1, n_fill, trades = fill_order(
                    t, closes, s1, q1, cash, pos0, pos1, commission, fills_out, n_fill, trades
                )
            if ok2:
                cash, pos0, pos1, n_fill, trades = fill_order(
                    t, closes, s2, q2, cash, pos0, pos1, commission, fills_out, n_fill, trades
                )
            n_pend = 0
        zt = z[t]
        if zt == zt:  # NaN: warming up or zero std, the strategy skips the bar
            pos_a = pos0 if a == 0 else pos1
            pos_b = pos1 if a == 0 else pos0
            if state == 0 and pos_a == 0 and pos_b == 0:
                direction = 0
                if zt < -entry:
                    direction = 1
                elif not only_long and zt > entry:
                    direction = -1
                if direction != 0:
                    qty_a = int(beta[t] * size_b)  # truncation toward zero
                    if qty_a != 0:  # a size-0 order is not sent; a negative one flips to abs
                        s1, q1, p1 = a, direction * abs(qty_a), closes[t, a]
                        n_pend = 1
                    if size_b != 0:
                        s, q, p = b, -direction * abs(size_b), closes[t, b]
                        if n_pend == 0:
                            s1, q1, p1 = s, q, p
                        else:
                            s2, q2, p2 = s, q, p
                        n_pend += 1
                    state = direction
            elif state != 0 and (abs(zt) < exit_ or abs(zt) > stop):
                if pos_a != 0:
                    s1, q1, p1 = a, -pos_a, closes[t, a]
                    n_pend = 1
                if pos_b != 0:
                    s, q, p = b, -pos_b, closes[t, b]
                    if n_pend == 0:
                        s1, q1, p1 = s, q, p
                    else:
                        s2, q2, p2 = s, q, p
                    n_pend += 1
                state = 0
        value = cash
        if pos0 != 0:
            value += pos0 * closes[t, 0]
        if pos1 != 0:
            value += pos1 * closes[t, 1]
        marks = mark(value, marks, returns, t)
        if record:
            values[t] = value
        t += 1
    return marks, n_fill, trades
