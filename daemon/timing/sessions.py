"""NYSE (XNYS) trading sessions: which days exist, their neighbours, and when they close.

A thin wrapper over exchange-calendars so the rest of the daemon speaks plain ``datetime.date``
and timezone-aware ``datetime`` and never a pandas ``Timestamp``. The calendar is built once
(it takes a few hundred milliseconds) and cached; building it is deferred to first use so that
importing this module does nothing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import pandas as pd

from shared.errors import DataError

CALENDAR_NAME = "XNYS"
# Far enough back for any research window the daemon may warm up from.
CALENDAR_START = "1990-01-01"


@lru_cache(maxsize=1)
def _calendar() -> Any:
    import exchange_calendars as xcals

    return xcals.get_calendar(CALENDAR_NAME, start=CALENDAR_START)


def _ts(d: date) -> pd.Timestamp:
    return pd.Timestamp(d.year, d.month, d.day)


def _check_bounds(d: date) -> None:
    cal = _calendar()
    first, last = cal.first_session.date(), cal.last_session.date()
    if not first - timedelta(days=7) <= d <= last + timedelta(days=7):
        raise DataError(
            f"{d.isoformat()} is outside the {CALENDAR_NAME} calendar's range "
            f"({first.isoformat()}..{last.isoformat()}); upgrade exchange-calendars",
            session=d.isoformat(),
        )


def is_session(d: date) -> bool:
    """True when NYSE trades on ``d`` (weekends and holidays are not sessions)."""
    _check_bounds(d)
    cal = _calendar()
    if not cal.first_session.date() <= d <= cal.last_session.date():
        return False
    return bool(cal.is_session(_ts(d)))


def xnys_sessions(start: date, end: date) -> list[date]:
    """Every session in ``start..end`` inclusive, ascending (empty when ``end < start``)."""
    if end < start:
        return []
    _check_bounds(start)
    _check_bounds(end)
    cal = _calendar()
    lo = max(start, cal.first_session.date())
    hi = min(end, cal.last_session.date())
    if hi < lo:
        return []
    return [ts.date() for ts in cal.sessions_in_range(_ts(lo), _ts(hi))]


def previous_session(d: date) -> date:
    """The last session strictly before ``d`` (``d`` itself need not be a session)."""
    _check_bounds(d)
    ts = _calendar().date_to_session(_ts(d) - pd.Timedelta(days=1), direction="previous")
    return ts.date()


def next_session(d: date) -> date:
    """The first session strictly after ``d`` (``d`` itself need not be a session)."""
    _check_bounds(d)
    ts = _calendar().date_to_session(_ts(d) + pd.Timedelta(days=1), direction="next")
    return ts.date()


def session_close(d: date) -> datetime:
    """The session's closing time, timezone-aware (UTC); early closes (13:00 ET) included."""
    if not is_session(d):
        raise DataError(f"{d.isoformat()} is not an NYSE session", session=d.isoformat())
    ts = _calendar().session_close(_ts(d))
    return ts.to_pydatetime()


def session_open(d: date) -> datetime:
    """The session's opening time, timezone-aware (UTC)."""
    if not is_session(d):
        raise DataError(f"{d.isoformat()} is not an NYSE session", session=d.isoformat())
    ts = _calendar().session_open(_ts(d))
    return ts.to_pydatetime()


def is_early_close(d: date) -> bool:
    """True when the session closes early (e.g. the day after Thanksgiving, Christmas Eve)."""
    if not is_session(d):
        return False
    return bool(_ts(d) in _calendar().early_closes)
