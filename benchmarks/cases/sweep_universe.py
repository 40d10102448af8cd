"""The full universe sweep as a user runs it: ``pairs-research sweep --pairs-from all`` on every
pair of a 116-ticker universe (6,670 pairs) over the 1,920-config grid, 12.8M backtests, with no
tuning flags, in a fresh process that writes the whole results table (Parquet).

Measured per run: wall time end to end (interpreter start, price file, kernels from the cache,
the sweep, the table and the summaries), the CPU seconds of the whole process tree (on a machine
shared with other work this is the steadier figure: wall time is CPU time divided by the cores
this run actually got), peak resident memory of the tree (driver plus workers, sampled every
0.1 s) and the table's size. Repeated ``--sweep-repeats`` times; the median counts.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.data import SWEEP_GRID, load_prices
from research.search.grid import AXES

TARGET_WALL_S = 20.0
TARGET_TABLE_BYTES = 500 * 10**6
TARGET_PEAK_BYTES = 1 << 30


class TreeUsage:
    """Peak resident memory and CPU seconds of a process and all its descendants."""

    def __init__(self, root: psutil.Process, interval: float = 0.1) -> None:
        self.root = root
        self.interval = interval
        self.peak = 0
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeUsage:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            total = 0
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:  # the run has ended
                return
            for proc in procs:
                try:
                    total += proc.memory_info().rss
                    times = proc.cpu_times()
                    self.cpu[proc.pid] = times.user + times.system
                except psutil.Error:  # a worker exited between listing and reading
                    continue
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())


def _grid_file(path: Path) -> Path:
    lines = [f"{axis} = {list(getattr(SWEEP_GRID, axis))}" for axis in AXES[:6]]
    path.write_text("\n".join(lines).replace("False", "false").replace("True", "true") + "\n")
    return path


def _inputs(args: argparse.Namespace, tmp: Path) -> tuple[list[str], str, int, int]:
    """(the command's price and window arguments, a label, tickers, sessions)."""
    prices, source = load_prices(args.prices, args.tickers, args.bars)
    if args.prices is None:
        path = tmp / "prices.csv"
        prices.to_csv(path)
        return ["--prices", str(path)], source, prices.shape[1], len(prices)
    window = ["--start", f"{prices.index[0]:%Y-%m-%d}", "--end", f"{prices.index[-1]:%Y-%m-%d}"]
    return ["--prices", str(args.prices), *window], source, prices.shape[1], len(prices)


def _one_run(command: list[str], out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with (
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
        ) as proc,
        TreeUsage(psutil.Process(proc.pid)) as usage,
    ):
        stdout, stderr = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"sweep failed ({proc.returncode}): {stderr[-2000:]}")
    done = re.search(r"([\d,]+) backtests in ([\d.]+) s", stdout)
    table = out / "sweep_results.parquet"
    return {
        "wall_s": wall,
        "sweep_s": float(done.group(2)) if done else float("nan"),
        "cpu_s_tree": usage.cpu_seconds,
        "peak_rss_tree": usage.peak,
        "table_bytes": table.stat().st_size,
        "log_lines": len(stderr.splitlines()),
    }


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        price_args, source, tickers, sessions = _inputs(args, tmp)
        out = tmp / "base" / "reports"
        command = [
            str(Path(sys.executable).with_name("pairs-research")), "sweep",
            "--base-dir", str(tmp / "base"), *price_args, "--pairs-from", "all",
            "--grid", str(_grid_file(tmp / "grid.toml")),
        ]  # fmt: skip
        if args.workers:
            command += ["--workers", str(args.workers)]
        runs = [_one_run(command, out) for _ in range(max(1, args.sweep_repeats))]
    pairs = tickers * (tickers - 1) // 2
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return [
        {
            "data": source,
            "tickers": tickers,
            "sessions": sessions,
            "pairs": pairs,
            "configs": SWEEP_GRID.size,
            "backtests": pairs * SWEEP_GRID.size,
            "command": "pairs-research sweep --pairs-from all --grid <1,920 configs>",
            "runs": len(runs),
            "wall_s_median": round(median["wall_s"], 2),
            "wall_s_runs": [round(r["wall_s"], 2) for r in runs],
            "sweep_s_median": round(median["sweep_s"], 2),
            "per_s_end_to_end": round(pairs * SWEEP_GRID.size / median["wall_s"]),
            "cpu_s_tree_median": round(median["cpu_s_tree"], 1),
            "wall_s_if_two_idle_cores": round(median["cpu_s_tree"] / 2, 2),
            "table_mb": round(median["table_bytes"] / 1e6, 1),
            "peak_rss_tree_mb": round(median["peak_rss_tree"] / 2**20, 1),
            "progress_log_lines": int(median["log_lines"]),
            "target_wall_s": TARGET_WALL_S,
            "target_table_mb": TARGET_TABLE_BYTES // 10**6,
            "target_peak_mb": TARGET_PEAK_BYTES >> 20,
            "meets_wall": median["wall_s"] <= TARGET_WALL_S,
            "meets_table": median["table_bytes"] <= TARGET_TABLE_BYTES,
            "meets_peak": median["peak_rss_tree"] <= TARGET_PEAK_BYTES,
        }
    ]
