"""A sweep task in one compiled call: several single pairs, each over the same slice of the grid.

Calling the kernels pair by pair from Python cost more than the backtests on small grids (the
seed's 72 configs): numba's argument checks, the path tables' allocations and a dozen small
numpy calls per pair. Here the task's pairs arrive concatenated, and for each one the work that
depends only on (delta, R) -- the Kalman path -- and on (delta, R, window) -- the z-series and
its block extremes -- is done once, then the configs of the slice run over those rows in lane
groups, up to four configs that differ only in stake side by side (``lane_kernel.run_group``),
and their metrics rows are finished. The arithmetic is the engine's own, config by config, so
the results are the same bits as ``FastEngine``'s.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from research.backtest.fast import signal_tables
from research.backtest.fast.kernels import kalman_path, zscore_path
from research.backtest.fast.lane_kernel import lane_scratch, run_group


@njit(cache=True, nogil=True, error_model="numpy")
def run_pairs(
    closes, bar_start, leg_a, hedge_ratio, kalman_delta, kalman_R, z_kalman, z_window,
    z_program, beta_row, z_row, entry_z, stake, long_only, lanes, table_kinds, table_levels,
    table_rows, initial_cash, commission, two, programs, program_start, pair_program,
    metrics_out,
):  # fmt: skip  # pragma: no cover - compiled
    """Backtest pair ``p`` (closes ``closes[bar_start[p]:bar_start[p+1]]``, sorted-ticker
    columns, asset_1 in column ``leg_a[p]``) over every config of the slice into
    ``metrics_out[p, c]``.

    Path keys: Kalman key ``k`` is (``kalman_delta[k]``, ``kalman_R[k]``); z key ``j`` is
    (Kalman key ``z_kalman[j]``, ``z_window[j]``). Config ``c`` reads Kalman key
    ``beta_row[c]`` and z key ``z_row[c]``. Pairwise-summation programs (``sum_program``) are
    rows ``program_start[i]:program_start[i+1]`` of ``programs``: program ``z_program[j]`` for
    z key ``j``'s window, ``pair_program[p]`` for pair ``p``'s number of bars. Each row of
    ``lanes`` is a lane group (``lane_kernel.run_group``): configs differing only in stake;
    the groups of a z key are consecutive. A z-series' next-signal tables are made when its
    first group comes (``signal_tables``: tests ``table_kinds`` at ``table_levels``; config
    ``c`` reads rows ``table_rows[c]``).
    """
    n_pairs = leg_a.shape[0]
    n_kalman = kalman_delta.shape[0]
    n_z = z_window.shape[0]
    max_bars = 0
    for p in range(n_pairs):
        max_bars = max(max_bars, bar_start[p + 1] - bar_start[p])
    betas = np.empty((n_kalman, max_bars))
    spreads = np.empty((n_kalman, max_bars))
    zs = np.empty((n_z, max_bars))
    tables = np.empty((table_kinds.shape[0], max_bars + 1), dtype=np.int64)
    price_a = np.empty(max_bars)
    price_b = np.empty(max_bars)
    scratch = lane_scratch(max_bars)
    for p in range(n_pairs):
        n = bar_start[p + 1] - bar_start[p]
        pair_closes = closes[bar_start[p] : bar_start[p + 1]]
        a = leg_a[p]
        for t in range(n):
            price_a[t] = pair_closes[t, a]
            price_b[t] = pair_closes[t, 1 - a]
        for k in range(n_kalman):
            kalman_path(
                price_a[:n], price_b[:n], hedge_ratio[p], kalman_delta[k], kalman_R[k], two,
                betas[k][:n], spreads[k][:n],
            )  # fmt: skip
        for j in range(n_z):
            i = z_program[j]
            window_program = programs[program_start[i] : program_start[i + 1]]
            zscore_path(spreads[z_kalman[j]][:n], z_window[j], window_program, zs[j][:n])
        i = pair_program[p]
        bars_program = programs[program_start[i] : program_start[i + 1]]
        tabled = -1  # the z key whose tables are made
        for g in range(lanes.shape[0]):
            c = lanes[g, 0]
            row = z_row[c]
            if row != tabled:
                signal_tables.build(zs[row][:n], table_kinds, table_levels, tables)
                tabled = row
            run_group(
                pair_closes, a, zs[row][:n], betas[beta_row[c]][:n], tables,
                lanes[g], table_rows, entry_z, stake, long_only, initial_cash, commission,
                bars_program, scratch, metrics_out[p],
            )  # fmt: skip
