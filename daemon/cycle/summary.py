"""The ``session_summary`` event and the ``status`` report, both read from the store."""

from __future__ import annotations

from datetime import date
from typing import Any

from daemon.core.roster import SessionRoster
from daemon.monitoring.health import health_fields
from daemon.monitoring.tracking import tracking_for
from daemon.store import Store
from daemon.store.actions import cash_flows, stored_actions
from daemon.store.deploy_request import read_request
from daemon.store.generations import generations, roster_at
from daemon.store.health import health_at
from shared.config import parse_config


def equity_stats(store: Store, initial_cash: float, session: date) -> dict[str, Any]:
    """Equity, day P&L and drawdown at ``session`` (drawdown against the running peak)."""
    series = [e for e in store.equity_series() if e.session <= session]
    if not series:
        return {}
    today = series[-1]
    before = series[-2].equity if len(series) > 1 else initial_cash
    peak = max([initial_cash, *(e.equity for e in series)])
    return {
        "equity": today.equity,
        "cash": today.cash,
        "day_pnl": today.equity - before,
        "total_return": today.equity / initial_cash - 1.0,
        "drawdown_pct": 100.0 * (peak - today.equity) / peak,
        "positions": today.positions,
    }


def session_summary(store: Store, config: SessionRoster, session: date) -> dict[str, Any]:
    health = health_at(store, session)
    pairs = [
        {
            "pair": d.pair,
            "beta": d.beta,
            "z": d.z,
            "state": d.state,
            "action": d.action,
            "blocked": d.blocked,
            "health": health_fields(health, d.pair_index),
            "leaving": config.slots[d.pair_index].leaving
            if d.pair_index < len(config.slots)
            else None,
        }
        for d in store.decisions(session)
    ]
    orders = [
        {
            "client_order_id": i.client_order_id,
            "symbol": i.symbol,
            "side": i.side,
            "quantity": i.quantity,
            "status": i.status,
        }
        for i in store.intents(session)
    ]
    fills = [
        {"symbol": f.symbol, "quantity": f.signed_quantity, "price": f.price}
        for f in store.fills()
        if f.session == session
    ]
    stats = equity_stats(store, config.initial_cash, session)
    tracking = tracking_for(store, session)
    return {
        **stats,
        "generation": config.generation,
        "pairs": pairs,
        "orders": orders,
        "fills": fills,
        "corporate_actions": corporate_action_summary(store, session),
        "tracking": tracking,
    }


def corporate_action_summary(store: Store, session: date) -> dict[str, Any]:
    """The events applied this session and the cash they moved to date: dividends received
    (longs) and paid (shorts) by their payable date, cash in lieu, and what is still due."""
    applied = [s.action.describe() for s in stored_actions(store) if s.applied_session == session]
    flows = cash_flows(store)
    paid = [f for f in flows if f.pay_date <= session]
    return {
        "applied": applied,
        "dividends_received": sum(f.amount for f in paid if f.kind == "dividend" and f.amount > 0),
        "dividends_paid": -sum(f.amount for f in paid if f.kind == "dividend" and f.amount < 0),
        "cash_in_lieu": sum(f.amount for f in paid if f.kind == "cash_in_lieu"),
        "dividends_due": sum(f.amount for f in flows if f.pay_date > session),
    }


def status_report(store: Store) -> dict[str, Any]:
    """What ``pairs-daemon status`` prints: last run, equity, positions, pairs, open intents."""
    runs = store.runs()
    last_run = runs[-1] if runs else None
    last_error = store.last_error()
    series = store.equity_series()
    completed = store.last_completed_session()
    health = health_at(store, completed) if completed is not None else {}
    initial = store.get_meta("initial_cash")
    report: dict[str, Any] = {
        "config_id": store.get_meta("config_id"),
        "go_live": store.get_meta("go_live"),
        "last_completed_session": _iso(store.last_completed_session()),
        "last_run": None
        if last_run is None
        else {
            "session": last_run.session.isoformat(),
            "status": last_run.status,
            "started_at": last_run.started_at,
            "finished_at": last_run.finished_at,
            "message": last_run.message,
        },
        "expected_positions": store.expected_positions(),
        "open_intents": [
            {
                "client_order_id": i.client_order_id,
                "symbol": i.symbol,
                "side": i.side,
                "quantity": i.quantity,
                "status": i.status,
                "session": i.session.isoformat(),
            }
            for i in store.intents(unfinished=True)
        ],
        "pairs": [
            {
                "pair": d.pair,
                "session": d.session.isoformat(),
                "beta": d.beta,
                "z": d.z,
                "state": d.state,
                "action": d.action,
                "blocked": d.blocked,
                "health": health_fields(health, d.pair_index),
            }
            for d in store.latest_decisions()
        ],
        "last_error": None
        if last_error is None
        else {"session": last_error.session.isoformat(), "message": last_error.message},
        "tracking": _last_tracking(store),
        "corporate_actions": [
            {
                "event": stored.action.describe(),
                "applied": _iso(stored.applied_session),
                "source": stored.action.source,
            }
            for stored in stored_actions(store)
        ],
    }
    report["generations"] = generation_rows(store)
    if completed is not None and (recorded := roster_at(store, completed)) is not None:
        leaving = {k: slot.leaving for k, slot in enumerate(recorded[1]) if slot.leaving}
        for row, d in zip(report["pairs"], store.latest_decisions(), strict=True):
            row["leaving"] = leaving.get(d.pair_index)
    if series:
        last = series[-1]
        report["equity"] = {
            "session": last.session.isoformat(),
            "equity": last.equity,
            "cash": last.cash,
            "positions": last.positions,
        }
        if initial is not None:
            report["equity"].update(
                equity_stats(store, float(initial), last.session) | {"positions": last.positions}
            )
    return report


def generation_rows(store: Store) -> list[dict[str, Any]]:
    """The configs this state directory has traded or been deployed, oldest first; a request
    not taken into the store yet shows as ``requested``."""
    rows: list[dict[str, Any]] = [
        {
            "generation": g.generation,
            "config_id": g.config_id,
            "source": g.source,
            "deployed_at": g.deployed_at,
            "from_session": _iso(g.from_session),
            "status": "pending" if g.pending else "applied",
            "forced": g.forced,
            "rollback_of": g.rollback_of,
            "plan": g.plan,
        }
        for g in generations(store)
    ]
    request = read_request(store.path.parent)
    if request is not None:
        rows.append(
            {
                "generation": None,
                "config_id": None if request.withdraw else parse_config(request.config).config_id,
                "source": request.source,
                "deployed_at": request.requested_at,
                "from_session": None,
                "status": "withdrawal requested" if request.withdraw else "requested",
                "forced": request.forced,
                "rollback_of": request.rollback_of,
                "plan": None,
            }
        )
    return rows


def _last_tracking(store: Store) -> dict[str, Any] | None:
    last = store.last_completed_session()
    return tracking_for(store, last) if last is not None else None


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None
