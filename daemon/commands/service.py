"""``pairs-daemon run``: the long-running service that systemd supervises.

Start-up builds the context (store lock, broker, feed) and fails fast on bad settings, so a
broken install exits non-zero and systemd's restart limit stops the loop. Then the scheduler
starts with an immediate first fire (the start-up catch-up) and the service tells systemd it is
ready. From then on:

* every session cycle runs on ONE dedicated thread: the store's SQLite connection belongs to
  the thread that opened it, and one thread also means cycles never interleave;
* the main thread pings the systemd watchdog every ``WATCHDOG_USEC/2``, but only while no
  cycle has been running longer than ``STUCK_AFTER``: a hung broker call then ends in a
  watchdog restart instead of a daemon that looks alive and trades nothing;
* a failed session is retried after ``schedule.retry_after_s``; after ``max_attempts`` the
  job halts, and the service stays up saying why (``STATUS=``, ``catch_up_halted``);
* SIGTERM/SIGINT: STOPPING=1, the running session finishes (a catch-up stops before the next
  one), the store is closed, exit 0. The scheduler is stopped without waiting for its job:
  APScheduler 3 would wait while holding the job-store lock that a finishing fire needs.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time as _time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from types import FrameType
from typing import Any, TextIO

from apscheduler.schedulers.background import BackgroundScheduler

from daemon.adapters.csv.bars import CsvBarSource
from daemon.commands.app import build_context
from daemon.commands.scheduler import (
    ScheduleSpec,
    SessionJob,
    TickReport,
    TickStatus,
    build_scheduler,
    next_fire_time,
)
from daemon.config.research_config import load_config
from daemon.config.settings import DaemonSettings
from daemon.core.ports import Clock, Logger
from daemon.cycle.context import DaemonContext
from daemon.cycle.run import RunResult, run_once
from daemon.feeds.sanity import dates_through_today, exchange_date
from daemon.infra.notify import SystemdNotifier, watchdog_interval
from daemon.store.generations import current_config
from daemon.timing import sessions
from daemon.timing.calendar import Calendar, CatchUpPolicy, FeedCalendar, XnysCalendar
from daemon.timing.clock import FixedClock
from daemon.timing.session_timing import scheduling_clock
from shared.errors import PairsError

# A cycle is about a second plus network round trips, a catch-up a handful of cycles; one still
# running after this is stuck, and the watchdog should restart the service.
STUCK_AFTER = timedelta(minutes=30)
RETRY_JOB_ID = "session-retry"
# A deferred session's window time can be behind the wall clock (a skewed host, or a broker
# clock that lags): fire no sooner than this, so a still-closed window is not polled in a loop.
MIN_RESUME_DELAY = timedelta(seconds=5)
# How often the main thread looks for a stop request (and pings the watchdog when one is due).
_STOP_POLL_S = 0.25


def schedule_spec(settings: DaemonSettings) -> ScheduleSpec:
    s = settings.schedule
    return ScheduleSpec(
        hour=s.run_at.hour,
        minute=s.run_at.minute,
        second=s.run_at.second,
        timezone=s.timezone,
        misfire_grace_seconds=s.misfire_grace_s,
        interval_seconds=s.interval_s,
    )


def catch_up_policy(settings: DaemonSettings) -> CatchUpPolicy:
    from zoneinfo import ZoneInfo

    s = settings.schedule
    return CatchUpPolicy(
        max_catch_up=s.max_catch_up_sessions,
        earliest_local_time=s.run_at,
        zone=ZoneInfo(s.timezone),
        max_attempts=s.max_attempts,
    )


def session_calendar(ctx: DaemonContext) -> Calendar:
    """XNYS, except for a CSV feed without the calendar check: then the file's dates up to
    today are the sessions, as they are for ``run_once`` (later rows are reported)."""
    if isinstance(ctx.bars, CsvBarSource) and not ctx.settings.data.check_calendar:
        return FeedCalendar(_feed_dates(ctx, ctx.bars, ctx.logger))
    return XnysCalendar()


def _feed_dates(
    ctx: DaemonContext, bars: CsvBarSource, log: Logger | None = None
) -> Callable[[], list[date]]:
    def today() -> date:
        return exchange_date(ctx.clock.now())

    return dates_through_today(bars.sessions, today, f"price file {bars.path}", log)


class Service:
    """One service process; :meth:`run` blocks until a stop is requested."""

    def __init__(
        self,
        settings: DaemonSettings,
        environ: Mapping[str, str],
        *,
        notifier: SystemdNotifier | None = None,
        stream: TextIO | None = None,
        stuck_after: timedelta = STUCK_AFTER,
    ) -> None:
        self.settings = settings
        self.stuck_after = stuck_after
        self.environ = environ
        self.notifier = notifier or SystemdNotifier.from_environ(environ)
        self.stream = stream
        self.stop_requested = threading.Event()
        self._stop_signalled = False  # set by request_stop; see there
        # All store access happens on this one thread (see the module docstring).
        self._cycle = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cycle")
        self._scheduler: BackgroundScheduler | None = None
        self._ctx: DaemonContext | None = None
        self._job: SessionJob | None = None
        self._log: Logger | None = None
        self._ctx_closed = False  # read and written on the cycle thread only

    @property
    def log(self) -> Logger:
        """The service's bound logger; :meth:`_build` binds it before anything is logged."""
        assert self._log is not None
        return self._log

    def request_stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        """Ask the service to stop; safe as a signal handler and from any thread.

        It only sets a flag. ``Event.set`` takes the event's lock, and a handler runs on the main
        thread between two bytecodes, possibly while that thread holds the very same lock inside
        ``Event.wait``: a handler calling ``set`` can deadlock the process. The main loop turns
        the flag into ``stop_requested`` within ``_STOP_POLL_S``."""
        self._stop_signalled = True

    def _stopping(self) -> bool:
        if self._stop_signalled:
            self.stop_requested.set()
        return self.stop_requested.is_set()

    def run(self) -> int:
        self.notifier.status("starting: opening the state store")
        try:
            ctx = self._cycle.submit(self._build).result()
        except BaseException:
            self._cycle.shutdown(wait=True)
            raise
        try:
            if not self._stopping():
                self._serve(ctx)
        finally:
            self._shutdown(ctx)
        return 0

    def _build(self) -> DaemonContext:
        fixed = self.settings.clock.fixed_now
        clock: Clock | None = FixedClock(fixed) if fixed is not None else None
        ctx = build_context(self.settings, self.environ, clock=clock, stream=self.stream)
        try:
            # Load the exchange calendar (a second or two) now, before READY=1, so the first
            # fire is quick and a broken calendar install fails the start.
            sessions.is_session(ctx.clock.now().date())
        except BaseException:
            ctx.close()
            raise
        self._ctx = ctx
        self._log = ctx.logger.bind(component="service")
        if fixed is not None:
            self._log.warning("clock_fixed", now=fixed.isoformat(), note="tests and demos only")
        self._log_config(ctx)
        # Alpaca's own clock and calendar decide what is due when the broker offers them.
        clock, calendar = scheduling_clock(ctx.broker, ctx.clock, session_calendar(ctx))
        self._job = SessionJob(
            run_session=self._run_session,
            last_completed=ctx.store.last_completed_session,
            clock=clock,
            log=ctx.logger.bind(component="scheduler"),
            policy=catch_up_policy(self.settings),
            calendar=calendar,
            should_stop=self._stopping,
            stale_check=_stale_check(ctx, self.settings),
        )
        return ctx

    def _log_config(self, ctx: DaemonContext) -> None:
        """Say at start-up what is being traded and how strong the research evidence for it
        was (walk-forward, DSR, PBO), so the journal answers "why this config" too. A broken
        config is not fatal here: each run_once refuses it with the precise error."""
        try:
            settings_config = load_config(ctx.config_path)
        except PairsError as exc:
            self.log.error("config_invalid", path=str(ctx.config_path), error=str(exc))
            return
        # After a hand-over the account trades a deployed generation, not the settings' file.
        config = current_config(ctx.store, settings_config)
        self.log.info(
            "config_loaded",
            path=str(ctx.config_path),
            deployed=config.config_id != settings_config.config_id,
            config_id=config.config_id,
            pairs=[f"{p.asset_1}/{p.asset_2}" for p in config.pairs],
            fitted_on=f"{config.data.first_session}..{config.data.last_session}",
            selection_metrics=config.selection_metrics,
            evidence=config.provenance.evidence or {},
        )

    def _run_session(self, session: date) -> RunResult:
        assert self._ctx is not None
        return run_once(self._ctx, session)

    def _serve(self, ctx: DaemonContext) -> None:
        assert self._job is not None
        spec = schedule_spec(self.settings)
        ping_every = watchdog_interval(self.environ)
        # APScheduler's own log lines are plain text; its events reach the JSON log through
        # build_scheduler's listener instead.
        logging.getLogger("apscheduler").addHandler(logging.NullHandler())
        logging.getLogger("apscheduler").propagate = False
        scheduler = build_scheduler(self._fire, spec, self._job.log, run_now=True)
        self._scheduler = scheduler
        scheduler.start()
        self.notifier.ready("ready: catching up")
        self.log.info(
            "service_ready",
            pid=os.getpid(),
            schedule=_describe(spec),
            watchdog_ping_s=ping_every,
            notify=self.notifier.enabled,
        )
        poll = _STOP_POLL_S if ping_every is None else min(_STOP_POLL_S, ping_every)
        next_ping = _time.monotonic()
        while not self._stopping():
            _time.sleep(poll)
            if ping_every is not None and _time.monotonic() >= next_ping:
                next_ping = _time.monotonic() + ping_every
                if self._healthy():
                    self.notifier.watchdog()

    def _healthy(self) -> bool:
        assert self._job is not None and self._scheduler is not None
        running = self._job.running_for()
        if running is not None and running > self.stuck_after.total_seconds():
            self.log.error("cycle_stuck", running_s=round(running), action="watchdog not fed")
            return False
        return bool(self._scheduler.running)

    def _fire(self) -> None:
        """APScheduler's job: hand the tick to the cycle thread and wait, so the job counts
        as running (max_instances=1) for as long as the cycle does."""
        assert self._job is not None
        if self._stopping():
            return
        try:
            tick = self._cycle.submit(self._tick)
        except RuntimeError:  # the cycle thread is gone: the service is stopping
            return
        report, last = tick.result()
        if self._stopping():
            return  # STOPPING=1 has been sent; say nothing more, schedule nothing more
        self.notifier.status(self._status_line(report, last))
        if report.status is TickStatus.FAILED:
            self._schedule_retry()
        elif report.status is TickStatus.DEFERRED and report.resume_at is not None:
            self._schedule_retry(at=report.resume_at)

    def _tick(self) -> tuple[TickReport, date | None]:
        assert self._job is not None and self._ctx is not None
        if self._ctx_closed:
            return TickReport(TickStatus.STOPPED, message="the service is stopping"), None
        report = self._job.tick()
        return report, self._ctx.store.last_completed_session()

    def _schedule_retry(self, at: datetime | None = None) -> None:
        """Fire again after ``retry_after_s``, or at ``at`` (a deferred session's window, on
        the broker's clock, which the wall clock follows to the second in production)."""
        assert self._scheduler is not None
        # Real time, not ctx.clock: APScheduler waits on the wall clock.
        run_date = datetime.now(UTC) + timedelta(seconds=self.settings.schedule.retry_after_s)
        if at is not None:
            run_date = max(datetime.now(UTC) + MIN_RESUME_DELAY, at.astimezone(UTC))
        self._scheduler.add_job(
            self._fire,
            "date",
            run_date=run_date,
            id=RETRY_JOB_ID,
            replace_existing=True,
            misfire_grace_time=self.settings.schedule.misfire_grace_s,
        )
        self.log.info("session_retry_scheduled", at=run_date.isoformat())

    def _status_line(self, report: TickReport, last: date | None) -> str:
        nxt = next_fire_time(self._scheduler) if self._scheduler is not None else None
        tail = f"last completed {last or 'none'}; next check {nxt.isoformat() if nxt else '-'}"
        if report.status in (TickStatus.HALTED, TickStatus.REFUSED, TickStatus.FAILED):
            return f"{report.status.value}: {report.message} ({tail})"
        return f"{report.status.value}: {tail}"

    def _shutdown(self, ctx: DaemonContext) -> None:
        self.stop_requested.set()
        self.notifier.stopping("stopping: finishing the running cycle")
        if self._log is not None:
            self._log.info("service_stopping")
        if self._scheduler is not None and self._scheduler.running:
            # wait=False: APScheduler's shutdown(wait=True) waits for running jobs while it
            # holds its job-store lock, and a fire that is just finishing takes that lock
            # (next fire time, retry job): a deadlock. Stopping the dispatch is enough; the
            # cycle thread below is what a running fire is waiting on.
            self._scheduler.shutdown(wait=False)
        # The cycle thread runs one task at a time in order: a tick already handed over
        # finishes first, and any later one sees the store closed and does nothing.
        self._cycle.submit(self._close_store, ctx).result()
        self._cycle.shutdown(wait=True)
        if self._log is not None:
            self._log.info("service_stopped", exit_code=0)

    def _close_store(self, ctx: DaemonContext) -> None:
        self._ctx_closed = True
        ctx.close()


def _stale_check(ctx: DaemonContext, settings: DaemonSettings) -> Any:
    if isinstance(ctx.bars, CsvBarSource) and not settings.data.check_calendar:
        from daemon.monitoring.staleness import stale_feed_check

        return stale_feed_check(
            _feed_dates(ctx, ctx.bars), catch_up_policy(settings), ctx.store, ctx.logger
        )
    return None


def _describe(spec: ScheduleSpec) -> str:
    if spec.interval_seconds is not None:
        return f"every {spec.interval_seconds}s"
    return f"{spec.day_of_week} {spec.hour:02d}:{spec.minute:02d}:{spec.second:02d} {spec.timezone}"


def serve(settings: DaemonSettings, environ: Mapping[str, str] | None = None) -> int:
    """Run the service until SIGTERM/SIGINT; 0 on a clean stop."""
    service = Service(settings, os.environ if environ is None else environ)
    previous = {
        sig: signal.signal(sig, service.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        return service.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
