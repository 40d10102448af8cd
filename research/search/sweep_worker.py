"""What one sweep task does on a worker: backtest a few pairs over a slice of the grid.

A task is small and picklable (the pairs' closes and an index range of the grid), so the same
function runs in a local process pool or on a Dask cluster. The whole task is one compiled call
(``research.backtest.fast.sweep_kernel``); the worker then returns the rows the results table
keeps as plain arrays (every row, or each pair's best K), its own best rows for the driver's
top-N, and each pair's best row, so the driver only merges small arrays and appends columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from research.backtest.fast import portfolio_kernel as pk
from research.backtest.fast.plan import (
    COLUMN_DTYPES,
    ConfigBatch,
    Portfolio,
    SlicePlan,
    plan_slice,
    run_pairs,
)
from research.ranking import top_k_per_row, top_n
from research.search.grid import AXES, Grid

# A top row: pair index, grid index, then the kernel's metrics (``shared.metrics.RUN_METRICS``).
TOP_WIDTH = 2 + pk.N_METRICS


@dataclass(frozen=True)
class PairData:
    """One pair, its index in the sweep, and its closes on its own common dates."""

    index: int
    asset_1: str
    asset_2: str
    hedge_ratio: float
    closes: np.ndarray  # (bars, 2): columns in sorted-ticker order, as the broker values them


@dataclass(frozen=True)
class SweepTask:
    pairs: tuple[PairData, ...]
    start: int  # first grid index (the grid's itertools.product order)
    stop: int  # one past the last

    @property
    def n_backtests(self) -> int:
        return len(self.pairs) * (self.stop - self.start)


@dataclass(frozen=True)
class TaskRows:
    """Rows of the results table, in (pair, grid index) order."""

    pair: np.ndarray  # int64 pair index of each row
    config: np.ndarray  # int64 grid index
    metrics: np.ndarray  # (rows, N_METRICS) float64, columns RUN_METRICS


@dataclass(frozen=True)
class TaskResult:
    n_backtests: int
    rows: TaskRows | None  # None when the sweep keeps no results table
    top: np.ndarray  # (k, TOP_WIDTH) this task's best rows, ranked
    pair_best: np.ndarray  # (pairs, TOP_WIDTH): each pair's best row in this slice
    pair_counts: np.ndarray  # (pairs, 3): pair index, configs run, configs that traded


def grid_shape(grid: Grid) -> tuple[int, ...]:
    return tuple(len(getattr(grid, axis)) for axis in AXES)


def grid_batch(grid: Grid, start: int, stop: int) -> ConfigBatch:
    """Configs ``start..stop-1`` of the grid as columns, without materializing the grid."""
    return grid_configs(grid, np.arange(start, stop))


def grid_configs(grid: Grid, configs: np.ndarray) -> ConfigBatch:
    """The configs at grid indices ``configs`` as columns."""
    digits = np.unravel_index(configs, grid_shape(grid))
    columns = {
        axis: np.asarray(getattr(grid, axis))[d] for axis, d in zip(AXES, digits, strict=True)
    }
    return ConfigBatch.build(**{name: columns[name].astype(COLUMN_DTYPES[name]) for name in AXES})


@lru_cache(maxsize=8)
def slice_plan(grid: Grid, start: int, stop: int) -> SlicePlan:
    """The plan of a grid slice, made once per worker process: a sweep's tasks reuse a few."""
    return plan_slice(grid_batch(grid, start, stop))


def run_task(task: SweepTask, grid: Grid, top_n_rows: int, keep: int | None = None) -> TaskResult:
    """Backtest the task. ``keep``: None keeps no table rows, 0 every row, K > 0 each pair's
    best K configs of this slice."""
    metrics = run_pairs(
        slice_plan(grid, task.start, task.stop),
        [pair.closes for pair in task.pairs],
        np.array([0 if p.asset_1 < p.asset_2 else 1 for p in task.pairs]),
        np.array([p.hedge_ratio for p in task.pairs]),
        initial_cash=grid.initial_cash,
        commission=grid.commission,
    )  # (pairs, configs, N_METRICS)
    n_pairs, n_configs = metrics.shape[:2]
    pair_index = np.array([p.index for p in task.pairs], dtype=np.int64)
    sharpe, dd = metrics[:, :, pk.SHARPE], metrics[:, :, pk.MAX_DD_PCT]
    best_k = top_k_per_row(sharpe, dd, max(1, keep or 0))  # (pairs, k) config positions
    every_pair = np.arange(n_pairs)
    pair_best = _rows_at(pair_index, task.start, metrics, every_pair, best_k[:, 0])
    table = None
    if keep == 0:
        table = TaskRows(
            np.repeat(pair_index, n_configs),
            np.tile(np.arange(task.start, task.stop, dtype=np.int64), n_pairs),
            metrics.reshape(-1, pk.N_METRICS),
        )
    elif keep is not None:
        rows_of = np.repeat(every_pair, best_k.shape[1])
        in_grid_order = np.sort(best_k, axis=1).ravel()  # the table keeps sweep order
        table = TaskRows(
            pair_index[rows_of], task.start + in_grid_order, metrics[rows_of, in_grid_order]
        )
    sweep_position = np.repeat(pair_index, n_configs) * 2.0**32 + np.tile(
        np.arange(task.start, task.stop), n_pairs
    )
    chosen = top_n(sharpe.ravel(), dd.ravel(), sweep_position, top_n_rows)
    top = _rows_at(pair_index, task.start, metrics, chosen // n_configs, chosen % n_configs)
    traded = np.count_nonzero(metrics[:, :, pk.TOTAL_TRADES] > 0, axis=1)
    counts = np.column_stack([pair_index, np.full(n_pairs, n_configs), traded])
    return TaskResult(task.n_backtests, table, top, pair_best, counts)


def _rows_at(
    pair_index: np.ndarray,
    start: int,
    metrics: np.ndarray,
    pairs: np.ndarray,
    positions: np.ndarray,
) -> np.ndarray:
    """Top rows of (task pair ``pairs[i]``, slice position ``positions[i]``)."""
    out = np.empty((len(pairs), TOP_WIDTH))
    out[:, 0] = pair_index[pairs]
    out[:, 1] = start + positions
    out[:, 2:] = metrics[pairs, positions]
    return out


def _sweep_order(rows: np.ndarray) -> np.ndarray:
    """The sweep position of top rows (pair index, then grid index): the ranking's tiebreak."""
    return rows[:, 0] * 2.0**32 + rows[:, 1]


def merge_top(current: np.ndarray, new: np.ndarray, n: int) -> np.ndarray:
    """The best ``n`` of two sets of top rows, ranked, ties in sweep order."""
    both = np.concatenate([current, new])
    return both[top_n(both[:, 2 + pk.SHARPE], both[:, 2 + pk.MAX_DD_PCT], _sweep_order(both), n)]


def pair_portfolio(pair: PairData) -> Portfolio:
    a = 0 if pair.asset_1 < pair.asset_2 else 1  # columns are in sorted-ticker order
    return Portfolio(
        closes=np.ascontiguousarray(pair.closes, dtype=np.float64),
        leg_a=np.array([a], dtype=np.int64),
        leg_b=np.array([1 - a], dtype=np.int64),
        hedge_ratio=np.array([pair.hedge_ratio]),
    )
