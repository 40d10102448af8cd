"""``pairs-research optimize``: grid-optimize the selected pairs, write the ranked results and
``kalman_prod_config.json`` (the seed's notebook 02, sections 4-7)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from research.artifacts import staged
from research.backtest.registry import DEFAULT_ENGINE, engine_names
from research.commands.price_checks import add_price_check_arguments, checked, load_checked
from research.data.market_data import pair_symbols
from research.data.prices import read_cleaned, read_source_label
from research.evaluation.overfitting import DEFAULT_PBO_BLOCKS, PBO_BLOCKS
from research.layout import ArtifactLayout
from research.screen.selection import (
    SEED_MAX_PAIRS,
    SORT_CHOICES,
    pairs_from_table,
    select_top_non_overlapping_pairs,
)
from research.search.grid import SEED_GRID, load_grid
from research.search.optimize import (
    RESULT_COLUMNS,
    describe_evidence,
    file_sha256,
    optimize_and_write,
)
from shared.errors import DataError


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=engine_names(),
        default=DEFAULT_ENGINE,
        help=f"backtest engine (default {DEFAULT_ENGINE}; backtrader is the seed's, ~0.3 s/run)",
    )


def add_emit_arguments(parser: argparse.ArgumentParser) -> None:
    """What the config is chosen from and how the selection is judged (optimize and run)."""
    parser.add_argument(
        "--allow-no-trades",
        action="store_true",
        help="emit a config even when the best configuration made no trade (refused otherwise)",
    )
    parser.add_argument(
        "--pbo-blocks",
        choices=PBO_BLOCKS,
        default=DEFAULT_PBO_BLOCKS,
        help="PBO row blocks: equal (the paper's; drops the leading T mod S warm-up rows, "
        "default) or array_split (every row, blocks differ by one row)",
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "optimize",
        help="grid-optimize the selected pairs and emit kalman_prod_config.json",
        description="Backtest every grid configuration on the selected pairs, rank by Sharpe "
        "(then max drawdown) like the seed, write reports/kalman_param_optimization_results.csv "
        "and config/kalman_prod_config.json under --base-dir.",
    )
    parser.add_argument("--base-dir", required=True, type=Path, help="artifact base directory")
    parser.add_argument(
        "--prices", type=Path, help="wide CSV of closes (default: data/cleaned/adj_close_wide.csv)"
    )
    parser.add_argument(
        "--pairs", type=Path, help="screened pairs CSV (default: data/pairs/cointegrated_pairs.csv)"
    )
    parser.add_argument("--grid", type=Path, help="grid file (.json/.toml); default: seed grid")
    add_engine_arguments(parser)
    parser.add_argument(
        "--verify",
        type=int,
        default=0,
        metavar="N",
        help="re-run N sampled configurations on backtrader; fail on any metric difference",
    )
    parser.add_argument("--max-pairs", type=int, default=SEED_MAX_PAIRS)
    parser.add_argument("--sort-by", choices=SORT_CHOICES, default="pvalue")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-plots", action="store_true", help="skip the report PNGs")
    add_emit_arguments(parser)
    add_price_check_arguments(parser)
    parser.set_defaults(func=run)


def _read_pairs(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: no screened pairs; run `pairs-research screen` first or --pairs")
    return pd.read_csv(path)


def run(args: argparse.Namespace) -> int:
    layout = ArtifactLayout(args.base_dir)
    screened = _read_pairs(args.pairs or layout.pairs_csv)
    selected = select_top_non_overlapping_pairs(screened, args.max_pairs, args.sort_by)
    needed = pair_symbols(pairs_from_table(selected)) if not selected.empty else []
    if args.prices:
        prices, source = load_checked(args.prices, args, needed), str(args.prices.name)
    else:
        cleaned = str(layout.cleaned_prices)
        prices, source = (
            checked(read_cleaned(layout), cleaned, args, needed),
            read_source_label(layout),
        )
    prices_file = args.prices or layout.cleaned_prices
    grid = load_grid(args.grid) if args.grid else SEED_GRID
    print(
        f"optimizing {grid.size} configurations on "
        f"{', '.join(f'{p.asset_1}/{p.asset_2}' for p in pairs_from_table(selected))} "
        f"with the {args.engine} engine",
        file=sys.stderr,
    )
    with staged(layout) as stage:
        outcome = optimize_and_write(
            prices,
            selected,
            stage.layout,
            grid=grid,
            engine=args.engine,
            source=source,
            verify=args.verify,
            progress=not args.no_progress,
            plots=not args.no_plots,
            sha256=file_sha256(prices_file),
            allow_no_trades=args.allow_no_trades,
            pbo_blocks=args.pbo_blocks,
        )
    print("Top 10 configurations by Sharpe:")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(outcome.results.loc[:, list(RESULT_COLUMNS)].head(10).to_string())
    if outcome.n_errors:
        print(f"{outcome.n_errors} configuration(s) failed: see the error column", file=sys.stderr)
    if outcome.verification is not None:
        n = outcome.verification["index"].nunique()
        print(f"verified {n} sampled configuration(s) against backtrader: identical")
    for line in describe_evidence(outcome):
        print(line, file=sys.stderr)
    print(f"results: {stage.final(outcome.results_csv)}")
    print(f"config:  {stage.final(outcome.config_json)} (config id {outcome.config.config_id})")
    for path in outcome.plots:
        print(f"plot:    {stage.final(path)}")
    print(f"{grid.size} backtests in {outcome.elapsed_s:.2f} s ({outcome.engine})")
    return 0
