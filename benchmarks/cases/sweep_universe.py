"""A sweep of every pair of a 116-ticker universe over the ~2,000-config grid on all cores,
streaming the full table to disk: wall time, backtests per second and peak memory (the whole
process tree's resident memory: driver plus workers, sampled every 0.2 s)."""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.data import SWEEP_GRID, load_prices
from research.backtest.fast_engine import FastEngine
from research.parallel import open_executor
from research.search.sweep import all_pairs, iter_pair_data, run_sweep

TARGET_PEAK_BYTES = 1 << 30


class TreeMemory:
    """Peak resident memory of this process and all its descendants."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except psutil.Error:  # a worker exited between listing and reading
                    continue
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)


def _best(top: Any) -> dict[str, Any] | None:
    if not len(top):
        return None
    row = top.iloc[0]
    return {
        k: getattr(row[k], "item", lambda v=row[k]: v)()
        for k in ("asset_1", "asset_2", "config", "sharpe_ratio")
    }


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    prices, source = load_prices(args.prices, args.tickers, args.bars)
    specs = all_pairs(prices)
    compile_s = FastEngine().warm_up()
    with tempfile.TemporaryDirectory() as tmp, TreeMemory() as memory:
        started = time.perf_counter()
        with open_executor(None, args.workers) as (executor, workers):
            summary = run_sweep(
                iter_pair_data(prices, specs), len(specs), SWEEP_GRID, executor, Path(tmp),
                parallelism=workers, progress=True,
            )  # fmt: skip
        wall = time.perf_counter() - started
        csv_bytes = summary.results_csv.stat().st_size if summary.results_csv else 0
    return [
        {
            "data": source,
            "tickers": prices.shape[1],
            "pairs": len(specs),
            "configs": SWEEP_GRID.size,
            "backtests": summary.n_backtests,
            "workers": workers,
            "wall_s": round(wall, 2),
            "sweep_s": round(summary.elapsed_s, 2),
            "per_s": round(summary.backtests_per_s),
            "fast_compile_s": round(compile_s, 3),
            "results_csv_mb": round(csv_bytes / 1e6, 1),
            "peak_rss_tree_mb": round(memory.peak / 2**20, 1),
            "target_peak_mb": TARGET_PEAK_BYTES >> 20,
            "meets_target": memory.peak < TARGET_PEAK_BYTES,
            "best": _best(summary.top),
        }
    ]
