"""``pairs-research sweep``: every pair × a parameter grid of any size, on all local cores (a
process pool), a Dask ``LocalCluster`` (``--scheduler local``) or a running Dask cluster
(``--scheduler tcp://host:8786``), with the compiled engine.

On a cluster every worker needs this project installed (the same version: tasks name
``research.search.sweep_worker.run_task``); only pair closes and grid slices travel, and each
worker compiles or loads the kernels once.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from research.commands.price_checks import add_price_check_arguments, checked, load_checked
from research.data.prices import read_cleaned
from research.layout import ArtifactLayout
from research.search.grid import SEED_GRID, load_grid
from shared.errors import DataError

if TYPE_CHECKING:
    from research.search.sweep import PairSpec

PAIR_SOURCES = ("selected", "screened", "all")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="backtest many pairs over a large grid, locally or on a Dask cluster",
        description="Backtest every pair (the selected ones, every screened pair, or every pair "
        "of the price file) over every grid configuration with the compiled engine. Streams "
        "the results table to reports/sweep_results.parquet (every row, or each pair's best "
        "--keep-top configs) and writes the top-N (sweep_top.csv) and each pair's best "
        "configuration (sweep_pairs.csv). `pairs-research sweep-summary` answers questions "
        "from the Parquet table.",
    )
    parser.add_argument("--base-dir", required=True, type=Path, help="artifact base directory")
    parser.add_argument(
        "--prices", type=Path, help="wide CSV of closes (default: data/cleaned/adj_close_wide.csv)"
    )
    parser.add_argument(
        "--pairs-from",
        choices=PAIR_SOURCES,
        default="selected",
        help="selected pairs (data/pairs/selected_pairs.csv), every screened pair "
        "(cointegrated_pairs.csv) or all pairs of the price file (OLS hedge ratios)",
    )
    parser.add_argument(
        "--pairs", type=Path, help="a pairs CSV (asset_1, asset_2, hedge_ratio) to use instead"
    )
    parser.add_argument("--grid", type=Path, help="grid file (.json/.toml); default: seed grid")
    parser.add_argument(
        "--scheduler",
        help="`local` for a Dask LocalCluster, or a Dask scheduler address (tcp://host:8786) "
        "whose workers have this project installed; default: a process pool on this machine",
    )
    parser.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    parser.add_argument("--start", type=date.fromisoformat, help="first session (YYYY-MM-DD)")
    parser.add_argument("--end", type=date.fromisoformat, help="last session (YYYY-MM-DD)")
    parser.add_argument("--top", type=int, default=100, help="rows kept in sweep_top.csv")
    parser.add_argument("--out", type=Path, help="output folder (default: <base-dir>/reports)")
    parser.add_argument(
        "--keep-top",
        type=int,
        default=0,
        metavar="K",
        help="keep only each pair's best K configs in sweep_results.parquet (default: every row)",
    )
    parser.add_argument(
        "--no-full-table",
        action="store_true",
        help="write no sweep_results.parquet (top-N and pairs only)",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress (a bar on a terminal, else a line per tenth of the work)",
    )
    add_price_check_arguments(parser)
    parser.set_defaults(func=run)


def _pair_specs(
    args: argparse.Namespace, layout: ArtifactLayout, prices: pd.DataFrame
) -> list[PairSpec]:
    # Imported here, not at the top: research.search.sweep loads numba, which the CLI must not pay
    # for on other commands.
    from research.search.sweep import all_pairs

    if args.pairs is None and args.pairs_from == "all":
        specs = all_pairs(prices)
        if not specs:
            raise DataError("the price file needs at least two tickers to form a pair")
        return specs
    path = args.pairs or (
        layout.selected_pairs_csv if args.pairs_from == "selected" else layout.pairs_csv
    )
    if not path.is_file():
        step = "select" if path == layout.selected_pairs_csv else "screen"
        raise DataError(
            f"{path}: no pairs file; run `pairs-research {step}` first, pass --pairs, or use "
            "--pairs-from all"
        )
    table = pd.read_csv(path)
    missing = [c for c in ("asset_1", "asset_2", "hedge_ratio") if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    if table.empty:
        raise DataError(f"{path}: has no pairs")
    return [
        (str(a), str(b), float(h))
        for a, b, h in zip(table["asset_1"], table["asset_2"], table["hedge_ratio"], strict=True)
    ]


def _window(prices: pd.DataFrame, start: date | None, end: date | None) -> pd.DataFrame:
    index = pd.DatetimeIndex(prices.index)
    keep = pd.Series(True, index=index)
    if start:
        keep &= index >= pd.Timestamp(start)
    if end:
        keep &= index <= pd.Timestamp(end)
    window = prices.loc[keep.to_numpy()]
    if window.empty:
        raise DataError("no prices in the --start/--end window; check the dates")
    return window


def run(args: argparse.Namespace) -> int:
    from research.backtest.fast_engine import FastEngine
    from research.parallel import open_executor
    from research.search.sweep import iter_pair_data, run_sweep

    layout = ArtifactLayout(args.base_dir)
    if args.prices:
        prices = load_checked(args.prices, args)
    else:
        prices = checked(read_cleaned(layout), str(layout.cleaned_prices), args)
    prices = _window(prices, args.start, args.end)
    if args.keep_top < 0:
        raise DataError("--keep-top must be 0 (every row) or a positive number of configs")
    grid = load_grid(args.grid) if args.grid else SEED_GRID
    specs = _pair_specs(args, layout, prices)
    compile_s = FastEngine().warm_up()
    print(f"sweep: kernels compiled or loaded from cache in {compile_s:.2f} s", file=sys.stderr)
    print(
        f"sweep: {len(specs)} pairs x {grid.size} configs = {len(specs) * grid.size:,} backtests",
        file=sys.stderr,
    )
    with open_executor(args.scheduler, args.workers) as (executor, parallelism):
        summary = run_sweep(
            iter_pair_data(prices, specs),
            len(specs),
            grid,
            executor,
            args.out or layout.reports_dir,
            parallelism=parallelism,
            top_n=args.top,
            full_table=not args.no_full_table,
            keep_per_pair=args.keep_top,
            progress=not args.no_progress,
        )
    print(
        f"{summary.n_backtests:,} backtests in {summary.elapsed_s:.1f} s "
        f"({summary.backtests_per_s:,.0f}/s on {parallelism} workers)"
    )
    if summary.results_path is not None:
        print(
            f"wrote {summary.results_path} ({summary.table_rows:,} rows; "
            f"`pairs-research sweep-summary {summary.results_path}` answers from it)"
        )
    for path in (summary.top_csv, summary.pairs_csv):
        print(f"wrote {path}")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(summary.top.head(10).to_string(index=False))
    return 0
