"""A feed that stops growing must be loud, not a quiet ``nothing_due``.

For a CSV feed whose dates are its sessions (``data.calendar_check`` off), the scheduler only
sees the file's dates: once the file stops growing nothing is ever due again, whatever the real
calendar says. This check compares the file's latest date with the latest NYSE session that is
due by now; when the file is behind, every scheduler tick logs a ``stale_feed`` error and the
store's ``feed_stale`` note (shown by ``pairs-daemon status``) is set until a session completes.
(Feeds on the XNYS calendar need no such check: their due sessions run and fail with a
``stale_feed`` error of their own.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime

from daemon.core.ports import EventLog
from daemon.feeds.reports import STALE_META
from daemon.monitoring.alerts import AlertCode, raise_alert
from daemon.store import Store
from daemon.timing.calendar import CatchUpPolicy, XnysCalendar, latest_due_session


def stale_feed_check(
    feed_dates: Callable[[], Sequence[date]],
    policy: CatchUpPolicy,
    store: Store,
    log: EventLog | None = None,
) -> Callable[[datetime], str | None]:
    """``check(now)``: why the feed is stale (noted in the store, and a ``stale_feed`` alert when
    ``log`` is given), or None."""

    def check(now: datetime) -> str | None:
        due = latest_due_session(now, XnysCalendar(), policy)
        dates = feed_dates()
        latest = max(dates) if dates else None
        if due is None or (latest is not None and latest >= due):
            return None
        message = (
            f"the feed has no bar for session {due} (its latest is {latest}); sessions are "
            "due but nothing can run. Check that the price file is being updated"
        )
        with store.transaction():
            store.set_meta(STALE_META, _note(due, message, now))
        if log is not None:
            raise_alert(store, log, AlertCode.STALE_FEED, message, session=due, now=now.isoformat())
        return message

    return check


def _note(due: date, message: str, now: datetime) -> str:
    import json

    return json.dumps({"session": due.isoformat(), "error": message, "at": now.isoformat()})
