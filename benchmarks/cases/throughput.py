"""Pair-config backtests per second on 1,255 bars: one core (a sweep task's compiled call in
process, CPU time) and all cores (the sweep's local process pool, wall time, after every worker
has loaded the kernels, no results table). Measured on the seed grid and on the ~2,000-config
sweep grid: the cost of a backtest grows with how often it trades, and the sweep grid's short
windows and low entry thresholds trade far more than the seed's; on the seed's 72 configs the
per-pair set-up (the Kalman path and the z-series) weighs more. Medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import psutil

from benchmarks.data import SWEEP_GRID, load_prices
from research.backtest.fast_engine import FastEngine
from research.parallel import default_parallelism
from research.search.grid import SEED_GRID, Grid
from research.search.sweep import all_pairs, iter_pair_data, run_sweep
from research.search.sweep_worker import PairData, SweepTask, run_task

TARGET_PER_S_TWO_CORES = 1_000_000  # the 1,920-config sweep grid
WARM_UP_GRID = Grid(window=(20,), entry_z=(2.0,), stop_z=(4.0,), stake=(25,), long_only=(False,))


def one_core_rate(pairs: list[PairData], grid: Grid, repeats: int) -> float:
    """Backtests per CPU second of one sweep task over ``pairs`` (set-up included), median of
    ``repeats``."""
    task = SweepTask(tuple(pairs), 0, grid.size)
    run_task(task, grid, 1, None)  # the slice plan is cached per process, as in a worker
    rates = []
    for _ in range(repeats):
        started = time.process_time()
        run_task(task, grid, 100, None)
        rates.append(len(pairs) * grid.size / (time.process_time() - started))
    return statistics.median(rates)


def _workers_cpu_seconds() -> float:
    """CPU seconds used so far by this process's children (the pool's workers)."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    prices, source = load_prices(args.prices, 16, args.bars)
    pairs = list(iter_pair_data(prices, all_pairs(prices)[:120]))
    FastEngine().warm_up()
    workers = args.workers or default_parallelism()
    records = []
    spawn = multiprocessing.get_context("spawn")
    repeats = max(1, args.repeats)
    with (
        ProcessPoolExecutor(workers, mp_context=spawn) as pool,
        tempfile.TemporaryDirectory() as tmp,
    ):
        # Every worker imports numba and loads the cached kernels before the clock starts.
        run_sweep(pairs[: 2 * workers], 2 * workers, WARM_UP_GRID, pool, Path(tmp),
                  parallelism=workers, task_backtests=1, progress=False)  # fmt: skip
        for name, grid in (("seed", SEED_GRID), ("sweep", SWEEP_GRID)):
            single = one_core_rate(pairs[:10], grid, repeats)
            rates, walls, cpu_total = [], [], 0.0
            for _ in range(repeats):
                cpu_before = _workers_cpu_seconds()
                summary = run_sweep(
                    pairs, len(pairs), grid, pool, Path(tmp), parallelism=workers,
                    full_table=False, progress=False,
                )  # fmt: skip
                cpu_total += _workers_cpu_seconds() - cpu_before
                rates.append(summary.backtests_per_s)
                walls.append(summary.elapsed_s)
            rate = statistics.median(rates)
            target = TARGET_PER_S_TWO_CORES if grid is SWEEP_GRID else None
            records.append(
                {
                    "data": source,
                    "grid": f"{name} ({grid.size} configs)",
                    "n_bars": len(prices),
                    "backtests": summary.n_backtests,
                    "workers": workers,
                    "runs": repeats,
                    "wall_s_median": round(statistics.median(walls), 3),
                    "per_s_all_cores_median": round(rate),
                    "per_s_all_cores_runs": [round(r) for r in rates],
                    # What the workers did per CPU second, times the workers: the all-cores
                    # rate when each worker has a core to itself (a shared machine's wall
                    # time moves with its load; this much less).
                    # (CPU times tick in 10 ms: summed over the runs, not a median of runs.)
                    "per_s_if_cores_idle": round(
                        repeats * summary.n_backtests / cpu_total * workers if cpu_total else 0
                    ),
                    "per_s_one_core_cpu": round(single),
                    "us_per_backtest_one_core": round(1e6 / single, 2),
                    "target_per_s_two_cores": target,
                    "meets_target": None if target is None else workers == 2 and rate >= target,
                }
            )
    return records
