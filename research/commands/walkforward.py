"""``pairs-research walkforward``: out-of-sample validation of the whole research pipeline.

Rolling (or ``--anchored``) folds of ``--train``/``--test`` sessions (``1255``) or calendar
spans (``5y``, ``6m``). Per fold: optionally re-screen and re-select pairs on the train window
(``--rescreen``), run the grid there, keep the seed's best config and trade it on the test
window with a warm Kalman filter. Writes under ``reports/``::

    walkforward_folds.csv            one row per fold: pairs, chosen config, IS vs OOS, DSR, PBO
    walkforward_config_sharpes.csv   every config's IS and OOS Sharpe per fold
    walkforward_oos_equity.csv       the stitched OOS daily returns and equity
    walkforward_summary.json         overall IS vs OOS figures
    walkforward_equity.png, walkforward_is_vs_oos.png

With ``--handover drain|close`` the folds' configs also run as one continuous account that hands
over to each fold's config on its first test session (``research/commands/walkforward_handover.py``
lists the files it adds: the fold configs, the plans, the account's fills and equity).

The summary is recorded in ``config/kalman_prod_config.json`` under
``provenance.evidence.walkforward`` when that file exists (``--no-record`` to skip).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from research.artifacts import staged, write_atomic
from research.backtest.registry import DEFAULT_ENGINE, get_engine
from research.commands.price_checks import add_price_check_arguments, load_checked
from research.commands.walkforward_handover import (
    PricedCheck,
    fold_config,
    lifecycle_of,
    summary_of,
    write_handover_reports,
)
from research.data.market_data import pair_symbols
from research.data.prices import read_source_label
from research.evaluation.lifecycle import LifecycleRun
from research.evaluation.overfitting import DEFAULT_PBO_BLOCKS, PBO_BLOCKS
from research.evaluation.walkforward import (
    FoldResult,
    PairChooser,
    Span,
    WalkForwardResult,
    fixed_pairs,
    walk_forward,
)
from research.evaluation.walkforward_runs import EngineRunner, warm_start_path
from research.layout import ArtifactLayout
from research.screen.selection import (
    SORT_CHOICES,
    pairs_from_table,
    select_top_non_overlapping_pairs,
)
from research.search.grid import SEED_GRID, Grid, load_grid
from research.search.optimize import file_sha256
from shared.config import ProdConfig, dump_config, parse_config
from shared.errors import DataError
from shared.handover import HANDOVER_RULES


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "walkforward",
        help="walk-forward validation: choose on train, trade the next test window",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--base-dir", default=".", help="artifact folder (default: .)")
    p.add_argument("--prices", help="wide CSV of closes (default: the cleaned prices)")
    p.add_argument("--pairs", help="pairs table to trade (default: data/pairs/selected_pairs.csv)")
    p.add_argument("--rescreen", action="store_true", help="re-screen and re-select per fold")
    p.add_argument("--train", default="1255", help="train length: sessions or 5y/6m (1255)")
    p.add_argument("--test", default="252", help="test length: sessions or 1y/6m (252)")
    p.add_argument("--anchored", action="store_true", help="train always from the first bar")
    p.add_argument("--start", type=pd.Timestamp, help="first session to use (YYYY-MM-DD)")
    p.add_argument("--end", type=pd.Timestamp, help="last session to use (YYYY-MM-DD)")
    p.add_argument("--grid", help="grid file (JSON/TOML); default: the seed's 72 configs")
    p.add_argument("--engine", default=DEFAULT_ENGINE, help=f"backtest engine ({DEFAULT_ENGINE})")
    p.add_argument("--max-pairs", type=int, default=3, help="pairs kept per fold (--rescreen)")
    p.add_argument("--sort-by", default="pvalue", choices=SORT_CHOICES)
    p.add_argument("--pvalue", type=float, default=0.05, help="screen threshold (--rescreen)")
    p.add_argument("--screen-engine", default="statsmodels", choices=("statsmodels", "fast"))
    p.add_argument("--splits", type=int, default=16, help="CSCV blocks for PBO (even, 16)")
    p.add_argument(
        "--pbo-blocks",
        choices=PBO_BLOCKS,
        default=DEFAULT_PBO_BLOCKS,
        help="PBO row blocks: equal (the paper's, default) or array_split",
    )
    p.add_argument(
        "--oos-configs",
        choices=("auto", "all", "chosen"),
        default="auto",
        help="which configs trade each test window: all (per-config IS-vs-OOS data), chosen "
        "(only the one kept on train), auto (all when the engine warm-starts itself, else chosen)",
    )
    p.add_argument(
        "--handover",
        choices=HANDOVER_RULES,
        help="also run the folds' configs as one account handing over at each refit; dropped "
        "pairs with a position drain (exit by their own rules) or close on the hand-over session",
    )
    p.add_argument("--no-record", action="store_true", help="do not touch the config's evidence")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no per-fold progress lines")
    add_price_check_arguments(p)
    p.set_defaults(func=run)


def _load_prices(
    args: argparse.Namespace, layout: ArtifactLayout, needed: list[str]
) -> pd.DataFrame:
    path = Path(args.prices) if args.prices else layout.cleaned_prices
    prices = load_checked(path, args, needed)
    if args.start is not None:
        prices = prices.loc[prices.index >= args.start]
    if args.end is not None:
        prices = prices.loc[prices.index <= args.end]
    if prices.empty:
        raise DataError(f"no sessions between {args.start} and {args.end}; adjust --start/--end")
    return prices


def _fixed_pairs(args: argparse.Namespace, layout: ArtifactLayout) -> pd.DataFrame | None:
    """The pairs table every fold trades (None with --rescreen)."""
    if args.rescreen:
        return None
    path = Path(args.pairs) if args.pairs else layout.selected_pairs_csv
    if not path.is_file():
        raise DataError(
            f"{path}: no pairs table; run `pairs-research select` first, pass --pairs, "
            "or use --rescreen to screen on every train window"
        )
    table = pd.read_csv(path)
    pairs_from_table(table)  # a malformed table fails here, before any fold runs
    return table


# The selected-pairs table of each train window, by its first and last sessions (anchored
# windows share the first): the fold configs keep the screen's statistics of their pairs.
SelectedTables = dict[tuple[pd.Timestamp, pd.Timestamp], pd.DataFrame]


def _chooser(
    args: argparse.Namespace, fixed: pd.DataFrame | None, tables: SelectedTables
) -> PairChooser:
    if fixed is not None:
        return fixed_pairs(pairs_from_table(fixed))
    from research.screen.pipeline import run_screen  # statsmodels is slow to import

    def choose(train: pd.DataFrame) -> list[Any]:
        with warnings.catch_warnings():  # the multiple-testing note would repeat every fold
            warnings.simplefilter("ignore")
            table = run_screen(
                train, pvalue_threshold=args.pvalue, engine=args.screen_engine, progress=False
            ).table
        selected = select_top_non_overlapping_pairs(table, args.max_pairs, args.sort_by)
        tables[pd.Timestamp(train.index[0]), pd.Timestamp(train.index[-1])] = selected
        return pairs_from_table(selected)

    return choose


def _oos_all(choice: str, runner: EngineRunner) -> bool:
    """Whether every config trades out of sample. Engines without a warm start run the test
    windows on the reference simulation, which is slow for a whole grid: then only the chosen
    config trades unless ``all`` was asked for."""
    native = warm_start_path(runner.engine) != "reference" or runner.engine.name == "reference"
    if choice == "auto" and not native:
        print(
            f"walkforward: engine '{runner.engine.name}' cannot warm-start a grid, so only each "
            "fold's chosen config trades out of sample (on the reference simulation); "
            "--oos-configs all also trades the others, slowly",
            file=sys.stderr,
        )
    return choice == "all" or (choice == "auto" and native)


def _progress(fold: FoldResult) -> None:
    names = ", ".join(f"{p.asset_1}/{p.asset_2}" for p in fold.pairs) or "no pair"
    first, last = fold.test_dates[0], fold.test_dates[-1]
    if fold.oos_metrics is None or fold.is_metrics is None:
        print(f"fold {fold.fold.index}: test {first:%Y-%m-%d}..{last:%Y-%m-%d}: {names}, flat")
        return
    print(
        f"fold {fold.fold.index}: test {first:%Y-%m-%d}..{last:%Y-%m-%d} {names} "
        f"config #{fold.chosen}: IS Sharpe {_fmt(fold.is_metrics.sharpe_ratio)} "
        f"OOS {_fmt(fold.oos_metrics.sharpe_ratio)} (daily), DSR {_fmt(fold.evidence['dsr'], 2)}, "
        f"PBO {_fmt(fold.evidence.get('pbo'), 2)}",
        flush=True,
    )


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _hooks(args: argparse.Namespace, prices: pd.DataFrame) -> Callable[[FoldResult], None] | None:
    """Per-fold progress lines and, with --handover, the early check of traded tickers' gaps."""
    hooks: list[Callable[[FoldResult], None]] = [] if args.quiet else [_progress]
    if args.handover:
        hooks.insert(0, PricedCheck(prices))
    if not hooks:
        return None

    def each(fold: FoldResult) -> None:
        for hook in hooks:
            hook(fold)

    return each


def run(args: argparse.Namespace) -> int:
    layout = ArtifactLayout(args.base_dir)
    fixed = _fixed_pairs(args, layout)
    needed = pair_symbols(pairs_from_table(fixed)) if fixed is not None else []
    prices = _load_prices(args, layout, needed)
    grid = load_grid(args.grid) if args.grid else SEED_GRID
    runner = EngineRunner(get_engine(args.engine), grid.initial_cash, grid.commission)
    oos_all = _oos_all(args.oos_configs, runner)
    tables: SelectedTables = {}
    started = time.perf_counter()
    result = walk_forward(
        prices,
        grid.params(),
        _chooser(args, fixed, tables),
        runner,
        train=Span.parse(args.train),
        test=Span.parse(args.test),
        anchored=args.anchored,
        initial_cash=grid.initial_cash,
        n_splits=args.splits,
        pbo_blocks=args.pbo_blocks,
        oos_all=oos_all,
        progress=_hooks(args, prices),
    )
    elapsed = time.perf_counter() - started
    summary = result.summary() | {
        "pairs": "rescreened per fold" if args.rescreen else "fixed",
        "grid_size": grid.size,
        "engines": sorted(runner.engines_used),
        "elapsed_s": round(elapsed, 3),
    }
    lifecycle = None
    if args.handover:
        configs = _fold_configs(args, layout, prices, result, grid, runner.name, fixed, tables)
        started = time.perf_counter()
        account = lifecycle_of(prices, result, configs, args.handover, grid.commission)
        lifecycle = (account, configs)
        summary |= summary_of(account, result) | {
            "lifecycle_elapsed_s": round(time.perf_counter() - started, 3)
        }
    with staged(layout) as stage:
        write_reports(result, summary, stage.layout, plots=not args.no_plots, lifecycle=lifecycle)
    if not args.no_record and layout.config_json.is_file():
        record_evidence(layout.config_json, summary)
    _print_summary(summary)
    return 0


def _fold_configs(
    args: argparse.Namespace,
    layout: ArtifactLayout,
    prices: pd.DataFrame,
    result: WalkForwardResult,
    grid: Grid,
    engine: str,
    fixed: pd.DataFrame | None,
    tables: SelectedTables,
) -> dict[int, ProdConfig]:
    """Each fold's production config, as `optimize` would write it on the fold's train window
    (the same price file's name and hash as its data source)."""
    path = Path(args.prices) if args.prices else layout.cleaned_prices
    source = path.name if args.prices else read_source_label(layout)
    sha256 = file_sha256(path)
    return {
        f.fold.index: fold_config(
            prices,
            f,
            fixed if fixed is not None else tables[f.train_dates],
            grid,
            engine=engine,
            source=source,
            sha256=sha256,
        )
        for f in result.folds
        if f.chosen is not None
    }


def fold_rows(result: WalkForwardResult) -> pd.DataFrame:
    rows = []
    for f in result.folds:
        row: dict[str, Any] = {
            "fold": f.fold.index,
            "train_first": f"{f.train_dates[0]:%Y-%m-%d}",
            "train_last": f"{f.train_dates[1]:%Y-%m-%d}",
            "test_first": f"{f.test_dates[0]:%Y-%m-%d}",
            "test_last": f"{f.test_dates[-1]:%Y-%m-%d}",
            "pairs": " ".join(f"{p.asset_1}/{p.asset_2}:{p.hedge_ratio:.6g}" for p in f.pairs),
            "config_index": f.chosen,
        }
        if f.chosen is not None:
            row |= asdict(result.grid[f.chosen])
        for side, metrics, quoted in (
            ("is", f.is_metrics, f.is_quoted),
            ("oos", f.oos_metrics, f.oos_quoted),
        ):
            if metrics is not None and quoted is not None:
                row |= {f"{side}_{k}": v for k, v in metrics.as_dict().items()}
                row |= {f"{side}_{k}": v for k, v in quoted.as_dict().items()}
        row |= {"oos_beat_share": f.oos_rank_fraction, "dsr": f.evidence.get("dsr")}
        row |= {"psr": f.evidence.get("psr"), "pbo": f.evidence.get("pbo")}
        row |= {"n_trials": f.evidence.get("n_trials")}
        rows.append(row)
    return pd.DataFrame(rows)


def config_sharpe_rows(result: WalkForwardResult) -> pd.DataFrame:
    rows = []
    for f in result.folds:
        for i, params in enumerate(result.grid):
            rows.append(
                {"fold": f.fold.index, "config_index": i, **asdict(params)}
                | {"chosen": i == f.chosen, "is_sharpe": f.is_sharpes[i]}
                | {"oos_sharpe": f.oos_sharpes[i]}
            )
    return pd.DataFrame(rows)


def write_reports(
    result: WalkForwardResult,
    summary: dict[str, Any],
    layout: ArtifactLayout,
    plots: bool,
    lifecycle: tuple[LifecycleRun, dict[int, ProdConfig]] | None = None,
) -> None:
    layout.ensure_dirs()
    out = layout.reports_dir
    fold_rows(result).to_csv(out / "walkforward_folds.csv", index=False)
    config_sharpe_rows(result).to_csv(out / "walkforward_config_sharpes.csv", index=False)
    fold_of_bar = [f.fold.index for f in result.folds for _ in f.test_dates]
    pd.DataFrame(
        {
            "date": result.oos_dates.strftime("%Y-%m-%d"),
            "fold": fold_of_bar,
            "return": result.oos_returns,
            "equity": result.oos_equity,
        }
    ).to_csv(out / "walkforward_oos_equity.csv", index=False)
    (out / "walkforward_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if lifecycle is not None:
        write_handover_reports(lifecycle[0], result, lifecycle[1], out)
    if plots:
        from research.report.plots_walkforward import plot_is_vs_oos_sharpe, plot_walkforward_equity

        account = lifecycle[0] if lifecycle is not None else None
        plot_walkforward_equity(result, layout.report_png("walkforward_equity"), account)
        plot_is_vs_oos_sharpe(result, layout.report_png("walkforward_is_vs_oos"))


EVIDENCE_KEYS: tuple[str, ...] = (
    "mode", "train", "test", "pairs", "folds", "first_test_session", "last_test_session",
    "oos_sharpe_daily", "oos_sharpe_annualized", "oos_psr", "oos_total_return",
    "oos_max_dd_pct", "is_sharpe_daily_mean", "oos_below_median_share", "fold_dsr_mean",
    "fold_pbo_mean",
)  # fmt: skip


def record_evidence(path: Path, summary: dict[str, Any]) -> None:
    """Put the walk-forward figures in the config's ``provenance.evidence.walkforward``."""
    text = path.read_text(encoding="utf-8")
    config = parse_config(text, source=str(path))
    evidence = dict(config.provenance.evidence or {})
    evidence["walkforward"] = {k: summary.get(k) for k in EVIDENCE_KEYS}
    provenance = config.provenance.model_copy(update={"evidence": evidence})
    updated = config.model_copy(update={"provenance": provenance})
    write_atomic(path, dump_config(updated))


def _print_summary(summary: dict[str, Any]) -> None:
    print(
        f"walkforward: {summary['folds']} {summary['mode']} folds, OOS "
        f"{summary['first_test_session']}..{summary['last_test_session']}: "
        f"Sharpe {_fmt(summary['oos_sharpe_daily'])} daily "
        f"({_fmt(summary['oos_sharpe_annualized'], 2)} annualized), PSR "
        f"{_fmt(summary['oos_psr'], 2)}, total return {summary['oos_total_return']:.2%}; "
        f"mean IS Sharpe {_fmt(summary['is_sharpe_daily_mean'])} daily; "
        f"chosen config in the grid's OOS bottom half in "
        f"{_fmt(summary['oos_below_median_share'], 2)} of folds ({summary['elapsed_s']:.1f} s)"
    )
    if "handover" in summary:
        actions = ", ".join(f"{n} {a}" for a, n in summary["handover_actions"].items())
        print(
            f"walkforward: one account handing over ({summary['handover']}): Sharpe "
            f"{_fmt(summary['lifecycle_sharpe_daily'])} daily "
            f"({_fmt(summary['lifecycle_sharpe_annualized'], 2)} annualized), total return "
            f"{summary['lifecycle_total_return']:.2%}, max drawdown "
            f"{summary['lifecycle_max_dd_pct']:.2f}%; plans: {actions}"
        )
