"""The daemon's own exception types.

The errors derive from :class:`shared.errors.PairsError`, so a caller that only wants "our
error, with a message meant for an operator" catches that. The whole tree of the project's
errors (shared, research and daemon) is ``docs/errors.md``, generated from the classes
(``python -m tests.docs_gen``) and checked by ``tests/unit/test_docs_errors.py``.

:class:`SessionDeferred` is not an error: it is how a step says "not now, at ``resume_at``".
"""

from __future__ import annotations

from datetime import datetime

from shared.errors import BrokerError, DataError


class BarRefused(DataError):
    """A delivered bar is implausible (non-finite, non-positive, a huge one-day move, dated
    after the clock's today); nothing was stored or traded."""


class FeedNotAdjusted(BarRefused):
    """A live feed's bars do not show a split the daemon knows of yet (the broker booked it,
    the feed adjusts later): storing them would put the split's jump into the history."""


class StaleFeed(DataError):
    """The feed has no bar for a session that is due."""


class HistoryMismatch(DataError):
    """The feed's fresh history for a symbol is not the stored one re-adjusted: one factor per
    re-adjustment plus a few restated bars cannot explain it (every close a session late,
    another series under the ticker). Nothing was stored or traded; like a bad print it heals
    when the feed is fixed, or when an operator accepts the feed's history (``rewarm``)."""


class EventsFileError(DataError):
    """The operator's events file is wrong (unreadable, a bad line): the session stops with the
    file, line and column to fix, instead of going on without the operator's events."""


class OrderRejected(BrokerError):
    """The broker refused this one order on its merits (buying power, not shortable, market
    hours). A final answer for the intent, like a margin rejection in the backtest: the daemon
    records it and trades the rest of the session. Brokers raise a subclass of it."""


class SessionDeferred(Exception):
    """Not now: the session resumes at ``resume_at`` (broker time). Not a failure."""

    def __init__(self, message: str, *, resume_at: datetime, reason: str) -> None:
        super().__init__(message)
        self.resume_at = resume_at
        self.reason = reason
