"""The store's corporate-action tables (schema migration 4): events, position changes and the
cash they moved. Functions over a :class:`daemon.store.Store`; call them inside its
``transaction()`` where several must land together."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from daemon.core.corporate_actions import ActionKind, CorporateAction

if TYPE_CHECKING:
    from daemon.store import Store

# The broker's date when the stored bars' scale was fixed (the first run, or a rewarm): only
# the splits after it can show in the feed's re-adjustment factor.
SCALE_META = "actions_scale_from"
_ACTION_COLUMNS = "symbol, kind, ex_date, ratio, amount, payable_date, source, applied_session"


@dataclass(frozen=True, slots=True)
class StoredAction:
    action: CorporateAction
    applied_session: date | None  # the run that applied it (None: not yet)


@dataclass(frozen=True, slots=True)
class PositionAdjustment:
    """What a split did to one held position, booked on its ex-date."""

    action_key: str
    session: date  # the ex-date
    symbol: str
    held_before: int
    quantity: int  # the change in whole shares (held after = held_before + quantity)
    fraction: float  # the part of a share the ratio left over (paid as cash in lieu)


@dataclass(frozen=True, slots=True)
class CashFlow:
    action_key: str
    kind: str  # 'dividend' | 'cash_in_lieu'
    symbol: str
    ex_date: date
    pay_date: date
    shares: float  # signed shares the flow is for
    amount: float  # signed dollars (+ received, - paid)


def _action(row: tuple[object, ...]) -> StoredAction:
    symbol, kind, ex_date, ratio, amount, payable, source, applied = row
    action = CorporateAction(
        symbol=str(symbol),
        kind=ActionKind(str(kind)),
        ex_date=date.fromisoformat(str(ex_date)),
        ratio=float(ratio),  # type: ignore[arg-type]
        amount=float(amount),  # type: ignore[arg-type]
        payable_date=date.fromisoformat(str(payable)) if payable else None,
        source=str(source),
    )
    return StoredAction(action, date.fromisoformat(str(applied)) if applied else None)


def record_action(store: Store, action: CorporateAction, recorded_at: str) -> StoredAction | None:
    """Store a newly published event. Returns None when it is new; the stored version when the
    same event (symbol, kind, ex-date) is already there: the first one stays, a different
    ratio or amount is for the caller to report."""
    found = stored_action(store, action.key)
    if found is not None:
        return found
    store.sql(
        f"INSERT INTO corporate_actions (key, {_ACTION_COLUMNS}, recorded_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
        (
            action.key,
            action.symbol,
            action.kind.value,
            action.ex_date.isoformat(),
            action.ratio,
            action.amount,
            action.payable_date.isoformat() if action.payable_date else None,
            action.source,
            recorded_at,
        ),
    )
    return None


def stored_action(store: Store, key: str) -> StoredAction | None:
    rows = store.sql(f"SELECT {_ACTION_COLUMNS} FROM corporate_actions WHERE key = ?", (key,))
    return _action(tuple(rows[0])) if rows else None


def stored_actions(store: Store, *, unapplied_through: date | None = None) -> list[StoredAction]:
    """Every stored event by ex-date (then symbol, kind); or only those not applied yet whose
    ex-date is on or before ``unapplied_through``."""
    sql = f"SELECT {_ACTION_COLUMNS} FROM corporate_actions"
    params: tuple[str, ...] = ()
    if unapplied_through is not None:
        sql += " WHERE applied_session IS NULL AND ex_date <= ?"
        params = (unapplied_through.isoformat(),)
    rows = store.sql(sql + " ORDER BY ex_date, symbol, kind", params)
    return [_action(tuple(r)) for r in rows]


def mark_applied(store: Store, key: str, session: date) -> None:
    store.sql(
        "UPDATE corporate_actions SET applied_session = ? WHERE key = ?",
        (session.isoformat(), key),
    )


def record_adjustment(store: Store, adjustment: PositionAdjustment) -> None:
    store.sql(
        "INSERT OR REPLACE INTO position_adjustments (action_key, session, symbol, held_before, "
        "quantity, fraction) VALUES (?, ?, ?, ?, ?, ?)",
        (
            adjustment.action_key,
            adjustment.session.isoformat(),
            adjustment.symbol,
            adjustment.held_before,
            adjustment.quantity,
            adjustment.fraction,
        ),
    )


def adjustments(store: Store) -> list[PositionAdjustment]:
    rows = store.sql(
        "SELECT action_key, session, symbol, held_before, quantity, fraction "
        "FROM position_adjustments ORDER BY session, symbol"
    )
    return [
        PositionAdjustment(r[0], date.fromisoformat(r[1]), r[2], int(r[3]), int(r[4]), float(r[5]))
        for r in rows
    ]


def real_per_stored(store: Store) -> dict[str, float]:
    """Real shares per stored-scale share for each symbol a split moved since the stored
    bars' scale was fixed (``SCALE_META``: the first run or the last rewarm): the product of
    the applied splits' ratios. A symbol no split moved is absent (1.0)."""
    since = store.get_meta(SCALE_META)
    out: dict[str, float] = {}
    for stored in stored_actions(store):
        action = stored.action
        if action.kind is not ActionKind.SPLIT or stored.applied_session is None:
            continue
        if since is not None and action.ex_date <= date.fromisoformat(since):
            continue
        out[action.symbol] = out.get(action.symbol, 1.0) * action.ratio
    return out


# Splits the broker did not book (a paper account that applies none): their adjustment is 0.
NOT_BOOKED_META = "splits_not_booked"


def splits_not_booked(store: Store) -> set[str]:
    """Keys of the applied splits the broker did not book on its positions."""
    raw = store.get_meta(NOT_BOOKED_META)
    return set(json.loads(raw)) if raw else set()


def mark_split_not_booked(store: Store, adjustment: PositionAdjustment) -> None:
    """The broker kept the pre-split share count: the split moves no position here either
    (no whole shares, no fraction, no cash in lieu). Call inside a transaction."""
    record_adjustment(store, replace(adjustment, quantity=0, fraction=0.0))
    store.sql(
        "DELETE FROM cash_flows WHERE action_key = ? AND kind = 'cash_in_lieu'",
        (adjustment.action_key,),
    )
    keys = sorted(splits_not_booked(store) | {adjustment.action_key})
    store.set_meta(NOT_BOOKED_META, json.dumps(keys))


def split_symbols(store: Store) -> set[str]:
    """Symbols a split changed a held position of (their flat pairs close residuals)."""
    return {a.symbol for a in adjustments(store)}


def record_cash_flow(store: Store, flow: CashFlow) -> None:
    store.sql(
        "INSERT OR REPLACE INTO cash_flows (action_key, kind, symbol, ex_date, pay_date, shares, "
        "amount) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            flow.action_key,
            flow.kind,
            flow.symbol,
            flow.ex_date.isoformat(),
            flow.pay_date.isoformat(),
            flow.shares,
            flow.amount,
        ),
    )


def cash_flows(store: Store) -> list[CashFlow]:
    rows = store.sql(
        "SELECT action_key, kind, symbol, ex_date, pay_date, shares, amount FROM cash_flows "
        "ORDER BY pay_date, symbol, kind"
    )
    return [
        CashFlow(r[0], r[1], r[2], date.fromisoformat(r[3]), date.fromisoformat(r[4]), r[5], r[6])
        for r in rows
    ]
