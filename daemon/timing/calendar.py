"""Which sessions exist and which are due: the NYSE (or a feed's) calendar and the catch-up
policy. Pure: the clock is an argument. The APScheduler job that asks these questions is
:mod:`daemon.commands.scheduler`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from daemon.core.statuses import RunStatus
from daemon.timing import sessions
from shared.errors import ConfigError

EXCHANGE_TZ = ZoneInfo("America/New_York")

# How far back to look for the latest closed session: longer than any NYSE closure (the
# longest since 1990 was 4 weekdays after 9/11, plus weekends).
_LOOKBACK = timedelta(days=14)


class Calendar(Protocol):
    def sessions(self, start: date, end: date) -> list[date]: ...

    def close(self, session: date) -> datetime: ...


class XnysCalendar:
    """The NYSE calendar from :mod:`daemon.timing.sessions`."""

    def sessions(self, start: date, end: date) -> list[date]:
        return sessions.xnys_sessions(start, end)

    def close(self, session: date) -> datetime:
        return sessions.session_close(session)


class FeedCalendar:
    """Sessions are the dates a feed has (a CSV with ``data.calendar_check`` off, e.g.
    synthetic business days), each closing at 16:00 New York time. ``run_once`` treats the
    feed's dates as the sessions in that mode, so the scheduler must too, or a date the feed has
    but NYSE lacks would block every later session. Re-read on each call: the file may grow."""

    def __init__(self, dates: Callable[[], Sequence[date]]) -> None:
        self._dates = dates

    def sessions(self, start: date, end: date) -> list[date]:
        return sorted(d for d in self._dates() if start <= d <= end)

    def close(self, session: date) -> datetime:
        return datetime.combine(session, time(16, 0), tzinfo=EXCHANGE_TZ)


@dataclass(frozen=True, slots=True)
class CatchUpPolicy:
    """Which sessions are due, and how many a fire may catch up.

    A session is due once its close (early closes included) plus ``delay_after_close`` has
    passed *and* the clock in ``zone`` reads ``earliest_local_time`` on that day (the daily
    run time): a market-on-close order for the next session is only accepted after 19:00 ET,
    so a run between the close and then would have nothing useful to submit. ``max_catch_up``
    counts *missed* sessions: the due sessions before the latest one.
    """

    max_catch_up: int = 5
    earliest_local_time: time = time(19, 15)
    zone: ZoneInfo = EXCHANGE_TZ
    delay_after_close: timedelta = timedelta(0)
    max_attempts: int = 3
    # run_once's statuses that mean the session is done (or was already done).
    ok_statuses: frozenset[str] = frozenset(
        {RunStatus.COMPLETED, RunStatus.ALREADY_DONE, RunStatus.SKIPPED}
    )

    def __post_init__(self) -> None:
        if self.max_catch_up < 0:
            raise ConfigError(
                f"must not be negative, got {self.max_catch_up}",
                key="schedule.max_catch_up_sessions",
            )
        if self.delay_after_close < timedelta(0):
            raise ConfigError("must not be negative", key="delay_after_close")
        if self.max_attempts < 1:
            raise ConfigError("must be at least 1", key="schedule.max_attempts")

    def ready_at(self, session: date, close: datetime) -> datetime:
        local = datetime.combine(session, self.earliest_local_time, tzinfo=self.zone)
        return max(close + self.delay_after_close, local)


def latest_due_session(now: datetime, calendar: Calendar, policy: CatchUpPolicy) -> date | None:
    """The most recent session that is ready to run at ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    today = now.astimezone(EXCHANGE_TZ).date()
    for session in reversed(calendar.sessions(today - _LOOKBACK, today)):
        if policy.ready_at(session, calendar.close(session)) <= now:
            return session
    return None


def due_sessions(
    now: datetime, last_completed: date | None, calendar: Calendar, policy: CatchUpPolicy
) -> list[date]:
    """Sessions to run, oldest first. A fresh store starts at the latest due session: the
    cycle warms the strategy up from the config's bars, it does not replay history."""
    latest = latest_due_session(now, calendar, policy)
    if latest is None:
        return []
    if last_completed is None:
        return [latest]
    if last_completed >= latest:
        return []
    return calendar.sessions(last_completed + timedelta(days=1), latest)
