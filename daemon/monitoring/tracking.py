"""Tracking: paper vs model equity per session, stored with the session's completion.

:func:`record_tracking` runs inside the transaction that completes a session (so a crash leaves
either both the session and its tracking row or neither); :func:`tracking_for` gives the
``tracking`` object of ``session_summary``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from daemon.core.ports import Account
from daemon.core.roster import SessionRoster
from daemon.monitoring.attribution import TERMS, attribute
from daemon.monitoring.shadow import (
    MODEL_CASH_IN_LIEU,
    first_model_session,
    model_closes,
    model_orders,
    step_model,
)
from daemon.store import Store

_COLUMNS = (
    "session, paper_equity, model_equity, difference, difference_bps, day_difference, "
    "day_difference_bps, slippage, commission, dividends, unfilled, residual"
)


@dataclass(frozen=True, slots=True)
class TrackingRow:
    session: date
    paper_equity: float
    model_equity: float
    difference: float  # paper - model, cumulative since go-live
    difference_bps: float  # of model equity
    day_difference: float
    day_difference_bps: float
    attribution: dict[str, float]

    @property
    def alerting_difference(self) -> float:
        """The difference the alerts judge: everything but dividends and corporate-action cash.
        The broker pays a dividend in cash while the model, on real closes, only sees the price
        drop on the ex-date; the attribution's ``dividends`` term is that cash, so it is netted
        out here (the model is not changed: its equity stays the research backtest's).
        Slippage, commission, unfilled orders and the residual all count."""
        return self.difference - self.attribution.get("dividends", 0.0)

    @property
    def alerting_bps(self) -> float:
        model = self.model_equity
        return 1e4 * self.alerting_difference / model if model else 0.0

    def as_event(self) -> dict[str, Any]:
        return {
            "paper_equity": self.paper_equity,
            "model_equity": self.model_equity,
            "difference": self.difference,
            "difference_bps": self.difference_bps,
            "difference_without_dividends_bps": self.alerting_bps,
            "day_difference": self.day_difference,
            "day_difference_bps": self.day_difference_bps,
            "attribution": self.attribution,
        }


def _bps(amount: float, base: float) -> float:
    return 1e4 * amount / base if base else 0.0


def record_tracking(
    store: Store,
    config: SessionRoster,
    session: date,
    go_live: date,
    strategy_closes: Mapping[str, float],
    real_closes: Mapping[str, float],
    account: Account,
) -> TrackingRow | None:
    """Step the shadow model to ``session`` and store paper vs model (inside a transaction)."""
    today = step_model(store, config, session, go_live, strategy_closes, real_closes)
    if today is None:
        return None
    since = first_model_session(store) or session
    fills = [f for f in store.fills() if f.session >= since]
    difference = account.equity - today.equity
    attribution = attribute(
        initial_cash=float(store.get_meta("tracking_start_cash") or config.initial_cash),
        rate=config.commission,
        fills=fills,
        orders=model_orders(store),
        closes_on=lambda d: today.closes if d == session else model_closes(store, d),
        today=today.closes,
        paper_cash=account.cash,
        difference=difference,
        model_corporate_cash=float(store.get_meta(MODEL_CASH_IN_LIEU) or 0.0),
    )
    before = last_tracking(store, before=session)
    day = difference - (before.difference if before else 0.0)
    row = TrackingRow(
        session=session,
        paper_equity=account.equity,
        model_equity=today.equity,
        difference=difference,
        difference_bps=_bps(difference, today.equity),
        day_difference=day,
        day_difference_bps=_bps(day, before.model_equity if before else config.initial_cash),
        attribution=attribution.as_dict(),
    )
    store.sql(
        f"INSERT OR REPLACE INTO tracking ({_COLUMNS}) VALUES ({', '.join('?' * 12)})",
        (
            session.isoformat(),
            row.paper_equity,
            row.model_equity,
            row.difference,
            row.difference_bps,
            row.day_difference,
            row.day_difference_bps,
            *(row.attribution[t] for t in TERMS),
        ),
    )
    return row


def tracking_rows(store: Store) -> list[TrackingRow]:
    if not store.has_table("tracking"):
        return []
    return _rows(store.sql(f"SELECT {_COLUMNS} FROM tracking ORDER BY session"))


def last_tracking(store: Store, *, before: date | None = None) -> TrackingRow | None:
    """The latest tracking row (strictly before ``before`` if given)."""
    if not store.has_table("tracking"):
        return None
    sql = f"SELECT {_COLUMNS} FROM tracking"
    params: tuple[str, ...] = ()
    if before is not None:
        sql, params = sql + " WHERE session < ?", (before.isoformat(),)
    found = _rows(store.sql(sql + " ORDER BY session DESC LIMIT 1", params))
    return found[0] if found else None


def tracking_at(store: Store, session: date) -> TrackingRow | None:
    if not store.has_table("tracking"):
        return None
    sql = f"SELECT {_COLUMNS} FROM tracking WHERE session = ?"
    found = _rows(store.sql(sql, (session.isoformat(),)))
    return found[0] if found else None


def _rows(rows: list[Any]) -> list[TrackingRow]:
    return [
        TrackingRow(
            date.fromisoformat(r[0]),
            float(r[1]),
            float(r[2]),
            float(r[3]),
            float(r[4]),
            float(r[5]),
            float(r[6]),
            dict(zip(TERMS, (float(v) for v in r[7:]), strict=True)),
        )
        for r in rows
    ]


def tracking_for(store: Store, session: date) -> dict[str, Any] | None:
    """The ``tracking`` object of ``session_summary`` (None before go-live)."""
    row = tracking_at(store, session)
    return row.as_event() if row else None
