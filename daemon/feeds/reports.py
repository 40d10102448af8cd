"""What the cycle says about the feed: revisions of stored bars, refused bars, a stale feed,
a fresh history that is not the stored one.

Event names are stable so an alert layer can map them:

* ``bars_revised`` (warning): the feed restated stored bars beyond the tolerance
  (``kind=restated``), changed its factor fresh/stored inside the stored history
  (``factor_changed``: the session and both factors), filled in a session the daemon had moved
  past (``filled_late``) or no longer has a stored session (``dropped``). Logged once per
  finding (restated bars once per (symbol, session, value)); the strategy keeps trading on the
  stored history; ``pairs-daemon rewarm`` switches to the corrected one.
* ``bar_refused`` (error): a bad print was refused before anything was stored; also
  (warning) rows a feed has dated after the clock's today.
* ``history_mismatch`` (error): the fresh history is not the stored one re-adjusted (a shift,
  another series); nothing stored or traded, retried like a bad print.
* ``stale_feed`` (error): no bar for a due session; also kept in the store's ``feed_stale``
  meta key for ``pairs-daemon status`` until a session completes.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from daemon.core.errors import BarRefused, HistoryMismatch, StaleFeed
from daemon.core.ports import EventLog
from daemon.feeds.bars import BarUpdate
from daemon.feeds.revisions import FactorChange, describe_sessions
from daemon.feeds.sanity import BAR_REFUSED_EVENT, STALE_FEED_EVENT
from daemon.store import RevisionRecord, Store

REVISED_EVENT = "bars_revised"
HISTORY_MISMATCH_EVENT = "history_mismatch"
STALE_META = "feed_stale"
REWARM_META = "rewarm_pending"
# The factor changes and dropped sessions the feed shows now (JSON): what was logged already,
# and what ``status`` lists. Rewritten with every stored session.
NOTES_META = "feed_notes"
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


@dataclass(frozen=True, slots=True)
class FoundRevisions:
    """What a stored session found in the feed that it had not reported before."""

    rows: list[RevisionRecord] = field(default_factory=list)  # restated, filled late
    changes: dict[str, list[FactorChange]] = field(default_factory=dict)
    dropped: list[date] = field(default_factory=list)


def _notes(store: Store) -> dict[str, Any]:
    text = store.get_meta(NOTES_META)
    return json.loads(text) if text else {}


def _new_notes(
    store: Store, update: BarUpdate, tolerance: float
) -> tuple[dict[str, Any], dict[str, list[FactorChange]], list[date]]:
    """The notes the feed shows now, and the factor changes and dropped sessions among them
    that the previous notes did not hold. A change is the same one while its step (after /
    before) is: a later re-adjustment of the whole history moves both factors, not the step."""
    before = _notes(store)
    seen = {
        (symbol, row[0]): row[2] / row[1]
        for symbol, rows in before.get("factor_changes", {}).items()
        for row in rows
    }
    changes: dict[str, list[FactorChange]] = {}
    for symbol, comparison in update.comparisons.items():
        for change in comparison.changes:
            old = seen.get((symbol, change.session.isoformat()))
            step = change.after / change.before
            if old is None or abs(step / old - 1.0) > 2 * tolerance:
                changes.setdefault(symbol, []).append(change)
    known = set(before.get("dropped", []))
    dropped = [d for d in update.dropped if d.isoformat() not in known]
    notes = {
        "factor_changes": {
            symbol: [[c.session.isoformat(), c.before, c.after] for c in comparison.changes]
            for symbol, comparison in update.comparisons.items()
            if comparison.changes
        },
        "dropped": [d.isoformat() for d in update.dropped],
    }
    return notes, changes, dropped


def record_revisions(store: Store, update: BarUpdate, tolerance: float, now: str) -> FoundRevisions:
    """Store the revisions not seen before (inside the caller's transaction); return them."""
    found = _new_revisions(store, update, tolerance)
    for row in found:
        store.record_revision(row, now)
    notes, changes, dropped = _new_notes(store, update, tolerance)
    if notes != _notes(store) and (store.get_meta(NOTES_META) or any(notes.values())):
        store.set_meta(NOTES_META, json.dumps(notes))
    return FoundRevisions(found, changes, dropped)


def log_revisions(log: EventLog, update: BarUpdate, found: FoundRevisions) -> None:
    for symbol, changes in found.changes.items():
        first, factor = changes[0], update.comparisons[symbol].factor
        log.warning(
            REVISED_EVENT,
            kind="factor_changed",
            symbol=symbol,
            sessions=[c.session.isoformat() for c in changes],
            count=len(changes),
            changes={c.session.isoformat(): [c.before, c.after] for c in changes},
            factor=factor,
            note=f"the feed's factor fresh/stored for {symbol} changes on "
            f"{first.session}: {first.before:.6g} before, {first.after:.6g} from it on "
            f"({first.step:+.3%}; an adjustment the vendor fixed?)"
            + (f" and on {len(changes) - 1} more session(s)" if len(changes) > 1 else "")
            + f"; new bars are put on the stored scale with {factor:.6g}, the factor at the end "
            f"of the stored history; {_REWARM_NOTE}",
        )
    if found.dropped:
        log.warning(
            REVISED_EVENT,
            kind="dropped",
            sessions=[d.isoformat() for d in found.dropped],
            count=len(found.dropped),
            note=f"the feed no longer has the stored sessions "
            f"{describe_sessions(found.dropped)}; the stored bars are kept and the strategy "
            "trades on them. Check the feed: a `pairs-daemon rewarm` needs every session",
        )
    by_symbol: dict[str, list[RevisionRecord]] = {}
    for row in found.rows:
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
    elif isinstance(exc, HistoryMismatch):
        log.error(HISTORY_MISMATCH_EVENT, error=str(exc), **fields)


def is_feed_problem(exc: Exception) -> bool:
    """Conditions that heal when the feed is fixed: retried, never halted on."""
    return isinstance(exc, StaleFeed | BarRefused | HistoryMismatch)


def note_feed_health(store: Store, session: date, exc: Exception | None, now: str) -> None:
    """Keep (or clear) the stale-feed note ``status`` shows; inside the caller's transaction."""
    if isinstance(exc, StaleFeed):
        store.set_meta(
            STALE_META, json.dumps({"session": session.isoformat(), "error": str(exc), "at": now})
        )
    elif exc is None and store.get_meta(STALE_META):
        store.set_meta(STALE_META, "")


def feed_report(store: Store) -> dict[str, Any]:
    """The feed's health for ``status``: a stale feed, and revisions not yet re-warmed (the
    factor changes and dropped sessions the feed showed at the last stored session; none right
    after a rewarm, which replaced the history they were found on)."""
    text = store.get_meta(STALE_META)
    try:
        revisions = store.revisions()
    except sqlite3.OperationalError:  # a store from before revisions were recorded
        revisions = []
    rows = [
        {"symbol": r.symbol, "session": r.session.isoformat(), "kind": r.kind} for r in revisions
    ]
    notes = {} if store.get_meta(REWARM_META) else _notes(store)
    for symbol, changes in notes.get("factor_changes", {}).items():
        rows += [{"symbol": symbol, "session": c[0], "kind": "factor_changed"} for c in changes]
    rows += [{"symbol": "*", "session": d, "kind": "dropped"} for d in notes.get("dropped", [])]
    return {
        "feed_stale": json.loads(text) if text else None,
        "revisions": sorted(rows, key=lambda r: (r["session"], r["symbol"])),
    }
