"""What ``pairs-daemon report`` shows, read from the state file and the config (no I/O here
beyond the store): equity curves, drawdowns, per-pair P&L, the trades, alerts, evidence."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from daemon.monitoring.alerts import Alert, alerts
from daemon.monitoring.attribution import TERMS, OrderComparison, compare_orders
from daemon.monitoring.shadow import ModelOrder, model_orders, model_sessions
from daemon.monitoring.tracking import TrackingRow, tracking_rows
from daemon.store import FillRecord, Store
from daemon.store.actions import CashFlow, adjustments, cash_flows, stored_actions
from daemon.store.generations import current_config, generations, handover_sessions
from daemon.store.health import health_at
from shared.config import ProdConfig
from shared.health import PairHealth

Z_95 = 1.959964


@dataclass(frozen=True, slots=True)
class PairPnl:
    pair: str
    paper: float
    model: float


@dataclass(frozen=True, slots=True)
class SharpeBand:
    """Whether the realized daily Sharpe lies where the backtest says it should: the expected
    Sharpe ± 1.96 standard errors for this many days (Lo 2002: SE² = (1 + SR²/2) / n)."""

    expected: float | None
    source: str
    realized: float | None
    n_days: int
    low: float | None
    high: float | None

    @property
    def inside(self) -> bool | None:
        if self.realized is None or self.low is None or self.high is None:
            return None
        return self.low <= self.realized <= self.high


@dataclass(frozen=True, slots=True)
class ActionRow:
    """One corporate action as the account saw it: what it did to the position and cash."""

    event: str
    source: str
    applied: date | None
    held_before: int | None  # None: not applied yet, or nothing held
    change: int | None  # shares a split added (or took away)
    cash: float  # dividends received/paid and cash in lieu it moved (signed)


@dataclass(frozen=True, slots=True)
class ReportData:
    config: ProdConfig
    go_live: str | None
    tracking: list[TrackingRow]
    trades: list[OrderComparison]
    pairs: list[PairPnl]
    alerts: list[Alert]
    evidence: dict[str, Any]
    band: SharpeBand
    realized: dict[str, float | None]
    actions: list[ActionRow] = field(default_factory=list)
    # Each pair's health at the last completed session (pair name, health; none before any).
    health: list[tuple[str, PairHealth]] = field(default_factory=list)
    # The hand-overs to a new config (session, generation number, config id): chart markers.
    handovers: list[tuple[str, int, str]] = field(default_factory=list)


def _traded_pairs(store: Store, config: ProdConfig) -> list[tuple[str, str]]:
    """Every pair any generation traded, first seen first (the report's per-pair rows)."""
    legs = [(p.asset_1, p.asset_2) for g in generations(store) for p in g.config.pairs]
    legs += [(p.asset_1, p.asset_2) for p in config.pairs]
    return list(dict.fromkeys(legs))


def gather(store: Store, config: ProdConfig) -> ReportData:
    """``config``: the settings' config; after a hand-over the current generation's is shown."""
    pairs_traded = _traded_pairs(store, config)
    config = current_config(store, config)
    rows = tracking_rows(store)
    modelled = store.has_table("model_sessions")  # a store from before monitoring: nothing yet
    sessions = {m.session: m for m in model_sessions(store)} if modelled else {}
    since = min(sessions) if sessions else None
    fills = [f for f in store.fills() if since is not None and f.session >= since]
    orders = model_orders(store) if modelled else []
    intents = {i.client_order_id: (i.session, _signed(i.side, i.quantity)) for i in store.intents()}
    closes = {d: m.closes for d, m in sessions.items()}
    trades = compare_orders(fills, orders, closes.get, intents) if sessions else []
    last_closes = sessions[max(sessions)].closes if sessions else {}
    evidence = dict(config.provenance.evidence or {})
    paper_values = [r.paper_equity for r in rows]
    model_values = [r.model_equity for r in rows]
    return ReportData(
        config=config,
        go_live=store.get_meta("go_live"),
        tracking=rows,
        trades=trades,
        pairs=pair_pnl(pairs_traded, fills, orders, last_closes),
        alerts=alerts(store),
        evidence=evidence,
        band=sharpe_band(config, evidence, paper_values),
        realized={
            "paper_sharpe_daily": daily_sharpe(config.initial_cash, paper_values),
            "model_sharpe_daily": daily_sharpe(config.initial_cash, model_values),
            "paper_max_dd_pct": max(drawdowns(config.initial_cash, paper_values), default=None),
            "model_max_dd_pct": max(drawdowns(config.initial_cash, model_values), default=None),
        },
        actions=action_rows(store),
        health=health_rows(store),
        handovers=[
            (d.isoformat(), number, _config_id(store, number))
            for d, number in handover_sessions(store)
        ],
    )


def _config_id(store: Store, number: int) -> str:
    return next(g.config_id for g in generations(store) if g.generation == number)


def health_rows(store: Store) -> list[tuple[str, PairHealth]]:
    """Each pair of the last completed session's roster, by the name stored with its health."""
    last = store.last_completed_session()
    if last is None:
        return []
    names = {d.pair_index: d.pair for d in store.decisions(last)}
    health = health_at(store, last)
    return [(names[k], h) for k, h in sorted(health.items()) if k in names]


def action_rows(store: Store) -> list[ActionRow]:
    moves = {m.action_key: m for m in adjustments(store)}
    flows: dict[str, list[CashFlow]] = {}
    for flow in cash_flows(store):
        flows.setdefault(flow.action_key, []).append(flow)
    rows = []
    for stored in stored_actions(store):
        key = stored.action.key
        move, moved = moves.get(key), flows.get(key, [])
        dividend = [f for f in moved if f.kind == "dividend"]
        held = move.held_before if move else (int(dividend[0].shares) if dividend else None)
        rows.append(
            ActionRow(
                event=stored.action.describe(),
                source=stored.action.source,
                applied=stored.applied_session,
                held_before=held,
                change=move.quantity if move else None,
                cash=sum(f.amount for f in moved),
            )
        )
    return rows


def _signed(side: str, quantity: int) -> int:
    return quantity if side == "buy" else -quantity


def pair_pnl(
    pairs: Sequence[tuple[str, str]],
    fills: Sequence[FillRecord],
    orders: Sequence[ModelOrder],
    closes: Mapping[str, float],
) -> list[PairPnl]:
    """Realized plus open P&L per pair (the pairs trade disjoint tickers), both accounts."""

    def pnl(trades: Sequence[tuple[str, int, float, float]], symbols: set[str]) -> float:
        cash, held = 0.0, dict.fromkeys(symbols, 0)
        for symbol, qty, price, fee in trades:
            if symbol in symbols:
                cash -= qty * price + fee
                held[symbol] += qty
        return cash + sum(q * closes.get(s, 0.0) for s, q in held.items())

    paper = [(f.symbol, f.signed_quantity, f.price, f.commission) for f in fills]
    model = [
        (o.symbol, o.filled_quantity, o.fill_price or 0.0, o.commission)
        for o in orders
        if o.filled_quantity
    ]
    out = []
    for asset_1, asset_2 in pairs:
        symbols = {asset_1, asset_2}
        name = f"{asset_1}/{asset_2}"
        out.append(PairPnl(name, pnl(paper, symbols), pnl(model, symbols)))
    return out


def daily_returns(initial: float, values: Sequence[float]) -> list[float]:
    previous = [initial, *values[:-1]]
    return [v / p - 1.0 for v, p in zip(values, previous, strict=True)]


def daily_sharpe(initial: float, values: Sequence[float]) -> float | None:
    """The seed's definition: mean / population std of daily returns, not annualized."""
    returns = daily_returns(initial, values)
    if len(returns) < 2:
        return None
    mean = sum(returns) / len(returns)
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / len(returns))
    return mean / std if std > 0 else None


def drawdowns(initial: float, values: Sequence[float]) -> list[float]:
    peak, out = initial, []
    for v in values:
        peak = max(peak, v)
        out.append(100.0 * (peak - v) / peak)
    return out


def sharpe_band(
    config: ProdConfig, evidence: Mapping[str, Any], paper_values: Sequence[float]
) -> SharpeBand:
    walkforward = evidence.get("walkforward") or {}
    expected, source = None, "none recorded"
    if walkforward.get("oos_sharpe_daily") is not None:
        expected, source = float(walkforward["oos_sharpe_daily"]), "walk-forward out-of-sample"
    elif evidence.get("sharpe_daily") is not None:
        expected, source = float(evidence["sharpe_daily"]), "in-sample (selected config)"
    elif config.selection_metrics.get("sharpe_ratio") is not None:
        expected = float(config.selection_metrics["sharpe_ratio"] or 0.0)
        source = "in-sample (selected config)"
    realized = daily_sharpe(config.initial_cash, paper_values)
    n = len(paper_values)
    if expected is None or n < 2:
        return SharpeBand(expected, source, realized, n, None, None)
    se = math.sqrt((1.0 + expected**2 / 2.0) / n)
    return SharpeBand(expected, source, realized, n, expected - Z_95 * se, expected + Z_95 * se)


def tracking_json(data: ReportData) -> dict[str, Any]:
    """``tracking.json``: the schema of the issue, nothing more."""
    last = data.tracking[-1].attribution if data.tracking else dict.fromkeys(TERMS, 0.0)
    return {
        "sessions": [
            {
                "session": r.session.isoformat(),
                "paper_equity": r.paper_equity,
                "model_equity": r.model_equity,
                "tracking_difference": r.difference,
            }
            for r in data.tracking
        ],
        "attribution": {term: last[term] for term in TERMS},
    }


def iso(d: date | None) -> str:
    return "" if d is None else d.isoformat()
