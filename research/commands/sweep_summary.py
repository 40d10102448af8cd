"""``pairs-research sweep-summary``: the best configs overall, the best config of each pair and
how many pairs have a config above a Sharpe ratio, read from a sweep's Parquet results table a
batch at a time (the table may be larger than memory)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from research.layout import ArtifactLayout


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sweep-summary",
        help="best configs overall and per pair from a sweep's results table",
        description="Read a sweep's results table (sweep_results.parquet) a batch of rows at a "
        "time and print the best configs overall (the seed's ranking: Sharpe descending, max "
        "drawdown ascending, ties in sweep order), the best config of the best pairs, and how "
        "many pairs have any config above each Sharpe threshold.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("table", nargs="?", type=Path, help="a sweep_results.parquet file")
    source.add_argument(
        "--base-dir", type=Path, help="read <base-dir>/reports/sweep_results.parquet"
    )
    parser.add_argument("--top", type=int, default=20, help="best configs overall to show")
    parser.add_argument("--pairs", type=int, default=20, help="best pairs to show")
    parser.add_argument(
        "--sharpe-above",
        type=float,
        nargs="+",
        default=[0.0, 0.05, 0.1],
        metavar="S",
        help="count the pairs with any config whose Sharpe ratio is above each S",
    )
    parser.add_argument(
        "--pairs-csv", type=Path, help="also write every pair's best config to this CSV"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from research.search.sweep_summary import RESULTS_NAME, format_summary, summarize

    path = args.table or ArtifactLayout(args.base_dir).reports_dir / RESULTS_NAME
    summary = summarize(path, top=max(args.top, 1))
    print(format_summary(summary, args.top, args.pairs, args.sharpe_above))
    if args.pairs_csv:
        summary.pair_best.to_csv(args.pairs_csv, index=False)
        print(f"wrote {args.pairs_csv} ({summary.pairs:,} pairs)")
    return 0
