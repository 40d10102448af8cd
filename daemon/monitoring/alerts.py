"""Alerts: one ``alert`` log event with a severity and a stable code, also stored.

Raising one is a single call wherever a condition is detected::

    raise_alert(ctx.store, log, AlertCode.STALE_FEED, "no bar for SPY on 2025-03-14", session=d)

The event is logged at the severity's level (so under systemd the journal entry gets the
matching priority and ``journalctl -p warning`` lists it) and written to the store's ``alerts``
table, where ``pairs-daemon check`` and ``report`` find the open ones. A completed session
resolves the open alerts whose condition has cleared; one that still holds (kill switch,
tracking beyond its threshold) is raised again, which updates its open row (one open alert per
code) and logs the event again, so the journal keeps saying it every session.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from daemon.core.errors import FeedNotAdjusted, StaleFeed
from daemon.core.ports import EventLog
from daemon.store import Store
from shared.errors import DataError


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class AlertCode(StrEnum):
    """Stable codes: dashboards and alert rules match on these strings."""

    SESSION_FAILED = "session_failed"
    SESSION_DEFERRED = "session_deferred"
    TRADING_HALTED = "trading_halted"
    TRACKING_DIFFERENCE = "tracking_difference"
    STALE_FEED = "stale_feed"
    MISSING_LEG = "missing_leg"
    LEG_DELISTED = "leg_delisted"
    RECONCILE_MISMATCH = "reconcile_mismatch"
    CORPORATE_ACTION_MISMATCH = "corporate_action_mismatch"
    CORPORATE_ACTIONS_UNAVAILABLE = "corporate_actions_unavailable"
    PAIR_UNBALANCED = "pair_unbalanced"
    UNACCOUNTED_POSITION = "unaccounted_position"
    SPLIT_NOT_BOOKED = "split_not_booked"
    PAIR_DEGRADED = "pair_degraded"

    @property
    def default_severity(self) -> Severity:
        critical = (
            AlertCode.SESSION_FAILED,
            AlertCode.RECONCILE_MISMATCH,
            AlertCode.LEG_DELISTED,
            AlertCode.PAIR_UNBALANCED,
            AlertCode.UNACCOUNTED_POSITION,
        )
        return Severity.CRITICAL if self in critical else Severity.WARNING


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    code: str
    severity: str
    session: date | None
    message: str
    raised_at: str
    resolved_at: str | None


def raise_alert(
    store: Store | None,
    log: EventLog,
    code: AlertCode,
    message: str,
    *,
    session: date | None = None,
    severity: Severity | None = None,
    now: str | None = None,
    **fields: Any,
) -> None:
    """Log the ``alert`` event and store it. Never raises: an alert must not turn a handled
    failure into a crash (a store that cannot be written is said in the event)."""
    level = severity or code.default_severity
    stored = _store(store, code, level, message, session, now)
    emit = log.critical if level is Severity.CRITICAL else log.warning
    extra = {} if session is None else {"session": session.isoformat()}
    emit(
        "alert",
        code=code.value,
        severity=level.value,
        message=message,
        **({} if stored else {"stored": False}),
        **extra,
        **fields,
    )


def _store(
    store: Store | None,
    code: AlertCode,
    level: Severity,
    message: str,
    session: date | None,
    now: str | None,
) -> bool:
    if store is None:
        return False
    raised_at = now or datetime.now(UTC).isoformat()
    day = None if session is None else session.isoformat()
    try:
        if not store.has_table("alerts"):
            return False
        with store.transaction():
            # One open alert per code: a condition that persists updates it, not a new row.
            ongoing = store.sql(
                "SELECT id FROM alerts WHERE code = ? AND resolved_at IS NULL", (code.value,)
            )
            if ongoing:
                store.sql(
                    "UPDATE alerts SET severity = ?, session = ?, message = ? WHERE id = ?",
                    (level.value, day, message, ongoing[0][0]),
                )
                return True
            store.sql(
                "INSERT INTO alerts (code, severity, session, message, raised_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (code.value, level.value, day, message, raised_at),
            )
    except sqlite3.Error:
        return False
    return True


def cause_codes(exc: BaseException) -> list[AlertCode]:
    """The specific alerts a failed session's error stands for, beside ``session_failed``: a
    :class:`StaleFeed`, or bar validation naming "a missing leg" (daemon/feeds/bars.py)."""
    if not isinstance(exc, DataError):
        return []
    text = str(exc)
    codes = []
    if isinstance(exc, StaleFeed):
        codes.append(AlertCode.STALE_FEED)
    if "missing leg" in text:
        codes.append(AlertCode.MISSING_LEG)
    if isinstance(exc, FeedNotAdjusted):
        codes.append(AlertCode.CORPORATE_ACTION_MISMATCH)
    return codes


def alert_failure(
    store: Store | None,
    log: EventLog,
    exc: BaseException,
    session: date,
    message: str | None = None,
) -> None:
    """A failed session: its specific alerts (stale feed, missing leg), then session_failed."""
    symbol = getattr(exc, "symbol", None)
    extra = {} if symbol is None else {"symbol": symbol}
    for code in cause_codes(exc):
        raise_alert(store, log, code, str(exc), session=session, **extra)
    raise_alert(store, log, AlertCode.SESSION_FAILED, message or str(exc), session=session)


def resolve_alerts(store: Store, resolved_at: str, keep: Iterable[AlertCode] = ()) -> int:
    """Close every open alert except those whose code is in ``keep`` (conditions that still
    hold); call inside a transaction. Returns how many were closed."""
    kept = [c.value for c in keep]
    sql = "SELECT id FROM alerts WHERE resolved_at IS NULL"
    if kept:
        sql += f" AND code NOT IN ({', '.join('?' * len(kept))})"
    ids = [r[0] for r in store.sql(sql, kept)]
    for alert_id in ids:
        store.sql("UPDATE alerts SET resolved_at = ? WHERE id = ?", (resolved_at, alert_id))
    return len(ids)


def alerts(store: Store, *, open_only: bool = False) -> list[Alert]:
    if not store.has_table("alerts"):
        return []
    sql = "SELECT id, code, severity, session, message, raised_at, resolved_at FROM alerts"
    if open_only:
        sql += " WHERE resolved_at IS NULL"
    rows: list[Any] = []
    with contextlib.suppress(sqlite3.Error):
        rows = store.sql(sql + " ORDER BY id")
    return [
        Alert(r[0], r[1], r[2], None if r[3] is None else date.fromisoformat(r[3]), *r[4:])
        for r in rows
    ]


HELD_META = "held_alerts"


def hold_alert(store: Store, session: date, code: AlertCode) -> None:
    """Keep ``code`` open through this session's completion: the condition was found by a step
    of the cycle (an unbalanced pair, a position no pair accounts for), and a resumed run that
    skips that step must still hold it. Call inside a transaction."""
    codes = set(held_alerts(store, session)) | {code}
    store.set_meta(HELD_META, json.dumps({"session": session.isoformat(), "codes": sorted(codes)}))


def held_alerts(store: Store, session: date) -> list[AlertCode]:
    raw = store.get_meta(HELD_META)
    if not raw:
        return []
    data = json.loads(raw)
    if data.get("session") != session.isoformat():
        return []
    return [AlertCode(c) for c in data.get("codes", [])]
