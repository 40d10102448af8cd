"""When Alpaca takes an order, and at which session's auction it fills (docs/operations.md,
"Execution styles" and "Order windows (Alpaca)").

Pure rules over the broker's clock and calendar, all in New York time:

* ``cls`` (market-on-close) is refused from 10 minutes before a session's close (15:50 on a
  normal day) until 19:00; from 19:00 it queues for the *next* session's close. Sent before the
  cut-off on a session day, it fills at that day's close.
* ``opg`` (market-on-open) is refused 9:28-19:00 on a session day; otherwise it queues for the
  next session's opening auction.
* ``day`` is always taken: during a session it trades at once, outside it queues for the next
  open.

The daemon treats a window as closed one minute before Alpaca does (``EDGE_MARGIN``), so an
order sent on the edge is deferred rather than rejected.

A session's bars are final once its close plus the feed's delay has passed: the free plan's SIP
data stops 15 minutes before now, so a daily bar read earlier would carry an intraday price, not
the official close.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from daemon.core.ports import TimeInForce

NEW_YORK = ZoneInfo("America/New_York")
# Alpaca queues cls/opg orders sent after this time for the next session.
EVENING_OPEN = time(19, 0)
CLS_CUTOFF_BEFORE_CLOSE = timedelta(minutes=10)
OPG_CUTOFF = time(9, 28)
# The daemon stops sending this long before a cut-off: an order read as in time on the broker's
# clock must still be in time when it arrives, or Alpaca rejects it outright.
EDGE_MARGIN = timedelta(minutes=1)
# Closing-auction prints reach the consolidated tape a little after the bell.
CLOSE_SETTLE = timedelta(minutes=1)


class SessionTimes(Protocol):
    """One trading day as the broker's calendar has it (timezone-aware open and close)."""

    @property
    def session(self) -> date: ...

    @property
    def open(self) -> datetime: ...

    @property
    def close(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class Window:
    """Whether an order with this time in force is taken now, and what follows from it."""

    tif: TimeInForce
    now: datetime
    is_open: bool
    # Closed: when it opens again. Open: None.
    opens_at: datetime | None
    # The session whose auction (or continuous market, for day) fills an order sent now, or
    # sent at ``opens_at`` when closed; None when the calendar given does not reach it.
    fill_session: date | None

    def describe(self) -> str:
        if self.is_open:
            return f"{self.tif.value} orders are taken now; they fill on {self.fill_session}"
        assert self.opens_at is not None
        return (
            f"Alpaca refuses {self.tif.value} orders at {_ny(self.now)}; they are taken again "
            f"from {_ny(self.opens_at)} (New York) and then fill on {self.fill_session}"
        )


def _ny(moment: datetime) -> str:
    return moment.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M")


def _at(day: date, clock_time: time) -> datetime:
    return datetime.combine(day, clock_time, tzinfo=NEW_YORK)


def _cutoff(tif: TimeInForce, day: SessionTimes) -> datetime:
    """The last moment an order sent that day still fills on that day."""
    if tif is TimeInForce.CLS:
        return day.close - CLS_CUTOFF_BEFORE_CLOSE
    if tif is TimeInForce.OPG:
        return _at(day.session, OPG_CUTOFF)
    return day.close


def fill_session(tif: TimeInForce, sent_at: datetime, days: Sequence[SessionTimes]) -> date | None:
    """The session that fills an order taken at ``sent_at``: the first whose cut-off is later.
    (A cls/opg order sent in the refused band never reaches this question.)"""
    for day in sorted(days, key=lambda d: d.session):
        if sent_at < _cutoff(tif, day):
            return day.session
    return None


def window(tif: TimeInForce, now: datetime, days: Sequence[SessionTimes]) -> Window:
    """Is ``tif`` taken at ``now``? ``days`` must cover today and the next sessions."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(NEW_YORK).date()
    session_today = next((d for d in days if d.session == today), None)
    if tif is not TimeInForce.DAY and session_today is not None:
        refused_from = _cutoff(tif, session_today) - EDGE_MARGIN
        reopens = _at(today, EVENING_OPEN)
        if refused_from <= now < reopens:
            return Window(tif, now, False, reopens, fill_session(tif, reopens, days))
    return Window(tif, now, True, None, fill_session(tif, now, days))


def bars_final_at(close: datetime, data_delay: timedelta) -> datetime:
    """When a session's daily bar carries its official close on a feed ``data_delay`` behind."""
    return close + data_delay + CLOSE_SETTLE


def sessions_late(fill: date | None, intended: date, days: Sequence[SessionTimes]) -> int | None:
    """How many sessions after ``intended`` (the backtest's fill session) ``fill`` is."""
    if fill is None:
        return None
    ordered = sorted(d.session for d in days)
    if fill not in ordered or intended not in ordered:
        return None
    return ordered.index(fill) - ordered.index(intended)
