"""Real closes through the daemon on the local Alpaca-compatible server, with splits and a
broker that says no or fills half, from a wide CSV of adjusted closes (a validation tool, not a
test: it reads a file you pass). ``--refuse``, ``--fill``, ``--htb`` and
``--paper-no-actions`` inject the broker's faults (see ``_faults``); the output then lists the
alerts they raised and the repair orders pair integrity sent.

    python -m tests.alpaca_server.split_replay --prices <wide.csv> \\
        --start 2021-03-01 --end 2021-10-29 --pair HON/GE --pair CAT/DE \\
        --split GE:2021-08-02:1:8 [--booking fractional|cash] [--hide-actions]

The file's adjusted closes are turned into the raw prints the exchange made (before each
split's ex-date: adjusted × ratio), the server books the splits on its clock, and the daemon
runs every session after ``--warm`` warm-up sessions with a config fitted on them (OLS hedge
ratios). ``--hide-actions`` makes the server publish no corporate actions: the first affected
run fails, the tool then writes the split into an events file (what the message tells an
operator to do) and runs the session again. It prints one JSON object: sessions, failures,
whether the daemon's orders fall on the research backtest's sessions (backtrader on the
stored scale), the position changes and cash the splits made, the largest gap between the
daemon's equity and the account's and the largest tracking residual.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from daemon.core.corporate_actions import format_ratio, parse_ratio
from daemon.cycle.pair_integrity import REPAIR_ATTEMPT
from daemon.monitoring.alerts import alerts
from daemon.store import Store
from daemon.store.actions import adjustments, cash_flows
from research.backtest.registry import get_engine
from research.data.market_data import align_closes
from shared.config import ProdConfig, parse_config
from tests.alpaca_server.harness import running_harness
from tests.alpaca_server.state import EVENING, Fault, Refusal
from tests.integration.test_daemon_on_alpaca_server import _run as run_session
from tests.integration.test_daemon_on_alpaca_server import alpaca_settings
from tests.unit.daemon_helpers import write_inputs

Split = tuple[str, date, float]
NO_ACTIONS = {"corporate_actions": {}, "next_page_token": None}


def _split(text: str) -> Split:
    symbol, day, ratio = text.split(":", 2)
    return symbol, date.fromisoformat(day), parse_ratio(ratio, what=f"--split {text}")


def _prices(args: argparse.Namespace, symbols: list[str]) -> pd.DataFrame:
    wide = pd.read_csv(args.prices, index_col=0)
    wide.index = [pd.Timestamp(v).date() for v in wide.index]
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    return wide.loc[[start <= d <= end for d in wide.index], symbols].astype(float)


def _scales(adjusted: pd.DataFrame, splits: list[Split]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(raw prints, the daemon's stored scale: adjusted as of the first run, before them)."""
    raw, stored = adjusted.copy(), adjusted.copy()
    for symbol, ex_date, ratio in splits:
        raw.loc[[d < ex_date for d in raw.index], symbol] *= ratio
        stored[symbol] *= ratio
    return raw, stored


def _config(args: argparse.Namespace, stored: pd.DataFrame, pairs: list[list[str]]) -> ProdConfig:
    warm = stored.iloc[: args.warm]
    fitted = [
        {
            "asset_1": a,
            "asset_2": b,
            "hedge_ratio": float(np.polyfit(warm[b].to_numpy(), warm[a].to_numpy(), 1)[0]),
        }
        for a, b in pairs
    ]
    payload: dict[str, Any] = {
        "window": args.window,
        "entry_z": args.entry_z,
        "exit_z": 0.1,
        "stop_z": 3.5,
        "stake": args.stake,
        "long_only": False,
        "delta": 1e-4,
        "R": 0.001,
        "initial_cash": args.cash,
        "commission": 0.0,
        "pairs": fitted,
        "data": {
            "first_session": warm.index[0].isoformat(),
            "last_session": warm.index[-1].isoformat(),
            "n_sessions": len(warm),
            "source": "split_replay",
        },
    }
    return parse_config(payload, source="split_replay")


def replay(args: argparse.Namespace) -> dict[str, Any]:
    pairs = [p.split("/") for p in args.pair]
    splits = [_split(s) for s in args.split]
    symbols = sorted({s for p in pairs for s in p})
    raw, stored = _scales(_prices(args, symbols), splits)
    config = _config(args, stored, pairs)
    sessions = list(raw.index)
    tmp = Path(tempfile.mkdtemp(prefix="split-replay-"))
    failures, gap = [], 0.0
    with running_harness() as harness:
        book = harness.book
        book.fraction_booking = args.booking
        book.cash = args.cash
        _, cfg = write_inputs(tmp, stored.iloc[: args.warm], config)
        settings = alpaca_settings(tmp, cfg, harness)
        book.set_time(sessions[args.warm - 1], EVENING)
        for symbol in symbols:
            book.add_bars(symbol, raw[symbol].iloc[: args.warm].to_dict())
        for symbol, ex_date, ratio in splits:
            book.add_split(symbol, ex_date, ratio)
        if args.hide_actions:
            harness.server.inject(
                Fault("GET", "/v1/corporate-actions", status=200, body=NO_ACTIONS, times=10**9)
            )
        book.paper_books_actions = not args.paper_no_actions
        for session in sessions[args.warm :]:
            _faults(args, book, session)
            book.advance_session(raw.loc[session].to_dict(), session)
            result = run_session(settings, session, harness.env, harness)
            if result.status != "completed":
                failures.append({"session": session.isoformat(), "message": result.message})
                events = tmp / "events.csv"
                rows = [f"{s},split,{d},{format_ratio(r)}" for s, d, r in splits]
                events.write_text("symbol,type,ex_date,ratio\n" + "\n".join(rows) + "\n")
                data = settings.data.model_copy(update={"events_csv": events})
                settings = settings.model_copy(update={"data": data})
                result = run_session(settings, session, harness.env, harness)
            store = Store.open(tmp / "state", durable=False)
            try:
                gap = max(gap, abs(store.equity_series()[-1].equity - book.equity()))
            finally:
                store.close()
        final_positions = dict(book.positions)
    store = Store.open(tmp / "state", durable=False)
    try:
        intents, moves, flows = store.intents(), adjustments(store), cash_flows(store)
        residuals = [
            (str(r[0]), float(r[1]))
            for r in store.sql("SELECT session, residual FROM tracking ORDER BY session")
        ]
        runs = [r for r in store.runs() if r.status == "completed"]
        final_equity = store.equity_series()[-1].equity
        raised = [(a.code, str(a.session), a.message) for a in alerts(store)]
        repairs = [
            [i.session.isoformat(), i.symbol, i.side, i.quantity, i.status]
            for i in intents
            if i.attempt == REPAIR_ATTEMPT
        ]
    finally:
        store.close()
    backtest = get_engine("backtrader").run(
        align_closes(stored, symbols),
        config.pair_list,
        [config.params],
        initial_cash=args.cash,
        commission=0.0,
        with_details=True,
        trade_from_bar=args.warm,
    )[0]
    assert backtest.fills is not None
    last = len(sessions) - 1
    research = {(f.symbol, f.bar - 1) for f in backtest.fills}
    daemon = {(i.symbol, sessions.index(i.session)) for i in intents}
    daemon = {(s, b) for s, b in daemon if b < last}

    # Sizes: the daemon's real shares against the backtest's stored-scale shares times the
    # splits' ratios up to the decision (whole-share rounding aside, they are the same trade).
    def real_ratio(symbol: str, session: date) -> float:
        out = 1.0
        for s_, ex_date, ratio in splits:
            if s_ == symbol and ex_date <= session:
                out *= ratio
        return out

    research_sizes = {
        (f.symbol, sessions[f.bar - 1]): f.signed_quantity
        * real_ratio(f.symbol, sessions[f.bar - 1])
        for f in backtest.fills
    }
    sizes = [
        [
            i.symbol,
            i.session.isoformat(),
            (1 if i.side == "buy" else -1) * i.quantity,
            round(research_sizes.get((i.symbol, i.session), 0.0), 3),
        ]
        for i in intents
        if (i.symbol, i.session) in research_sizes
    ]
    size_gaps = [row for row in sizes if abs(row[2] - row[3]) >= 1.0]
    return {
        "sessions": len(sessions) - args.warm,
        "completed": len(runs),
        "failures_then_fixed": failures,
        "orders": len(daemon),
        "orders_on_backtest_sessions": daemon == research,
        "position_changes": [
            [m.symbol, m.session.isoformat(), m.held_before, m.quantity, round(m.fraction, 6)]
            for m in moves
        ],
        "cash_flows": [[f.kind, f.symbol, f.shares, round(f.amount, 2)] for f in flows],
        "max_equity_gap": round(gap, 6),
        # A broker keeping a fraction holds it until the order closing it fills (the next
        # session) while the model books cash in lieu: that session's residual is its value.
        "tracking_residuals_over_1_cent": [[d, round(r, 4)] for d, r in residuals if abs(r) > 0.01],
        "last_tracking_residual": round(residuals[-1][1], 6) if residuals else None,
        "final_positions": final_positions,
        "final_equity_daemon": round(final_equity, 2),
        "final_equity_backtest_stored_scale": round(backtest.metrics.final_value, 2),
        "orders_sized_unlike_backtest_by_a_share_or_more": size_gaps,
        "first_orders": [
            [i.session.isoformat(), i.symbol, i.side, i.quantity, i.status] for i in intents[:6]
        ],
        "alerts": [r for r in raised if r[0] in BROKER_ALERTS],
        "repairs": repairs,
    }


BROKER_ALERTS = {"pair_unbalanced", "split_not_booked", "unaccounted_position"}


def _faults(args: argparse.Namespace, book: Any, session: date) -> None:
    """The broker saying no or filling half, before ``session``'s close: ``--refuse
    DATE:SYM`` refuses SYM's next order (sent on DATE's run: 403 insufficient buying power);
    ``--fill DATE:SYM:F`` fills a share F of SYM's orders in DATE's closing auction (the rest
    expires); ``--htb DATE:SYM`` turns SYM hard to borrow overnight before DATE's open."""
    for text in args.refuse:
        day, symbol = text.split(":")
        if date.fromisoformat(day) == session:
            book.refuse(Refusal(symbol=symbol))
    for text in args.fill:
        day, symbol, share = text.split(":")
        if date.fromisoformat(day) == session:
            book.fill_fraction[symbol] = float(share)
        else:
            book.fill_fraction.pop(symbol, None)
    for text in args.htb:
        day, symbol = text.split(":")
        if date.fromisoformat(day) == session:
            book.turn_hard_to_borrow(symbol)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prices", required=True, help="wide CSV of adjusted closes")
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--pair", action="append", required=True, help="A/B, repeatable")
    parser.add_argument("--split", action="append", default=[], help="SYM:YYYY-MM-DD:new:old")
    parser.add_argument("--booking", choices=("fractional", "cash"), default="fractional")
    parser.add_argument("--hide-actions", action="store_true")
    parser.add_argument("--warm", type=int, default=40)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--entry-z", type=float, default=0.8)
    parser.add_argument("--stake", type=int, default=23)
    parser.add_argument("--cash", type=float, default=1_000_000.0)
    parser.add_argument("--refuse", action="append", default=[], help="DATE:SYM, repeatable")
    parser.add_argument("--fill", action="append", default=[], help="DATE:SYM:SHARE, repeatable")
    parser.add_argument("--htb", action="append", default=[], help="DATE:SYM, repeatable")
    parser.add_argument("--paper-no-actions", action="store_true", help="book no split/dividend")
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):  # the adapters' own log lines
        result = replay(args)
    print(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
