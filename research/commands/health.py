"""``pairs-research health``: the daemon's pair health (shared/health.py) of a config's pairs
on a price file, at a session."""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
from typing import Any

from research.commands.backtest import read_config
from research.commands.health_options import add_health_arguments, health_rules
from research.commands.price_checks import add_price_check_arguments, load_checked
from research.evaluation.pair_health import config_health


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "health",
        help="the daemon's pair health of a config's pairs at a session",
        description="Measure each pair of a kalman_prod_config.json as the daemon does after a "
        "session's close: the Engle-Granger p-value and the spread's half-life over the "
        "trailing window, the Kalman innovations against their chi-square band, against the "
        "thresholds of the daemon's [health] settings.",
    )
    parser.add_argument("--prices", required=True, type=Path, help="wide CSV of closes")
    parser.add_argument("--config", required=True, type=Path, help="kalman_prod_config.json")
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        help="the session (YYYY-MM-DD) to measure after; default: the price file's last",
    )
    add_health_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_price_check_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    rules = health_rules(args)
    prices = load_checked(args.prices, args, needed=config.symbols)
    rows = config_health(prices, config, rules, args.end)
    if args.json:
        payload = {r.pair: {"session": r.session.isoformat(), **r.health.as_dict()} for r in rows}
        print(json.dumps(payload, indent=2))
        return 0
    print(f"pair health of config {config.config_id}, trailing {rules.window} sessions")
    for r in rows:
        h = r.health
        status = "DEGRADED" if h.degraded else ("healthy" if h.measured else "not measured")
        print(f"  {r.pair:<12} {r.session}  {status}")
        if h.measured:
            formation = h.formation_half_life
            print(
                f"    p-value {h.pvalue:.4f}  half-life {_hl(h.half_life)} (formation "
                f"{'unknown' if formation is None else f'{formation:.1f}'})  innovations "
                f"beyond 99% {h.innovation_share:.1%}"
            )
        for reason in h.reasons:
            print(f"    - {reason}")
    healthy = sum(1 for r in rows if r.health.measured and not r.health.degraded)
    print(f"{healthy} of {len(rows)} pairs healthy")
    return 0


def _hl(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "inf" if value == float("inf") else f"{value:.1f}"
