"""Up to ``LANES`` configs of one pair that differ only in their stake, backtested together.

The strategy's decisions read z and the state, never the stake: configs with the same z-series,
hedge-ratio path, thresholds and side take the same entry and exit decisions on the same bars,
and only their order sizes, fills, cash and values differ. So one scan of the z-series finds
the signal bars for all of them, and the backtest jumps from event to event (entry signal, its
fills, the exit signal, its fills) instead of stepping through bars: the fills of every lane
are straight-line arithmetic (``_fill_lanes``), and every held stretch and event bar is marked
for all lanes at once (``lane_book.hold_lanes``). Their metrics are finished together too, the
pairwise sums running one lane per config (``simd.lane_sums``). Each lane's arithmetic is its
own config's, in ``pair_kernel``'s order, so the bits are the same.

One thing can part a lane from the shared decisions: a closing order rejected at the creation
price check leaves a position open while the strategy is flat. The strategy then never trades
again (no entry while a leg is open, no exit while flat), so that config holds its positions to
the last bar: its lane is parked with its account as it stands after the fills, the others go
on, and at the end the parked lane's remaining bars are marked as one held stretch
(``account.hold``), exactly what its own loop does.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from research.backtest.fast.account import hold, metrics_row
from research.backtest.fast.lane_book import (
    BOOK_ROWS,
    CASH,
    DD_ABS,
    DD_PCT,
    DIVERGED,
    FILLS,
    ORDER_A,
    ORDER_B,
    PEAK,
    POS_0,
    POS_1,
    PREV,
    PROD,
    SEG,
    TRADES,
    hold_lanes,
)
from research.backtest.fast.lane_fills import close_lanes, open_lanes, send_orders
from research.backtest.fast.simd import LANES, lane_square_sums, lane_sums

__all__ = ["LANES", "lane_scratch", "run_group"]


@njit(cache=True, inline="always")
def _enters(zt, entry, only_long):  # pragma: no cover - compiled
    """The entry direction at a bar of z ``zt``: 1 long, -1 short, 0 none (NaN: none)."""
    if zt < -entry:
        return 1
    if not only_long and zt > entry:
        return -1
    return 0


@njit(cache=True, inline="always")
def _moving(moving, first, last):  # pragma: no cover - compiled
    """Flag the rows of bars ``first..last`` as moving."""
    moving[first // 8 : last // 8 + 1] = 1


@njit(cache=True, error_model="numpy")
def run_lanes(
    closes, a, z, beta, below, above, inside, outside, entry, only_long, stakes, n_lanes,
    initial_cash, commission, book, parked, returns, moving,
):  # fmt: skip  # pragma: no cover - compiled
    """Backtest the configs of stakes ``stakes[:n_lanes]`` (doubles, 0 after them; A in
    column ``a``) on the shared signals, from event to event: an entry signal, its fills the
    next bar, the held bars to the exit signal, its fills the next bar (where a new entry may
    follow at once). Lane ``l`` ends with its account, marks, fills and trades in
    ``book[:, l]``, and bar ``t``'s return in ``returns[t * LANES + l]`` (lanes past
    ``n_lanes`` stay flat). ``book[DIVERGED, l]`` is 1 + the bar where a rejected closing
    order parked the lane (0: never); ``parked`` is scratch space shaped like ``book``.
    ``moving[k]`` ends 1 for the rows of eight bars ``8k..8k+7`` where some lane's return may
    not be +0.0 (0: every lane's is). The waits are ``signal_tables`` rows: the next bar with
    ``z < -entry`` (``below``), ``z > entry`` (``above``), ``|z| < exit``, ``|z| > stop``."""
    n = z.shape[0]
    b = 1 - a
    book[:, :] = 0.0
    for lane in range(LANES):
        book[CASH, lane] = book[PREV, lane] = book[PEAK, lane] = initial_cash
        book[PROD, lane] = 1.0
    moving[: (n + 7) // 8] = 0
    t = 0  # flat, nothing pending, bars before t marked
    while t < n:
        e = below[t] if only_long else min(below[t], above[t])
        # Flat up to the entry bar included: every lane's value is its cash, which the last
        # marked bar's value already was, so a mark would change nothing and return 0.
        returns[t * LANES : min(e + 1, n) * LANES] = 0.0
        if e == n:
            break
        t = n
        while e + 1 < n:  # an entry signal at e (marked); t = n unless flat again
            send_orders(book, beta[e], stakes, _enters(z[e], entry, only_long))
            f = e + 1
            open_lanes(book, a, closes[e, a], closes[e, b], closes[f, a], closes[f, b], commission)
            # Held from the fills at f; the exit check of bar f comes after them.
            x = min(inside[f], outside[f])
            hold_lanes(closes, f, min(x + 1, n), book, returns)  # x: still held
            _moving(moving, f, min(x + 1, n - 1))  # the fill bars and the held ones
            if x + 1 >= n:  # no exit signal, or its orders would fill after the last bar
                break
            for lane in range(n_lanes):
                book[ORDER_A, lane] = -book[POS_0 + a, lane]
                book[ORDER_B, lane] = -book[POS_0 + b, lane]
            g = x + 1
            close_lanes(book, a, closes[x, a], closes[x, b], closes[g, a], closes[g, b], commission)
            for lane in range(n_lanes):
                if book[POS_0, lane] != 0 or book[POS_1, lane] != 0:  # a close was rejected
                    if book[DIVERGED, lane] == 0:
                        parked[:, lane] = book[:, lane]
                        book[DIVERGED, lane] = g + 1
                    book[POS_0, lane] = book[POS_1, lane] = 0.0  # not to hold up the others
            hold_lanes(closes, g, g + 1, book, returns)  # flat again
            if _enters(z[g], entry, only_long) == 0:
                t = g + 1
                break
            e = g  # a new entry on the exit's fill bar
    for lane in range(n_lanes):
        parked_at = int(book[DIVERGED, lane]) - 1
        if parked_at >= 0:  # held from there to the last bar
            _moving(moving, parked_at, n - 1)
            book[:, lane] = parked[:, lane]
            book[DIVERGED, lane] = parked_at + 1
            marks = hold(
                parked_at, n, closes, book[POS_0, lane], book[POS_1, lane], book[CASH, lane],
                (book[PREV, lane], book[PROD, lane], book[PEAK, lane], book[SEG, lane],
                 book[DD_PCT, lane], book[DD_ABS, lane]),
                returns[lane::LANES], returns[:0], False,
            )  # fmt: skip
            (
                book[PREV, lane], book[PROD, lane], book[PEAK, lane], book[SEG, lane],
                book[DD_PCT, lane], book[DD_ABS, lane],
            ) = marks  # fmt: skip


@njit(cache=True, error_model="numpy")
def _lane_tree_sums(returns, moving, program, stack, mean, squared):  # pragma: no cover
    """``kernels.tree_sum`` (``squared``: ``tree_square_sum`` about ``mean[l]``) of every
    lane's returns at once, into ``stack[0]``; ``stack`` is (64, LANES) scratch space. Rows
    of eight bars that ``moving`` flags 0 are all +0.0 (see ``simd.lane_sums``): numpy's
    leaves start on multiples of eight bars, so a leaf's rows are rows of ``moving``."""
    sp = 0
    for i in range(program.shape[0]):
        lo = program[i, 0]
        if lo < 0:
            for lane in range(LANES):
                stack[sp - 2, lane] = stack[sp - 2, lane] + stack[sp - 1, lane]
            sp -= 1
            continue
        count = program[i, 1]
        if count >= 8:
            rows = moving[lo // 8 :]
            if squared:
                lane_square_sums(returns, lo * LANES, count, mean, stack[sp], rows)
            else:
                lane_sums(returns, lo * LANES, count, mean, stack[sp], rows)
        else:  # numpy's short leaf: from 0.0, one value at a time
            for lane in range(LANES):
                res = 0.0
                for k in range(lo, lo + count):
                    x = returns[k * LANES + lane]
                    if squared:
                        d = x - mean[lane]
                        res += d * d
                    else:
                        res += x
                stack[sp, lane] = res
        sp += 1


@njit(cache=True, error_model="numpy")
def finish_lanes(
    returns, moving, n, book, n_lanes, program, stack, mean, initial_cash, configs, out
):  # fmt: skip  # pragma: no cover - compiled
    """Each lane's metrics row (``account.finish``) into ``out[configs[l]]``, lanes that
    diverged excepted. ``program`` is ``sum_program(n)``."""
    if n > 0 and book[FILLS, :n_lanes].any():  # else no lane's returns are read
        _lane_tree_sums(returns, moving, program, stack, mean, False)
        for lane in range(LANES):
            mean[lane] = stack[0, lane] / n
        _lane_tree_sums(returns, moving, program, stack, mean, True)
    for lane in range(n_lanes):
        marks = (
            book[PREV, lane], book[PROD, lane], book[PEAK, lane], book[SEG, lane],
            book[DD_PCT, lane], book[DD_ABS, lane],
        )  # fmt: skip
        metrics_row(
            marks, n, mean[lane], stack[0, lane], initial_cash, book[FILLS, lane],
            book[TRADES, lane], out[configs[lane]],
        )  # fmt: skip


@njit(cache=True, nogil=True, error_model="numpy")
def lane_scratch(n_bars):  # pragma: no cover - compiled
    """The working arrays of ``run_group`` for up to ``n_bars`` bars: (book, parked lanes,
    interleaved returns, moving rows, summation stack, lane means, stakes)."""
    return (
        np.empty((BOOK_ROWS, LANES)),
        np.empty((BOOK_ROWS, LANES)),
        np.empty(n_bars * LANES),
        np.empty((n_bars + 7) // 8, dtype=np.uint8),
        np.empty((64, LANES)),
        np.empty(LANES),
        np.empty(LANES),
    )


@njit(cache=True, error_model="numpy")
def run_group(
    closes, a, z, beta, tables, members, table_rows, entry_z, stake, long_only, initial_cash,
    commission, program, scratch, out,
):  # fmt: skip  # pragma: no cover - compiled
    """Metrics rows ``out[c]`` of the configs ``c`` in ``members`` (up to LANES of them, -1
    after the last), which share the z-series ``z``, the hedge-ratio path ``beta``, the
    thresholds and the side. ``tables`` are the z-series' ``signal_tables``, config ``c``'s
    rows ``table_rows[c]``; ``program`` is ``sum_program(len(z))``."""
    book, parked, lane_returns, moving, stack, mean, stakes = scratch
    n = z.shape[0]
    n_lanes = 0
    stakes[:] = 0.0  # a spare lane sends no order
    while n_lanes < LANES and members[n_lanes] >= 0:
        stakes[n_lanes] = stake[members[n_lanes]]
        n_lanes += 1
    c = members[0]
    lane_returns = lane_returns[: n * LANES]
    below, above, inside, outside = table_rows[c]
    run_lanes(
        closes, a, z, beta, tables[below], tables[above], tables[inside], tables[outside],
        entry_z[c], long_only[c], stakes, n_lanes, initial_cash, commission, book, parked,
        lane_returns, moving,
    )  # fmt: skip
    finish_lanes(
        lane_returns, moving, n, book, n_lanes, program, stack, mean, initial_cash, members, out
    )
