"""``pairs-research select``: the seed's top non-overlapping pairs from the screen's table.

Reads ``data/pairs/cointegrated_pairs.csv`` (or ``--pairs FILE``), writes the kept rows to
``data/pairs/selected_pairs.csv`` and prints them. ``optimize`` applies the same selection
itself, so this step is for looking at (or hand-editing) the choice before optimizing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from research.artifacts import staged
from research.layout import ArtifactLayout
from research.screen.selection import SEED_MAX_PAIRS, SORT_CHOICES, select_top_non_overlapping_pairs
from shared.errors import DataError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "select",
        help="keep the best pairs that share no ticker (the seed's selection)",
        description="Sort the screened pairs (pvalue ascending or corr descending, stable) and "
        "keep pairs greedily while their tickers are unused, up to --max-pairs.",
    )
    parser.add_argument("--base-dir", type=Path, required=True, help="artifact base directory")
    parser.add_argument(
        "--pairs", type=Path, help="screened pairs CSV (default: data/pairs/cointegrated_pairs.csv)"
    )
    add_selection_arguments(parser)
    parser.set_defaults(func=run)


def add_selection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-pairs", type=int, default=SEED_MAX_PAIRS, help=f"default {SEED_MAX_PAIRS}"
    )
    parser.add_argument(
        "--sort-by",
        choices=SORT_CHOICES,
        default="pvalue",
        help="pvalue (ascending, the seed's default), corr (descending) or none (table order)",
    )


def read_pairs_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: no screened pairs; run `pairs-research screen` first")
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: is empty; re-run `pairs-research screen`") from None


def select_and_write(
    screened: pd.DataFrame, layout: ArtifactLayout, *, max_pairs: int, sort_by: str
) -> pd.DataFrame:
    selected = select_top_non_overlapping_pairs(screened, max_pairs=max_pairs, sort_by=sort_by)
    if selected.empty:
        raise DataError(
            "no cointegrated pairs to select (the screen kept none); widen the universe or the "
            "date range, or raise --pvalue"
        )
    layout.ensure_dirs()
    selected.to_csv(layout.selected_pairs_csv, index=False)
    return selected


def run(args: argparse.Namespace) -> int:
    layout = ArtifactLayout(args.base_dir)
    screened = read_pairs_table(args.pairs or layout.pairs_csv)
    with staged(layout) as stage:
        selected = select_and_write(
            screened, stage.layout, max_pairs=args.max_pairs, sort_by=args.sort_by
        )
    print(f"Selected {len(selected)} of {len(screened)} screened pair(s):")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(selected.to_string())
    print(f"wrote {layout.selected_pairs_csv}")
    return 0
