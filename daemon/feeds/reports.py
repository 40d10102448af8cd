"""What the cycle says about the feed: revisions of stored bars, refused bars, a stale feed.

Event names are stable so an alert layer can map them:

* ``bars_revised`` (warning): the feed restated stored bars beyond the tolerance, or filled in
  a session the daemon had moved past. Logged once per (symbol, session, value); the strategy
  keeps trading on the stored history; ``pairs-daemon rewarm`` switches to the corrected one.
* ``bar_refused`` (error): a bad print was refused before anything was stored.
* ``stale_feed`` (error): no bar for a due session; also kept in the store's ``feed_stale``
  meta key for ``pairs-daemon status`` until a session completes.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from typing import Any

from daemon.core.errors import BarRefused, StaleFeed
from daemon.core.ports import EventLog
from daemon.feeds.bars import BarUpdate
from daemon.feeds.revisions import describe_sessions
from daemon.feeds.sanity import BAR_REFUSED_EVENT, STALE_FEED_EVENT
from daemon.store import RevisionRecord, Store

REVISED_EVENT = "bars_revised"
STALE_META = "feed_stale"
REWARM_META = "rewarm_pending"
_REWARM_NOTE = (
    "the strategy keeps trading on the stored history it decided on; to re-warm it on the "
    "corrected history, stop the service and run `pairs-daemon rewarm`"
)


def _new_revisions(store: Store, update: BarUpdate, tolerance: float) -> list[RevisionRecord]:
    known = {(r.symbol, r.session): r for r in store.revisions()}
    found: list[RevisionRecord] = []
    for symbol, comparison in update.restated.items():
        for session, (stored, fresh) in comparison.restated.items():
            old = known.get((symbol, session))
            if old is None or old.fresh is None or abs(old.fresh / fresh - 1.0) > tolerance:
                found.append(RevisionRecord(symbol, session, "restated", stored, fresh))
    for session in update.late_filled:
        if ("*", session) not in known:
            found.append(RevisionRecord("*", session, "filled_late", None, None))
    return found


def record_revisions(
    store: Store, update: BarUpdate, tolerance: float, now: str
) -> list[RevisionRecord]:
    """Store the revisions not seen before (inside the caller's transaction); return them."""
    found = _new_revisions(store, update, tolerance)
    for row in found:
        store.record_revision(row, now)
    return found


def log_revisions(log: EventLog, update: BarUpdate, found: list[RevisionRecord]) -> None:
    by_symbol: dict[str, list[RevisionRecord]] = {}
    for row in found:
        by_symbol.setdefault(row.symbol, []).append(row)
    for symbol, rows in by_symbol.items():
        sessions = sorted(r.session for r in rows)
        if symbol == "*":
            log.warning(
                REVISED_EVENT,
                kind="filled_late",
                sessions=[d.isoformat() for d in sessions],
                count=len(sessions),
                note=f"the feed now has sessions {describe_sessions(sessions)}, which it "
                f"lacked when the daemon moved past them; {_REWARM_NOTE}",
            )
            continue
        sizes = [abs(r.fresh / r.stored - 1.0) for r in rows if r.fresh and r.stored]
        comparison = update.comparisons.get(symbol)
        log.warning(
            REVISED_EVENT,
            kind="restated",
            symbol=symbol,
            sessions=[d.isoformat() for d in sessions],
            count=len(sessions),
            max_relative_change=max(sizes, default=0.0),
            changes={r.session.isoformat(): [r.stored, r.fresh] for r in rows[:10]},
            factor=comparison.factor if comparison else 1.0,
            note=f"the feed restated {symbol} on {describe_sessions(sessions)} beyond the "
            f"noise tolerance; {_REWARM_NOTE}",
        )


def log_feed_problem(log: EventLog, exc: Exception) -> None:
    """The typed data errors get an event of their own (besides ``session_failed``)."""
    fields = {"symbol": getattr(exc, "symbol", None), "bar_session": getattr(exc, "session", None)}
    if isinstance(exc, StaleFeed):
        log.error(STALE_FEED_EVENT, error=str(exc), **fields)
    elif isinstance(exc, BarRefused):
        log.error(BAR_REFUSED_EVENT, error=str(exc), **fields)


def is_feed_problem(exc: Exception) -> bool:
    return isinstance(exc, StaleFeed | BarRefused)


def note_feed_health(store: Store, session: date, exc: Exception | None, now: str) -> None:
    """Keep (or clear) the stale-feed note ``status`` shows; inside the caller's transaction."""
    if isinstance(exc, StaleFeed):
        store.set_meta(
            STALE_META, json.dumps({"session": session.isoformat(), "error": str(exc), "at": now})
        )
    elif exc is None and store.get_meta(STALE_META):
        store.set_meta(STALE_META, "")


def feed_report(store: Store) -> dict[str, Any]:
    """The feed's health for ``status``: a stale feed, and revisions not yet re-warmed."""
    text = store.get_meta(STALE_META)
    try:
        revisions = store.revisions()
    except sqlite3.OperationalError:  # a store from before revisions were recorded
        revisions = []
    return {
        "feed_stale": json.loads(text) if text else None,
        "revisions": [
            {"symbol": r.symbol, "session": r.session.isoformat(), "kind": r.kind}
            for r in revisions
        ],
    }
