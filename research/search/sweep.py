"""Sweeps: many pairs × a parameter grid of any size, on local processes or a Dask cluster.

The driver cuts the work into tasks (a few pairs × a slice of the grid, see
:mod:`research.search.sweep_worker`), keeps a bounded number in flight on a
``concurrent.futures.Executor`` (a local process pool, or a Dask client's executor), appends each
finished task's rows to the results table (:mod:`research.search.sweep_table`, Parquet) and
merges its best rows into the top-N and the per-pair bests. Memory stays flat however large the
grid: no task, result table or grid is ever held whole.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from research.parallel import bounded
from research.ranking import rank_order
from research.search.grid import AXES, Grid
from research.search.progress import progress_bar
from research.search.sweep_summary import RESULTS_NAME
from research.search.sweep_table import PairInfo, SweepTableWriter
from research.search.sweep_worker import (
    TOP_WIDTH,
    PairData,
    SweepTask,
    TaskResult,
    grid_configs,
    merge_top,
    run_task,
)
from shared.errors import DataError
from shared.metrics import COUNT_METRICS, METRIC_NAMES, RUN_METRICS

DEFAULT_TOP_N = 100
DEFAULT_TASK_BACKTESTS = 20_000  # ~0.1-0.2 s of kernel time: scheduling overhead stays small
TOP_NAME = "sweep_top.csv"
PAIRS_NAME = "sweep_pairs.csv"

# (asset_1, asset_2, hedge_ratio); None asks for the OLS hedge ratio on the pair's closes.
PairSpec = tuple[str, str, float | None]


def all_pairs(prices: pd.DataFrame) -> list[PairSpec]:
    """Every pair of the price table's tickers, sorted, asset_1 < asset_2 (as the screen)."""
    tickers = sorted(map(str, prices.columns))
    return [(a, b, None) for a, b in itertools.combinations(tickers, 2)]


def ols_hedge_ratio(y: np.ndarray, x: np.ndarray) -> float:
    """Slope of the OLS of ``y`` (asset_1) on a constant and ``x`` (the screen's hedge ratio)."""
    dx = x - x.mean()
    var = float(dx @ dx)
    if var == 0.0:
        return 0.0
    return float(dx @ (y - y.mean())) / var


def iter_pair_data(prices: pd.DataFrame, pairs: Sequence[PairSpec]) -> Iterator[PairData]:
    """Each pair's closes on the dates both legs have (the seed's dropna + intersection),
    built lazily from one float matrix of the table."""
    columns = {str(c): i for i, c in enumerate(prices.columns)}
    wanted = sorted({t for a, b, _ in pairs for t in (a, b)})
    missing = [t for t in wanted if t not in columns]
    if missing:
        raise DataError(
            f"ticker(s) {', '.join(missing[:5])} of the pair list are not in the price table; "
            "check --pairs/--prices",
            symbol=missing[0],
        )
    values = prices.to_numpy(dtype=np.float64)
    for t in wanted:
        col = values[:, columns[t]]
        bad = np.flatnonzero(col <= 0)
        if bad.size:
            raise DataError(
                f"ticker {t} has non-positive close {col[bad[0]]} on "
                f"{pd.Timestamp(prices.index[bad[0]]):%Y-%m-%d}; fix or drop the ticker",
                symbol=t,
            )
    for index, (a1, a2, hedge) in enumerate(pairs):
        if a1 == a2:
            raise DataError(f"pair {a1}/{a2} has the same ticker on both legs", symbol=a1)
        a, b = values[:, columns[a1]], values[:, columns[a2]]
        common = ~np.isnan(a) & ~np.isnan(b)
        if not common.any():
            raise DataError(f"tickers {a1} and {a2} share no dates", symbol=a1)
        first, second = sorted((a1, a2))
        closes = np.column_stack([values[common, columns[first]], values[common, columns[second]]])
        if hedge is None:
            hedge = ols_hedge_ratio(a[common], b[common])
        yield PairData(index, a1, a2, float(hedge), closes)


def plan_tasks(
    pair_data: Iterable[PairData],
    grid_size: int,
    task_backtests: int = DEFAULT_TASK_BACKTESTS,
    *,
    n_pairs: int | None = None,
    parallelism: int = 1,
) -> Iterator[SweepTask]:
    """Group pairs (small grids) or slice the grid (large ones) into tasks of about
    ``task_backtests`` backtests each, but at least four per worker when ``n_pairs`` allows,
    so that a small sweep still keeps every worker busy."""
    if grid_size >= task_backtests:
        for pair in pair_data:
            for start in range(0, grid_size, task_backtests):
                yield SweepTask((pair,), start, min(start + task_backtests, grid_size))
        return
    per_task = max(1, task_backtests // grid_size)
    if n_pairs is not None:
        per_task = min(per_task, max(1, -(-n_pairs // (4 * parallelism))))
    batch: list[PairData] = []
    for pair in pair_data:
        batch.append(pair)
        if len(batch) == per_task:
            yield SweepTask(tuple(batch), 0, grid_size)
            batch = []
    if batch:
        yield SweepTask(tuple(batch), 0, grid_size)


@dataclass
class SweepSummary:
    n_pairs: int
    grid_size: int
    n_backtests: int
    elapsed_s: float
    top: pd.DataFrame  # ranked, the results table's columns plus ``rank``
    pairs: pd.DataFrame  # one row per pair: its best config and how many configs traded
    results_path: Path | None  # the Parquet table, when one was kept
    top_csv: Path
    pairs_csv: Path
    table_rows: int = 0  # rows in the results table

    @property
    def backtests_per_s(self) -> float:
        return self.n_backtests / self.elapsed_s if self.elapsed_s > 0 else float("nan")


@dataclass
class _Accumulator:
    """Everything the driver keeps: the top-N rows and per-pair aggregates (O(pairs))."""

    top_n: int
    top: np.ndarray = field(default_factory=lambda: np.empty((0, TOP_WIDTH)))
    best: dict[int, np.ndarray] = field(default_factory=dict)
    counts: dict[int, list[int]] = field(default_factory=dict)
    names: dict[int, tuple[str, str, float, int]] = field(default_factory=dict)

    def add(self, result: TaskResult) -> None:
        self.top = merge_top(self.top, result.top, self.top_n)
        for row in result.pair_best:
            index = int(row[0])
            previous = self.best.get(index)
            self.best[index] = (
                row if previous is None else merge_top(previous[None], row[None], 1)[0]
            )
        for index, configs, traded in result.pair_counts.tolist():
            count = self.counts.setdefault(index, [0, 0])
            count[0] += configs
            count[1] += traded


def run_sweep(
    pair_data: Iterable[PairData],
    n_pairs: int,
    grid: Grid,
    executor: Executor,
    out_dir: Path,
    *,
    parallelism: int,
    top_n: int = DEFAULT_TOP_N,
    full_table: bool = True,
    keep_per_pair: int = 0,
    task_backtests: int = DEFAULT_TASK_BACKTESTS,
    progress: bool = True,
) -> SweepSummary:
    """Run every pair over every grid config; write the results table (every row, or each
    pair's best ``keep_per_pair`` configs when that is positive; none without ``full_table``),
    the top-N and the per-pair summary under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    acc = _Accumulator(top_n)
    results_path = out_dir / RESULTS_NAME if full_table else None
    keep = (keep_per_pair if keep_per_pair > 0 else 0) if full_table else None
    started = time.perf_counter()
    info = PairInfo()

    def noted(pairs: Iterable[PairData]) -> Iterator[PairData]:
        for pair in pairs:
            acc.names[pair.index] = (pair.asset_1, pair.asset_2, pair.hedge_ratio, len(pair.closes))
            info.add(pair.index, pair.asset_1, pair.asset_2, pair.hedge_ratio, len(pair.closes))
            yield pair

    tasks = enumerate(
        plan_tasks(
            noted(pair_data), grid.size, task_backtests, n_pairs=n_pairs, parallelism=parallelism
        )
    )
    table = (
        SweepTableWriter(results_path, grid, info, keep or 0) if results_path else nullcontext(None)
    )
    with progress_bar(n_pairs * grid.size, progress) as bar, table as writer:
        submit = _submitter(executor, grid, top_n, keep)
        for (sequence, _), result in bounded(tasks, submit, 2 * parallelism + 2):
            if writer is not None and result.rows is not None:
                writer.add(sequence, result.rows)
            acc.add(result)
            bar.update(result.n_backtests)
    elapsed = time.perf_counter() - started
    top = _top_frame(acc, grid)
    pairs = _pairs_frame(acc, grid)
    top_csv, pairs_csv = out_dir / TOP_NAME, out_dir / PAIRS_NAME
    top.to_csv(top_csv, index=False)
    pairs.to_csv(pairs_csv, index=False)
    done = sum(c[0] for c in acc.counts.values())
    rows = writer.rows_written if writer is not None else 0
    return SweepSummary(
        len(acc.names), grid.size, done, elapsed, top, pairs, results_path, top_csv, pairs_csv, rows
    )


def _submitter(
    executor: Executor, grid: Grid, top_n: int, keep: int | None
) -> Callable[[tuple[int, SweepTask]], Future[TaskResult]]:
    def submit(numbered: tuple[int, SweepTask]) -> Future[TaskResult]:
        return executor.submit(run_task, numbered[1], grid, top_n, keep)

    return submit


def _rows_frame(acc: _Accumulator, grid: Grid, rows: np.ndarray) -> pd.DataFrame:
    """Top rows (pair index, grid index, kernel metrics) as results-table rows."""
    rows = rows.reshape(-1, TOP_WIDTH)
    names = [acc.names[int(i)] for i in rows[:, 0]]
    configs = rows[:, 1].astype(np.int64)
    params = grid_configs(grid, configs)
    frame = pd.DataFrame(
        {
            "asset_1": [n[0] for n in names],
            "asset_2": [n[1] for n in names],
            "hedge_ratio": [n[2] for n in names],
            "config": configs,
            **{axis: getattr(params, axis) for axis in AXES},
            **{
                name: rows[:, 2 + i].astype(np.int64) if name in COUNT_METRICS else rows[:, 2 + i]
                for i, name in enumerate(RUN_METRICS)
            },
            "n_days": np.array([n[3] for n in names], dtype=np.int64),
        }
    )
    return frame[["asset_1", "asset_2", "hedge_ratio", "config", *AXES, *METRIC_NAMES]]


def _top_frame(acc: _Accumulator, grid: Grid) -> pd.DataFrame:
    frame = _rows_frame(acc, grid, acc.top)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


def _pairs_frame(acc: _Accumulator, grid: Grid) -> pd.DataFrame:
    """Per pair: its best config (the seed's ranking) and how many configs traded at all,
    ranked by that best config, ties in pair order."""
    indices = sorted(acc.best)
    best = np.array([acc.best[i] for i in indices]).reshape(-1, TOP_WIDTH)
    frame = _rows_frame(acc, grid, best)
    frame.insert(3, "configs", [acc.counts[i][0] for i in indices])
    frame.insert(4, "configs_traded", [acc.counts[i][1] for i in indices])
    frame = frame.rename(columns={"config": "best_config"})
    order = rank_order(frame["sharpe_ratio"].to_numpy(float), frame["max_dd_pct"].to_numpy(float))
    return frame.iloc[order].reset_index(drop=True)
