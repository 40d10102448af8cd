"""What one sweep task does on a worker: backtest a few pairs over a slice of the grid.

A task is small and picklable (the pairs' closes and an index range of the grid), so the same
function runs in a local process pool or on a Dask cluster. The worker formats its rows of the
full results table itself, so that the driver only appends text and never holds the table, and
it returns its own best rows so the driver's top-N stays a merge of small lists.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from research.backtest.fast import portfolio_kernel as pk
from research.backtest.fast.plan import (
    COLUMN_DTYPES,
    ConfigBatch,
    Portfolio,
    build_paths,
    path_layout,
    run_batch,
)
from research.search.grid import AXES, Grid
from shared.metrics import METRIC_NAMES

RESULT_HEADER: tuple[str, ...] = (
    "asset_1",
    "asset_2",
    "hedge_ratio",
    "config",
    *AXES,
    *METRIC_NAMES,
)
_METRIC_COLUMNS = (pk.FINAL_VALUE, pk.TOTAL_RETURN, pk.SHARPE, pk.MAX_DD_PCT, pk.MAX_DD_ABS)


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
class TaskResult:
    n_backtests: int
    csv_text: str  # rows of the full table, no header
    top: np.ndarray  # (k, 2 + N_METRICS) rows: pair index, grid index, kernel metrics
    pair_best: np.ndarray  # (pairs, 2 + N_METRICS): each pair's best row in this slice
    pair_counts: np.ndarray  # (pairs, 3): pair index, configs run, configs that traded


def grid_shape(grid: Grid) -> tuple[int, ...]:
    return tuple(len(getattr(grid, axis)) for axis in AXES)


def grid_batch(grid: Grid, start: int, stop: int) -> ConfigBatch:
    """Configs ``start..stop-1`` of the grid as columns, without materializing the grid."""
    digits = np.unravel_index(np.arange(start, stop), grid_shape(grid))
    columns = {
        axis: np.asarray(getattr(grid, axis))[d] for axis, d in zip(AXES, digits, strict=True)
    }
    return ConfigBatch.build(**{name: columns[name].astype(COLUMN_DTYPES[name]) for name in AXES})


def rank_order(sharpe: np.ndarray, max_dd_pct: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Indices in the seed's ranking: Sharpe descending, max drawdown % ascending, NaN last for
    either, ties in sweep order (pair, then grid index) like a stable sort."""
    sharpe_key = np.where(np.isnan(sharpe), np.inf, -sharpe)
    dd_key = np.where(np.isnan(max_dd_pct), np.inf, max_dd_pct)
    return np.lexsort((order, dd_key, sharpe_key))


def run_task(task: SweepTask, grid: Grid, top_n: int, with_rows: bool = True) -> TaskResult:
    batch = grid_batch(grid, task.start, task.stop)
    layout = path_layout(batch)  # the same for every pair of the task
    param_text = _param_text(batch) if with_rows else []
    grid_index = np.arange(task.start, task.stop, dtype=np.int64)
    out = io.StringIO()
    tops = []
    best = np.empty((len(task.pairs), 2 + pk.N_METRICS))
    counts = np.empty((len(task.pairs), 3), dtype=np.int64)
    for row, pair in enumerate(task.pairs):
        portfolio = pair_portfolio(pair)
        metrics = run_batch(
            portfolio,
            batch,
            build_paths(portfolio, batch, layout),
            initial_cash=grid.initial_cash,
            commission=grid.commission,
        ).metrics
        if with_rows:
            _write_rows(out, pair, grid_index, param_text, metrics, portfolio.closes.shape[0])
        tops.append(_local_top(pair.index, grid_index, metrics, max(top_n, 1)))
        best[row] = tops[-1][0]
        traded = int(np.count_nonzero(metrics[:, pk.TOTAL_TRADES] > 0))
        counts[row] = (pair.index, len(grid_index), traded)
    top = merge_top(np.empty((0, 2 + pk.N_METRICS)), np.concatenate(tops), top_n)
    return TaskResult(task.n_backtests, out.getvalue(), top, best, counts)


def merge_top(current: np.ndarray, new: np.ndarray, top_n: int) -> np.ndarray:
    both = np.concatenate([current, new])
    order = both[:, 0] * 2.0**32 + both[:, 1]  # pair index, then grid index
    ranked = rank_order(both[:, 2 + pk.SHARPE], both[:, 2 + pk.MAX_DD_PCT], order)
    return both[ranked[:top_n]]


def pair_portfolio(pair: PairData) -> Portfolio:
    a = 0 if pair.asset_1 < pair.asset_2 else 1  # columns are in sorted-ticker order
    return Portfolio(
        closes=np.ascontiguousarray(pair.closes, dtype=np.float64),
        leg_a=np.array([a], dtype=np.int64),
        leg_b=np.array([1 - a], dtype=np.int64),
        hedge_ratio=np.array([pair.hedge_ratio]),
    )


def _local_top(
    pair_index: int, grid_index: np.ndarray, metrics: np.ndarray, top_n: int
) -> np.ndarray:
    sharpe, dd = metrics[:, pk.SHARPE], metrics[:, pk.MAX_DD_PCT]
    candidates = np.arange(len(sharpe))
    if len(sharpe) > top_n:
        # Only rows whose Sharpe can reach the top N (ties at the boundary included) need the
        # full three-key sort.
        key = np.where(np.isnan(sharpe), np.inf, -sharpe)
        cutoff = np.partition(key, top_n - 1)[top_n - 1]
        candidates = np.flatnonzero(key <= cutoff)
    order = rank_order(sharpe[candidates], dd[candidates], grid_index[candidates])
    ranked = candidates[order[:top_n]]
    rows = np.empty((len(ranked), 2 + pk.N_METRICS))
    rows[:, 0] = pair_index
    rows[:, 1] = grid_index[ranked]
    rows[:, 2:] = metrics[ranked]
    return rows


def _param_text(batch: ConfigBatch) -> list[str]:
    """The parameter columns of each config, formatted once per task (shared by its pairs)."""
    columns = [getattr(batch, axis).tolist() for axis in AXES]
    return [",".join(map(str, values)) for values in zip(*columns, strict=True)]


def _write_rows(
    out: io.StringIO,
    pair: PairData,
    grid_index: np.ndarray,
    param_text: Sequence[str],
    metrics: np.ndarray,
    n_days: int,
) -> None:
    prefix = f"{pair.asset_1},{pair.asset_2},{pair.hedge_ratio!r},"
    values = metrics[:, list(_METRIC_COLUMNS)].tolist()
    trades = metrics[:, pk.TOTAL_TRADES].astype(np.int64).tolist()
    for i, config in enumerate(grid_index.tolist()):
        final, ret, sharpe, dd_pct, dd_abs = values[i]
        sharpe_text = "" if sharpe != sharpe else repr(sharpe)  # NaN: an empty cell
        out.write(
            f"{prefix}{config},{param_text[i]},{final!r},{ret!r},{sharpe_text},{dd_pct!r},"
            f"{dd_abs!r},{trades[i]},{n_days}\n"
        )
