"""``pairs-research plots``: (re)draw the report PNGs of the production config."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from research.commands.backtest import read_config, window_closes
from research.commands.price_checks import add_price_check_arguments, checked, load_checked
from research.data.prices import read_cleaned
from research.layout import ArtifactLayout
from research.report.plots import write_report_plots


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plots",
        help="draw equity, z-score, Kalman beta and Sharpe heatmap PNGs into reports/",
        description="Draw the report pictures of config/kalman_prod_config.json over its data "
        "window, and the Sharpe heatmap of reports/kalman_param_optimization_results.csv.",
    )
    parser.add_argument("--base-dir", required=True, type=Path, help="artifact base directory")
    parser.add_argument("--prices", type=Path, help="wide CSV of closes (default: cleaned prices)")
    parser.add_argument("--config", type=Path, help="config (default: config/kalman_prod_config)")
    add_price_check_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    layout = ArtifactLayout(args.base_dir)
    config = read_config(args.config or layout.config_json)
    if args.prices:
        prices = load_checked(args.prices, args, config.symbols)
    else:
        prices = checked(read_cleaned(layout), str(layout.cleaned_prices), args, config.symbols)
    data = window_closes(prices, config, None, None)
    results = pd.read_csv(layout.results_csv) if layout.results_csv.is_file() else None
    paths = write_report_plots(
        data,
        config.pair_list,
        config.params,
        results,
        layout.reports_dir,
        initial_cash=config.initial_cash,
        commission=config.commission,
    )
    for path in paths:
        print(path)
    return 0
