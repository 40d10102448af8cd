"""When the daemon runs: the catch-up job and its APScheduler cron trigger (thin). Which
sessions exist and are due is :mod:`daemon.timing.calendar`.

The cron trigger only says *when to look*; the XNYS calendar says *what to run*. Each fire asks
the store for the last completed session, works out every session whose close has passed since
then, and runs them in order through ``run_session`` (``run_once``), so a weekend, a holiday, a
DST change, an early close or a day of downtime all reduce to the same question. ``run_once``
is idempotent, so a duplicated fire finds nothing left to do.

Catch-up refuses, with an event saying why and what to do, when it would be unsafe: more
sessions missed than ``max_catch_up`` (a long outage deserves a person's look at the account
before the daemon trades its way through it), or a session that keeps failing (``max_attempts``
in a row: late data heals by itself, a broker/store mismatch does not), after which the job
halts until an operator restarts the service. A failed session always stops the chain: later
sessions never run before an earlier one completed.

A *deferred* session (``run_once`` found the broker's order window for the time in force
closed, or the session's bars not final yet) also stops the chain, without counting as a
failure: the report carries ``resume_at`` and the service fires again then.
"""

from __future__ import annotations

import threading
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from daemon.core.ports import Clock, EventLog
from daemon.core.statuses import RunStatus
from daemon.timing.calendar import Calendar, CatchUpPolicy, XnysCalendar, due_sessions
from shared.errors import ConfigError

JOB_ID = "session-cycle"


class RunOutcome(Protocol):
    """What the job needs from ``run_once``'s result."""

    @property
    def status(self) -> Any: ...

    @property
    def message(self) -> str: ...


class TickStatus(StrEnum):
    IDLE = "idle"  # nothing due
    RAN = "ran"  # every due session ran successfully
    FAILED = "failed"  # a session failed; later ones were not attempted (retry later)
    REFUSED = "refused"  # catch-up would be unsafe; nothing ran
    HALTED = "halted"  # a session failed max_attempts times in a row; needs an operator
    BUSY = "busy"  # another tick is running (the startup catch-up and a fire overlapped)
    STOPPED = "stopped"  # shutdown was requested between sessions
    DEFERRED = "deferred"  # a session waits for the broker's window; resume at resume_at


@dataclass(frozen=True, slots=True)
class TickReport:
    status: TickStatus
    due: tuple[date, ...] = ()
    ran: tuple[date, ...] = ()
    message: str = ""
    resume_at: datetime | None = None


def _status_name(status: Any) -> str:
    return str(getattr(status, "value", status)).lower()


@dataclass
class SessionJob:
    """One scheduler fire: plan the due sessions and run them in order.

    Thread-safe: a non-blocking lock makes overlapping ticks (the startup catch-up and a cron
    fire) return ``BUSY`` instead of running a session twice at the same time.
    """

    run_session: Callable[[date], RunOutcome]
    last_completed: Callable[[], date | None]
    clock: Clock
    log: EventLog
    policy: CatchUpPolicy = field(default_factory=CatchUpPolicy)
    calendar: Calendar = field(default_factory=XnysCalendar)
    should_stop: Callable[[], bool] = lambda: False
    # Why the feed is stale at ``now`` (None: it is not); see daemon.monitoring.staleness.
    stale_check: Callable[[datetime], str | None] | None = None
    halted_reason: str | None = None
    failures: dict[date, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _started: float | None = field(default=None, init=False, repr=False)

    def running_for(self) -> float | None:
        """Seconds the current tick has been running (None when idle); the watchdog uses it."""
        started = self._started
        return None if started is None else _time.monotonic() - started

    def tick(self) -> TickReport:
        if not self._lock.acquire(blocking=False):
            self.log.warning("schedule_tick_overlap", reason="another tick is still running")
            return TickReport(TickStatus.BUSY, message="another tick is still running")
        self._started = _time.monotonic()
        try:
            return self._tick()
        finally:
            self._started = None
            self._lock.release()

    def _tick(self) -> TickReport:
        now = self.clock.now()
        if self.halted_reason is not None:
            self.log.error("catch_up_halted", now=now.isoformat(), reason=self.halted_reason)
            return TickReport(TickStatus.HALTED, message=self.halted_reason)
        last = self.last_completed()
        due = due_sessions(now, last, self.calendar, self.policy)
        fields = {"now": now.isoformat(), "last_completed": _iso(last), "due": _isos(due)}
        if not due:
            stale = self.stale_check(now) if self.stale_check is not None else None
            if stale is not None:
                self.log.error("stale_feed", reason=stale, **fields)
                return TickReport(TickStatus.IDLE, message=stale)
            self.log.info("schedule_tick", action="nothing_due", **fields)
            return TickReport(TickStatus.IDLE)
        if len(due) - 1 > self.policy.max_catch_up:
            message = self._too_many_missed(last, due)
            self.log.error("catch_up_refused", reason=message, **fields)
            return TickReport(TickStatus.REFUSED, due=tuple(due), message=message)
        self.log.info("schedule_tick", action="run", **fields)
        return self._run_in_order(due)

    def _run_in_order(self, due: Sequence[date]) -> TickReport:
        ran: list[date] = []
        for session in due:
            if self.should_stop():
                self.log.warning("catch_up_interrupted", session=session.isoformat())
                return TickReport(TickStatus.STOPPED, tuple(due), tuple(ran), "shutdown")
            status, message, heals, resume_at = self._run_one(session)
            if status in self.policy.ok_statuses:
                self.failures.pop(session, None)
                ran.append(session)
                continue
            if status == RunStatus.DEFERRED:
                self.failures.pop(session, None)
                self.log.info(
                    "catch_up_deferred",
                    session=session.isoformat(),
                    resume_at=_iso_time(resume_at),
                    reason=message,
                    not_attempted=[d.isoformat() for d in due if d > session],
                )
                return TickReport(
                    TickStatus.DEFERRED, tuple(due), tuple(ran), message, resume_at=resume_at
                )
            return self._failed(session, status, message, due, ran, heals)
        return TickReport(TickStatus.RAN, tuple(due), tuple(ran))

    def _failed(
        self,
        session: date,
        status: str,
        message: str,
        due: Sequence[date],
        ran: list[date],
        heals: bool = False,
    ) -> TickReport:
        attempts = self.failures.get(session, 0) + 1
        self.failures[session] = attempts
        fields = {
            "session": session.isoformat(),
            "status": status,
            "reason": message,
            "attempt": attempts,
            "max_attempts": self.policy.max_attempts,
            "not_attempted": [d.isoformat() for d in due if d > session],
        }
        if attempts >= self.policy.max_attempts and not heals:
            self.halted_reason = (
                f"session {session.isoformat()} failed {attempts} times in a row (last: "
                f"{message}); fix the cause, then restart the service to resume"
            )
            self.log.error("catch_up_halted", **fields)
            return TickReport(TickStatus.HALTED, tuple(due), tuple(ran), self.halted_reason)
        # A stale feed or a refused bad print heals once the feed is fixed: retried, never
        # halted (it stays an error on every attempt).
        self.log.error("catch_up_stopped", feed_problem=heals, **fields)
        return TickReport(TickStatus.FAILED, tuple(due), tuple(ran), message)

    def _run_one(self, session: date) -> tuple[str, str, bool, datetime | None]:
        try:
            result = self.run_session(session)
        except Exception as exc:
            # run_once reports expected failures in its result; anything raised here is a bug
            # or an outage. Log type and text only: locals may hold secrets.
            message = f"{type(exc).__name__}: {exc}"
            self.log.error("session_run_crashed", session=session.isoformat(), error=message)
            return RunStatus.FAILED, message, False, None
        heals = getattr(result, "feed_problem", False) is True
        resume_at = getattr(result, "resume_at", None)
        return _status_name(result.status), result.message, heals, resume_at

    def _too_many_missed(self, last: date | None, due: Sequence[date]) -> str:
        return (
            f"{len(due) - 1} sessions were missed ({due[0].isoformat()}..{due[-2].isoformat()}) "
            f"since the last completed session {_iso(last)}, more than schedule."
            f"max_catch_up_sessions={self.policy.max_catch_up}. Check the account and the bars, then run "
            "`pairs-daemon once --session <date>` for each missed session in order, or "
            "raise max_catch_up_sessions and restart"
        )


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def _iso_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _isos(days: Sequence[date]) -> list[str]:
    return [d.isoformat() for d in days]


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """When the job fires. Default: weekdays at 19:15 New York time, after Alpaca starts
    accepting market-on-close orders for the next session. Holidays still fire; the calendar
    makes those fires no-ops. ``interval_seconds`` replaces the cron with a fixed interval, for
    tests and demos only (the catch-up logic is the same, it just looks more often)."""

    hour: int = 19
    minute: int = 15
    second: int = 0
    day_of_week: str = "mon-fri"
    timezone: str = "America/New_York"
    # A fire missed by less than this (the host was suspended, the process was busy) still
    # runs; after that it is dropped and the next fire's catch-up covers its sessions.
    misfire_grace_seconds: int = 3600
    interval_seconds: int | None = None

    def __post_init__(self) -> None:
        if self.misfire_grace_seconds < 1:
            raise ConfigError("must be at least 1 second", key="schedule.misfire_grace_s")
        if self.interval_seconds is not None and self.interval_seconds < 1:
            raise ConfigError("must be at least 1 second", key="schedule.interval_s")
        self.trigger()  # fail at startup, not at the first fire

    def trigger(self) -> BaseTrigger:
        try:
            zone = ZoneInfo(self.timezone)
        except (ValueError, KeyError) as exc:
            raise ConfigError(
                f"unknown time zone {self.timezone!r} (use an IANA name such as "
                "'America/New_York')",
                key="schedule.timezone",
            ) from exc
        if self.interval_seconds is not None:
            return IntervalTrigger(seconds=self.interval_seconds, timezone=zone)
        try:
            return CronTrigger(
                day_of_week=self.day_of_week,
                hour=self.hour,
                minute=self.minute,
                second=self.second,
                timezone=zone,
            )
        except ValueError as exc:
            raise ConfigError(f"invalid cron schedule: {exc}", key="schedule") from exc


def build_scheduler(
    tick: Callable[[], object], spec: ScheduleSpec, log: EventLog, *, run_now: bool = False
) -> BackgroundScheduler:
    """A stopped ``BackgroundScheduler`` with the one cron job. ``run_now`` adds an immediate
    first run (the startup catch-up) to the same job, so ``max_instances=1`` also keeps it
    from overlapping the first cron fire."""
    zone = ZoneInfo(spec.timezone)
    scheduler = BackgroundScheduler(timezone=zone)
    options: dict[str, Any] = {}
    if run_now:
        options["next_run_time"] = datetime.now(zone)
    scheduler.add_job(
        tick,
        spec.trigger(),
        id=JOB_ID,
        name="run due sessions",
        coalesce=True,  # many missed fires collapse into one catch-up
        max_instances=1,
        misfire_grace_time=spec.misfire_grace_seconds,
        **options,
    )
    scheduler.add_listener(
        _scheduler_events(log), EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR
    )
    return scheduler


def next_fire_time(scheduler: BackgroundScheduler) -> datetime | None:
    job = scheduler.get_job(JOB_ID)
    return None if job is None else job.next_run_time


def _scheduler_events(log: EventLog) -> Callable[[Any], None]:
    def on_event(event: Any) -> None:
        # Execution events carry one run time, submission events (max instances) a list.
        when = getattr(event, "scheduled_run_time", None) or next(
            iter(getattr(event, "scheduled_run_times", None) or []), None
        )
        fields = {"scheduled": when.isoformat() if when else None}
        if event.code == EVENT_JOB_MISSED:
            log.warning("schedule_fire_missed", retry="the next fire catches up", **fields)
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            log.warning("schedule_fire_skipped", reason="previous fire still running", **fields)
        elif isinstance(event, JobExecutionEvent) and event.exception is not None:
            error = f"{type(event.exception).__name__}: {event.exception}"
            log.error("schedule_job_crashed", error=error, **fields)

    return on_event
