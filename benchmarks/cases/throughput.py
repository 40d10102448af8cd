"""Pair-config backtests per second on 1,255 bars: one core (kernel in process) and all cores
(the sweep's local process pool, timed after every worker has loaded the kernels)."""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.data import SWEEP_GRID, load_prices
from research.fast.sweep_worker import grid_batch
from research.fast_engine import FastEngine
from research.grid import Grid
from research.sweep import all_pairs, default_parallelism, iter_pair_data, run_sweep

TARGET_PER_S_TWO_CORES = 300_000


def _one_core(pairs: list[Any], repeats: int) -> float:
    from research.fast.plan import build_paths, run_batch
    from research.fast.sweep_worker import _portfolio

    batch = grid_batch(SWEEP_GRID, 0, SWEEP_GRID.size)
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for pair in pairs:
            portfolio = _portfolio(pair)
            run_batch(
                portfolio, batch, build_paths(portfolio, batch), initial_cash=1e5, commission=5e-4
            )
        best = min(best, time.process_time() - started)
    return len(pairs) * SWEEP_GRID.size / best


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    prices, source = load_prices(args.prices, 16, args.bars)
    specs = all_pairs(prices)[:40]
    pairs = list(iter_pair_data(prices, specs))
    FastEngine().warm_up()
    single = _one_core(pairs[:8], max(1, args.repeats // 2))
    workers = args.workers or default_parallelism()
    warmup_grid = Grid(window=(20,), entry_z=(2.0,), stop_z=(4.0,), stake=(25,), long_only=(False,))
    spawn = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(workers, mp_context=spawn) as pool,
        tempfile.TemporaryDirectory() as tmp,
    ):
        # Every worker imports numba and loads the cached kernels before the clock starts.
        run_sweep(pairs[: 2 * workers], 2 * workers, warmup_grid, pool, Path(tmp),
                  parallelism=workers, task_backtests=1, progress=False)  # fmt: skip
        summary = run_sweep(
            pairs, len(pairs), SWEEP_GRID, pool, Path(tmp), parallelism=workers,
            full_table=False, progress=False,
        )  # fmt: skip
    rate = summary.backtests_per_s
    return [
        {
            "data": source,
            "n_bars": args.bars,
            "backtests": summary.n_backtests,
            "workers": workers,
            "wall_s": round(summary.elapsed_s, 3),
            "per_s_all_cores": round(rate),
            "per_s_one_core_cpu": round(single),
            "us_per_backtest_one_core": round(1e6 / single, 2),
            "target_per_s_two_cores": TARGET_PER_S_TWO_CORES,
            "meets_target": workers == 2 and rate >= TARGET_PER_S_TWO_CORES,
        }
    ]
