"""Sweeps: many pairs × a parameter grid of any size, on local processes or a Dask cluster.

The driver cuts the work into tasks (a few pairs × a slice of the grid, see
:mod:`research.search.sweep_worker`), keeps a bounded number in flight on a
``concurrent.futures.Executor`` (a local process pool, or a Dask client's executor), appends each
finished task's rows to the full results CSV and merges its best rows into the top-N. Memory
stays flat however large the grid: no task, result table or grid is ever held whole.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from research.backtest.fast import portfolio_kernel as pk
from research.parallel import bounded
from research.search.grid import AXES, Grid
from research.search.sweep_worker import (
    RESULT_HEADER,
    PairData,
    SweepTask,
    TaskResult,
    grid_batch,
    merge_top,
    run_task,
)
from shared.errors import DataError

DEFAULT_TOP_N = 100
DEFAULT_TASK_BACKTESTS = 20_000  # ~0.1-0.2 s of kernel time: scheduling overhead stays small
RESULTS_NAME = "sweep_results.csv"
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
    results_csv: Path | None
    top_csv: Path
    pairs_csv: Path

    @property
    def backtests_per_s(self) -> float:
        return self.n_backtests / self.elapsed_s if self.elapsed_s > 0 else float("nan")


@dataclass
class _Accumulator:
    """Everything the driver keeps: the top-N rows and per-pair aggregates (O(pairs))."""

    top_n: int
    top: np.ndarray = field(default_factory=lambda: np.empty((0, 2 + pk.N_METRICS)))
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
    task_backtests: int = DEFAULT_TASK_BACKTESTS,
    progress: bool = True,
) -> SweepSummary:
    """Run every pair over every grid config; write the results table, the top-N and the
    per-pair summary under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    acc = _Accumulator(top_n)
    results_csv = out_dir / RESULTS_NAME if full_table else None
    total = n_pairs * grid.size
    started = time.perf_counter()
    sink = results_csv.open("w", encoding="utf-8", newline="") if results_csv else None
    try:
        if sink:
            sink.write(",".join(RESULT_HEADER) + "\n")

        def on_result(task: SweepTask, result: TaskResult) -> None:
            for pair in task.pairs:
                acc.names[pair.index] = (
                    pair.asset_1,
                    pair.asset_2,
                    pair.hedge_ratio,
                    pair.closes.shape[0],
                )
            if sink:
                sink.write(result.csv_text)
            acc.add(result)

        tasks = plan_tasks(
            pair_data, grid.size, task_backtests, n_pairs=n_pairs, parallelism=parallelism
        )
        with tqdm(
            total=total, unit="bt", unit_scale=True, file=sys.stderr, disable=not progress
        ) as bar:
            submit = _submitter(executor, grid, top_n, full_table)
            for task, result in bounded(tasks, submit, 2 * parallelism + 2):
                on_result(task, result)
                bar.update(result.n_backtests)
    finally:
        if sink:
            sink.close()
    elapsed = time.perf_counter() - started
    top = _top_frame(acc, grid)
    pairs = _pairs_frame(acc, grid)
    top_csv, pairs_csv = out_dir / TOP_NAME, out_dir / PAIRS_NAME
    top.to_csv(top_csv, index=False)
    pairs.to_csv(pairs_csv, index=False)
    done = sum(c[0] for c in acc.counts.values())
    return SweepSummary(
        len(acc.names), grid.size, done, elapsed, top, pairs, results_csv, top_csv, pairs_csv
    )


def _submitter(
    executor: Executor, grid: Grid, top_n: int, full_table: bool
) -> Callable[[SweepTask], Future[TaskResult]]:
    def submit(task: SweepTask) -> Future[TaskResult]:
        return executor.submit(run_task, task, grid, top_n, full_table)

    return submit


def _rows_frame(acc: _Accumulator, grid: Grid, rows: np.ndarray) -> pd.DataFrame:
    records = []
    for row in rows:
        asset_1, asset_2, hedge, n_bars = acc.names[int(row[0])]
        config = int(row[1])
        batch = grid_batch(grid, config, config + 1)
        record: dict[str, object] = {
            "asset_1": asset_1,
            "asset_2": asset_2,
            "hedge_ratio": hedge,
            "config": config,
        }
        record.update({axis: getattr(batch, axis)[0].item() for axis in AXES})
        metrics = row[2:]
        record.update(
            final_value=metrics[pk.FINAL_VALUE],
            total_return=metrics[pk.TOTAL_RETURN],
            sharpe_ratio=metrics[pk.SHARPE],
            max_dd_pct=metrics[pk.MAX_DD_PCT],
            max_dd_abs=metrics[pk.MAX_DD_ABS],
            total_trades=int(metrics[pk.TOTAL_TRADES]),
            n_days=n_bars,
        )
        records.append(record)
    return pd.DataFrame.from_records(records, columns=list(RESULT_HEADER))


def _top_frame(acc: _Accumulator, grid: Grid) -> pd.DataFrame:
    frame = _rows_frame(acc, grid, acc.top)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


def _pairs_frame(acc: _Accumulator, grid: Grid) -> pd.DataFrame:
    """Per pair: its best config (the seed's ranking) and how many configs traded at all."""
    indices = sorted(acc.best)
    best = np.array([acc.best[i] for i in indices]).reshape(-1, 2 + pk.N_METRICS)
    frame = _rows_frame(acc, grid, best)
    frame.insert(3, "configs", [acc.counts[i][0] for i in indices])
    frame.insert(4, "configs_traded", [acc.counts[i][1] for i in indices])
    frame = frame.rename(columns={"config": "best_config"})
    return frame.sort_values(
        ["sharpe_ratio", "max_dd_pct"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)
