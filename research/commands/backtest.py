"""``pairs-research backtest``: one backtest of a production config on a price file, printing
the seed's metrics (or exactly one JSON object with ``--json``)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from research.backtest.registry import DEFAULT_ENGINE, get_engine
from research.commands.health_options import add_health_arguments, health_rules
from research.commands.optimize import add_engine_arguments
from research.commands.price_checks import add_price_check_arguments, load_checked
from research.data.market_data import AlignedCloses, align_closes
from research.evaluation.pair_health import entry_rule
from research.search.verification import VERIFY_METRICS, VerificationError, metrics_agree
from shared.config import ProdConfig, parse_config
from shared.errors import ConfigError, DataError
from shared.metrics import Metrics
from shared.simulation import simulate


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backtest",
        help="backtest a kalman_prod_config.json on a price file",
        description="Backtest the config's parameters and pairs over its data window "
        "(first..last session) unless --start/--end override it. With --trade-from, the "
        "sessions before that date only warm the Kalman filter and the z-window up, as the "
        "daemon does before its go-live date.",
    )
    parser.add_argument("--prices", required=True, type=Path, help="wide CSV of closes")
    parser.add_argument("--config", required=True, type=Path, help="kalman_prod_config.json")
    parser.add_argument("--start", type=date.fromisoformat, help="first session (YYYY-MM-DD)")
    parser.add_argument("--end", type=date.fromisoformat, help="last session (YYYY-MM-DD)")
    parser.add_argument(
        "--trade-from",
        type=date.fromisoformat,
        metavar="DATE",
        help="go-live date (YYYY-MM-DD): trade from the first session on or after it; the "
        "earlier sessions of the window only warm up (the daemon's go_live setting)",
    )
    add_engine_arguments(parser)
    parser.set_defaults(engine=None)  # the rule below picks the reference engine itself
    parser.add_argument(
        "--verify", action="store_true", help="also run backtrader and fail on any difference"
    )
    parser.add_argument(
        "--on-degraded",
        choices=("alert", "no_new_entries"),
        default="alert",
        help="the daemon's [health] on_degraded: no_new_entries blocks the entries of a pair "
        "whose health is degraded at that bar (runs the reference engine); alert (default) "
        "changes nothing",
    )
    add_health_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object of metrics")
    add_price_check_arguments(parser)
    parser.set_defaults(func=run)


def read_config(path: Path) -> ProdConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the config ({exc.strerror})", source=str(path)) from None
    return parse_config(text, source=str(path))


def window_closes(
    prices: pd.DataFrame, config: ProdConfig, start: date | None, end: date | None
) -> AlignedCloses:
    """The config's pairs' closes, aligned like the seed, over [start, end] (default: the
    config's data window)."""
    first = pd.Timestamp(start or config.data.first_session)
    last = pd.Timestamp(end or config.data.last_session)
    if last < first:
        raise DataError(f"the window ends ({last:%Y-%m-%d}) before it starts ({first:%Y-%m-%d})")
    index = pd.DatetimeIndex(prices.index)
    window = prices.loc[(index >= first) & (index <= last)]
    if window.empty:
        raise DataError(
            f"no prices between {first:%Y-%m-%d} and {last:%Y-%m-%d}; check --prices/--start/--end"
        )
    return align_closes(window, config.symbols)


def go_live_bar(data: AlignedCloses, trade_from: date | None) -> int:
    """The bar of the first session on or after ``trade_from`` (0 without one)."""
    if trade_from is None:
        return 0
    bar = int(data.dates.searchsorted(pd.Timestamp(trade_from), side="left"))
    if bar >= data.n_bars:
        raise DataError(
            f"--trade-from {trade_from:%Y-%m-%d} is after the last session of the window "
            f"({data.dates[-1]:%Y-%m-%d}); pick an earlier date or extend --end"
        )
    return bar


def _verify(
    data: AlignedCloses, config: ProdConfig, metrics: Metrics, engine: str, trade_from_bar: int
) -> None:
    reference = (
        get_engine("backtrader")
        .run(
            data,
            config.pair_list,
            [config.params],
            initial_cash=config.initial_cash,
            commission=config.commission,
            trade_from_bar=trade_from_bar,
        )[0]
        .metrics.as_dict()
    )
    ours = metrics.as_dict()
    rows = [
        {"index": 0, "metric": m, "engine": ours[m], "backtrader": reference[m], "agree": False}
        for m in VERIFY_METRICS
        if not metrics_agree(ours[m], reference[m])
    ]
    if rows:
        raise VerificationError(pd.DataFrame(rows), engine)


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    prices = load_checked(args.prices, args, needed=config.symbols)
    data = window_closes(prices, config, args.start, args.end)
    if args.start is None and args.end is None and data.n_bars != config.data.n_sessions:
        print(
            f"warning: {data.n_bars} sessions in the config's window, but it was fitted on "
            f"{config.data.n_sessions}: the price file differs from the one optimized on",
            file=sys.stderr,
        )
    go_live = go_live_bar(data, args.trade_from)
    if args.on_degraded == "no_new_entries":
        return _run_with_rule(args, config, data, go_live)
    engine = get_engine(args.engine or DEFAULT_ENGINE)
    # Only a go-live run passes the keyword, so an engine registered without it still backtests.
    extra: dict[str, Any] = {"trade_from_bar": go_live} if go_live else {}
    (result,) = engine.run(
        data,
        config.pair_list,
        [config.params],
        initial_cash=config.initial_cash,
        commission=config.commission,
        **extra,
    )
    if args.verify:
        _verify(data, config, result.metrics, engine.name, go_live)
    metrics = result.metrics.as_dict()
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(
        f"backtest of config {config.config_id} on {', '.join(data.symbols)}: "
        f"{data.dates[0]:%Y-%m-%d} .. {data.dates[-1]:%Y-%m-%d} ({engine.name} engine)"
    )
    if go_live:
        print(f"  trading from {data.dates[go_live]:%Y-%m-%d} (bar {go_live}); warm-up before")
    for key, value in metrics.items():
        print(f"  {key:<13} {'n/a' if value is None else value}")
    return 0


def _run_with_rule(
    args: argparse.Namespace, config: ProdConfig, data: AlignedCloses, go_live: int
) -> int:
    """``--on-degraded no_new_entries`` on the reference engine (``shared.simulation``), the
    one that implements the rule; the daemon with the rule on trades like it."""
    if args.engine not in (None, "reference") or args.verify:
        raise ConfigError(
            "--on-degraded no_new_entries runs on the reference engine only (the other engines "
            "do not implement the rule); drop --engine/--verify or pass --engine reference",
            key="--on-degraded",
        )
    sim = simulate(
        data.closes,
        data.symbols,
        config.pair_list,
        config.params,
        config.initial_cash,
        config.commission,
        trade_from_bar=go_live,
        entry_rule=entry_rule(config, health_rules(args)),
    )
    metrics = {**sim.metrics.as_dict(), "blocked_entries": len(sim.blocked)}
    if args.json:
        print(json.dumps(metrics))
        return 0
    print(
        f"backtest of config {config.config_id} on {', '.join(data.symbols)}: "
        f"{data.dates[0]:%Y-%m-%d} .. {data.dates[-1]:%Y-%m-%d} (reference engine, "
        "no new entries on a degraded pair)"
    )
    for key, value in metrics.items():
        print(f"  {key:<15} {'n/a' if value is None else value}")
    for bar, k, why in sim.blocked:
        pair = config.pair_list[k]
        print(f"  blocked {data.dates[bar]:%Y-%m-%d} {pair.asset_1}/{pair.asset_2}: {why}")
    return 0
