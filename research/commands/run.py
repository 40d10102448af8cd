"""``pairs-research run``: every research step in one command, the seed's artifacts at the end.

prices (import a CSV, download, or generate the synthetic sample) → clean → cointegration
screen → select non-overlapping pairs → grid optimization → results CSV, config JSON and report
plots, all under ``--base-dir``. The run writes into a staging folder and moves its artifacts
into place only when every step has succeeded (:mod:`research.artifacts`): a failed run leaves
the base directory exactly as the last good run left it.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from research.artifacts import Stage, staged
from research.backtest.registry import DEFAULT_ENGINE, engine_names
from research.commands.optimize import add_emit_arguments
from research.commands.prices import add_cleaning_arguments, clean_and_write, load_raw
from research.commands.screen import write_pairs
from research.commands.select import add_selection_arguments, select_and_write
from research.data.synthetic import DEFAULT_SEED, DEFAULT_SESSIONS
from research.layout import ArtifactLayout
from research.screen.pipeline import ENGINES as SCREEN_ENGINES
from research.screen.pipeline import MultipleTestingWarning, run_screen
from research.search.grid import SEED_GRID, Grid, load_grid
from research.search.optimize import (
    RESULT_COLUMNS,
    OptimizeOutcome,
    describe_evidence,
    optimize_and_write,
)
from shared.errors import DataError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="prices → screen → select → optimize in one go (the whole research path)",
        description="Chain every research step and write the seed's artifacts under "
        "--base-dir. Without --prices or --tickers, runs on the built-in synthetic sample.",
    )
    parser.add_argument("--base-dir", type=Path, required=True, help="artifact base directory")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--prices", type=Path, help="wide CSV of closes to import")
    source.add_argument("--tickers", help="download these tickers from Yahoo (comma separated)")
    source.add_argument(
        "--generate", action="store_true", help="use the synthetic sample (the default)"
    )
    parser.add_argument(
        "--universe", help="with --prices: keep only these columns (comma separated)"
    )
    parser.add_argument(
        "--date-format", metavar="FMT", help="with --prices: date format, e.g. %%d/%%m/%%Y"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="synthetic sample seed")
    parser.add_argument("--sessions", type=int, default=DEFAULT_SESSIONS, help=argparse.SUPPRESS)
    parser.add_argument("--refresh", action="store_true", help="re-download, ignore data/raw/")
    add_cleaning_arguments(parser)
    parser.add_argument("--pvalue", type=float, default=0.05, help="screen threshold (0.05)")
    parser.add_argument(
        "--select-on",
        choices=("pvalue", "qvalue"),
        default="pvalue",
        help="screen on raw p-values (the seed) or Benjamini-Hochberg q-values",
    )
    parser.add_argument(
        "--screen-engine", choices=SCREEN_ENGINES, default="statsmodels", help="screen engine"
    )
    add_selection_arguments(parser)
    parser.add_argument("--grid", type=Path, help="grid file (.json/.toml); default: seed grid")
    parser.add_argument(
        "--engine", choices=engine_names(), default=DEFAULT_ENGINE, help="backtest engine"
    )
    parser.add_argument(
        "--verify", type=int, default=0, metavar="N", help="check N configs on backtrader"
    )
    add_emit_arguments(parser)
    parser.add_argument("--no-plots", action="store_true", help="skip the report PNGs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run, source_kind=None, tickers_file=None, attempts=3)


def run(args: argparse.Namespace) -> int:
    layout = ArtifactLayout(args.base_dir)
    progress = not args.no_progress
    grid = load_grid(args.grid) if args.grid else SEED_GRID  # fail on a bad grid before work
    started = time.perf_counter()

    with staged(layout) as stage:
        outcome = _run_steps(args, layout, stage.layout, grid, progress)
    _print_outcome(outcome, stage)
    _say(f"done in {time.perf_counter() - started:.1f} s")
    return 0


def _run_steps(
    args: argparse.Namespace,
    layout: ArtifactLayout,
    out: ArtifactLayout,
    grid: Grid,
    progress: bool,
) -> OptimizeOutcome:
    """Every step, writing into ``out`` (the run's staging area); ``layout`` is the real base
    directory, used only for the download cache."""
    _step("1/4 prices")
    args.source_kind = "import" if args.prices else "download" if args.tickers else "generate"
    if args.prices:
        args.file = args.prices
        args.tickers = args.universe  # ``import`` reads --tickers as a column filter
    elif args.universe:
        raise DataError("--universe only applies to --prices; with --tickers list the symbols")
    raw, source, failed = load_raw(args, layout)
    prices, report = clean_and_write(raw, source, args, out, failed)
    _say(report.summary())

    _step("2/4 screen")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MultipleTestingWarning)
        screened = run_screen(
            prices,
            pvalue_threshold=args.pvalue,
            engine=args.screen_engine,
            progress=progress,
            select_on=args.select_on,
        ).table
    for warning in caught:  # one readable line instead of a Python warning with a source line
        _say(f"warning: {warning.message}")
    write_pairs(screened, out)
    _say(f"{len(screened)} pair(s) pass {args.select_on} < {args.pvalue}")

    _step("3/4 select")
    if screened.empty:
        raise DataError(
            f"no pair of {len(prices.columns)} tickers passes {args.select_on} < {args.pvalue}; "
            "widen the universe or the date range, or raise --pvalue"
        )
    selected = select_and_write(screened, out, max_pairs=args.max_pairs, sort_by=args.sort_by)
    _say(_describe_pairs(selected))

    _step(f"4/4 optimize ({grid.size} configurations, {args.engine} engine)")
    outcome = optimize_and_write(
        prices,
        selected,
        out,
        grid=grid,
        engine=args.engine,
        source=source,
        verify=args.verify,
        progress=progress,
        plots=not args.no_plots,
        allow_no_trades=args.allow_no_trades,
        pbo_blocks=args.pbo_blocks,
    )
    return outcome


def _step(title: str) -> None:
    print(f"== {title}", file=sys.stderr, flush=True)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _describe_pairs(selected: pd.DataFrame) -> str:
    rows = [
        f"  {r.asset_1}/{r.asset_2}  hedge {r.hedge_ratio:.4f}  pvalue {r.pvalue:.6f}"
        for r in selected.itertuples()
    ]
    return "\n".join([f"selected {len(selected)} pair(s):", *rows])


def _print_outcome(outcome: OptimizeOutcome, stage: Stage) -> None:
    layout = stage.target
    print("Top 5 configurations by Sharpe:")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(outcome.results.loc[:, list(RESULT_COLUMNS)].head(5).to_string())
    if outcome.n_errors:
        _say(f"{outcome.n_errors} configuration(s) failed: see the error column")
    for line in describe_evidence(outcome):
        print(line, file=sys.stderr)
    print(f"cleaned: {layout.cleaned_prices}")
    print(f"pairs:   {layout.pairs_csv}")
    print(f"selected: {layout.selected_pairs_csv}")
    print(f"results: {layout.results_csv}")
    print(f"config:  {layout.config_json} (config id {outcome.config.config_id})")
    for path in outcome.plots:
        print(f"plot:    {stage.final(path)}")
