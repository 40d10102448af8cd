"""``pairs-research screen``: the cointegration screen, prices in, ``cointegrated_pairs.csv`` out.

Reads ``data/cleaned/adj_close_wide.csv`` under ``--base-dir`` (or ``--prices FILE``, a wide CSV
whose first column is the date) and writes ``data/pairs/cointegrated_pairs.csv`` with the seed's
columns first. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from research.cointegration import ENGINES, screen_pairs
from research.layout import ArtifactLayout
from research.prices import read_cleaned, read_wide_csv


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "screen",
        help="Engle-Granger cointegration screen over every pair of tickers",
        description="Test every pair of the cleaned prices for cointegration (statsmodels "
        "coint, defaults) and write data/pairs/cointegrated_pairs.csv.",
    )
    p.add_argument("--base-dir", required=True, type=Path, help="research base directory")
    p.add_argument(
        "--prices",
        type=Path,
        default=None,
        help="wide CSV of closes to screen instead of data/cleaned/adj_close_wide.csv",
    )
    p.add_argument("--pvalue", type=float, default=0.05, help="keep pairs below this (0.05)")
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="statsmodels",
        help="statsmodels: pair by pair; fast: compiled, same numbers",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    layout = ArtifactLayout(args.base_dir)
    out = run_screen(
        layout,
        prices_path=args.prices,
        pvalue_threshold=args.pvalue,
        engine=args.engine,
        progress=not args.no_progress,
    )
    print(f"wrote {out}", file=sys.stderr)
    return 0


def run_screen(
    layout: ArtifactLayout,
    *,
    prices_path: Path | None = None,
    pvalue_threshold: float = 0.05,
    engine: str = "statsmodels",
    progress: bool = True,
) -> Path:
    """Screen the prices and write the pairs CSV; returns its path (for ``run``)."""
    prices = read_prices(layout, prices_path)
    table = screen_pairs(
        prices, pvalue_threshold=pvalue_threshold, engine=engine, progress=progress
    )
    return write_pairs(table, layout)


def read_prices(layout: ArtifactLayout, prices_path: Path | None) -> pd.DataFrame:
    return read_wide_csv(prices_path) if prices_path is not None else read_cleaned(layout)


def write_pairs(table: pd.DataFrame, layout: ArtifactLayout) -> Path:
    layout.ensure_dirs()
    table.to_csv(layout.pairs_csv, index=False)
    return layout.pairs_csv
