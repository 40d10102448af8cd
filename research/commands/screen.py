"""``pairs-research screen``: the cointegration screen, prices in, ``cointegrated_pairs.csv`` out.

Reads ``data/cleaned/adj_close_wide.csv`` under ``--base-dir`` (or ``--prices FILE``, a wide CSV
whose first column is the date) and writes ``data/pairs/cointegrated_pairs.csv`` with the seed's
columns first. Progress (with ETA) and warnings go to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from research.artifacts import staged
from research.commands.price_checks import add_price_check_arguments, checked, load_checked
from research.data.prices import read_cleaned
from research.layout import ArtifactLayout
from research.screen import pipeline as coint


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "screen",
        help="Engle-Granger cointegration screen over every pair of tickers",
        description="Test every pair of the cleaned prices for cointegration (statsmodels' "
        "coint with its defaults, or the compiled engine that returns the same numbers) and "
        "write data/pairs/cointegrated_pairs.csv.",
    )
    p.add_argument("--base-dir", required=True, type=Path, help="research base directory")
    p.add_argument(
        "--prices",
        type=Path,
        default=None,
        help="wide CSV of closes to screen instead of data/cleaned/adj_close_wide.csv",
    )
    p.add_argument("--pvalue", type=float, default=0.05, help="selection threshold (0.05)")
    p.add_argument(
        "--engine",
        choices=coint.ENGINES,
        default="fast",
        help="fast (default): compiled, statsmodels' numbers; statsmodels: pair by pair",
    )
    p.add_argument(
        "--verify",
        type=int,
        default=0,
        metavar="N",
        help="re-check N sampled pairs with statsmodels; fail on a difference beyond 1e-9",
    )
    p.add_argument(
        "--direction",
        choices=coint.DIRECTIONS,
        default="seed",
        help="seed: asset_1 on asset_2 only; both: test both orientations",
    )
    p.add_argument(
        "--keep",
        choices=coint.KEEP_RULES,
        default="either",
        help="with --direction both: keep a pair when either (default) or both orientations pass",
    )
    p.add_argument(
        "--method",
        choices=coint.METHODS,
        default="eg",
        help="eg: Engle-Granger (seed); johansen: symmetric trace test",
    )
    p.add_argument(
        "--select-on",
        choices=coint.SELECT_ON,
        default="pvalue",
        help="pvalue (seed) or qvalue (Benjamini-Hochberg over all pairs tested)",
    )
    p.add_argument("--workers", type=int, default=None, help="local threads (default: all cores)")
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler (tcp://host:port, or 'local' for a local cluster) for the fast engine",
    )
    add_price_check_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    layout = ArtifactLayout(args.base_dir)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", coint.MultipleTestingWarning)
        result = coint.run_screen(
            read_prices(layout, args),
            pvalue_threshold=args.pvalue,
            engine=args.engine,
            progress=not args.no_progress,
            direction=args.direction,
            keep=args.keep,
            method=args.method,
            select_on=args.select_on,
            workers=args.workers,
            scheduler=args.scheduler,
            verify=args.verify,
        )
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    with staged(layout) as stage:
        out = stage.final(write_pairs(result.table, stage.layout))
    info = result.info
    print(
        f"screened {result.tested} pairs in {time.perf_counter() - started:.1f} s "
        f"({args.method}, {args.engine}): {len(result.table)} kept; "
        f"{info.collinear} collinear, {info.skipped_short} too short, "
        f"{info.by_reference} settled by statsmodels",
        file=sys.stderr,
    )
    if result.verification is not None:
        v = result.verification
        print(
            f"verified {v.checked} sampled pairs against statsmodels: max |dt| "
            f"{v.max_t_diff:.2e}, max |dp| {v.max_p_diff:.2e}, lag mismatches {v.lag_mismatches}",
            file=sys.stderr,
        )
        for line in v.arbitrated:
            print(f"verify: statsmodels differs on {line}", file=sys.stderr)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def read_prices(layout: ArtifactLayout, args: argparse.Namespace) -> pd.DataFrame:
    """``--prices`` or the cleaned table, without the tickers price validation rejects."""
    if args.prices is not None:
        return load_checked(args.prices, args)
    return checked(read_cleaned(layout), str(layout.cleaned_prices), args)


def write_pairs(table: pd.DataFrame, layout: ArtifactLayout) -> Path:
    layout.ensure_dirs()
    table.to_csv(layout.pairs_csv, index=False)
    return layout.pairs_csv
