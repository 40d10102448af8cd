"""Pair-config backtests per second on 1,255 bars: one core (kernel in process, CPU time) and
all cores (the sweep's local process pool, wall time, after every worker has loaded the
kernels). Measured on the seed grid and on the ~2,000-config sweep grid: the cost of a
backtest grows with how often it trades, and the sweep grid's short windows and low entry
thresholds trade far more than the seed's."""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.data import SWEEP_GRID, load_prices
from research.backtest.fast.plan import build_paths, path_layout, run_batch
from research.backtest.fast_engine import FastEngine
from research.parallel import default_parallelism
from research.search.grid import SEED_GRID, Grid
from research.search.sweep import all_pairs, iter_pair_data, run_sweep
from research.search.sweep_worker import PairData, grid_batch, pair_portfolio
from shared.schema import DEFAULT_ACCOUNT

TARGET_PER_S_TWO_CORES = 300_000
WARM_UP_GRID = Grid(window=(20,), entry_z=(2.0,), stop_z=(4.0,), stake=(25,), long_only=(False,))


def one_core_rate(pairs: list[PairData], grid: Grid, repeats: int) -> float:
    """Backtests per CPU second of the kernel alone (paths included), best of ``repeats``;
    the batch is planned once, as a sweep task does for its pairs."""
    batch = grid_batch(grid, 0, grid.size)
    layout = path_layout(batch)
    cash, fee = DEFAULT_ACCOUNT.initial_cash, DEFAULT_ACCOUNT.commission
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for pair in pairs:
            portfolio = pair_portfolio(pair)
            paths = build_paths(portfolio, batch, layout)
            run_batch(portfolio, batch, paths, initial_cash=cash, commission=fee)
        best = min(best, time.process_time() - started)
    return len(pairs) * grid.size / best


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    prices, source = load_prices(args.prices, 16, args.bars)
    pairs = list(iter_pair_data(prices, all_pairs(prices)[:120]))
    FastEngine().warm_up()
    workers = args.workers or default_parallelism()
    records = []
    spawn = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(workers, mp_context=spawn) as pool,
        tempfile.TemporaryDirectory() as tmp,
    ):
        # Every worker imports numba and loads the cached kernels before the clock starts.
        run_sweep(pairs[: 2 * workers], 2 * workers, WARM_UP_GRID, pool, Path(tmp),
                  parallelism=workers, task_backtests=1, progress=False)  # fmt: skip
        for name, grid in (("seed", SEED_GRID), ("sweep", SWEEP_GRID)):
            single = one_core_rate(pairs[:10], grid, max(1, args.repeats // 2))
            summary = run_sweep(
                pairs, len(pairs), grid, pool, Path(tmp), parallelism=workers,
                full_table=False, progress=False,
            )  # fmt: skip
            rate = summary.backtests_per_s
            records.append(
                {
                    "data": source,
                    "grid": f"{name} ({grid.size} configs)",
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
            )
    return records
