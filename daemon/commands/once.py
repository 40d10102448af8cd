"""``pairs-daemon once`` without ``--session``: run what is due now, as one scheduler fire would.

The due sessions are those whose close has passed on the broker's clock and calendar (Alpaca's;
the daemon's clock and the exchange calendar for the local broker), oldest first, up to
``schedule.max_catch_up_sessions`` missed ones. A deferred session stops the chain and says when
to run again; with ``wait`` the command sleeps until then (the broker's clock decides how long)
and goes on, so one invocation can carry a late catch-up through 19:00 ET.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

from daemon.commands.scheduler import SessionJob, TickReport, TickStatus
from daemon.core.ports import Clock
from daemon.core.statuses import RunStatus
from daemon.cycle.context import DaemonContext
from daemon.cycle.run import RunResult, run_once
from daemon.timing.calendar import Calendar, CatchUpPolicy
from daemon.timing.session_timing import BrokerClock, market_times, scheduling_clock

# A deferral is at most a few hours (until 19:00 ET, or a bar's delay); more waits than this
# in one invocation mean something keeps moving the window.
MAX_WAITS = 8
# Sleep a little past the window's opening: the broker's clock is read again before sending.
_MARGIN = timedelta(seconds=2)


@dataclass
class OnceOutcome:
    results: list[RunResult] = field(default_factory=list)
    report: TickReport | None = None


def run_due(
    ctx: DaemonContext,
    calendar: Calendar,
    *,
    wait: bool = False,
    sleep: Callable[[float], Any] = _time.sleep,
) -> OnceOutcome:
    """Run the due sessions in order; with ``wait``, sleep through deferrals."""
    outcome = OnceOutcome()

    def run_session(session: date) -> RunResult:
        result = run_once(ctx, session)
        outcome.results.append(result)
        return result

    clock, calendar = scheduling_clock(ctx.broker, ctx.clock, calendar)
    schedule = ctx.settings.schedule
    job = SessionJob(
        run_session=run_session,
        last_completed=ctx.store.last_completed_session,
        clock=clock,
        log=ctx.logger.bind(component="once"),
        policy=CatchUpPolicy(
            max_catch_up=schedule.max_catch_up_sessions,
            earliest_local_time=time(0, 0),  # due at the close; the cycle's gate does the rest
            max_attempts=1,
        ),
        calendar=calendar,
    )
    for _ in range(MAX_WAITS + 1):
        outcome.report = job.tick()
        report = outcome.report
        if not (wait and report.status is TickStatus.DEFERRED and report.resume_at):
            break
        pause = (report.resume_at - clock.now() + _MARGIN).total_seconds()
        ctx.logger.info("once_waiting", resume_at=report.resume_at.isoformat(), sleep_s=pause)
        sleep(max(0.0, pause))
    return outcome


def run_session_waiting(
    ctx: DaemonContext,
    session: date,
    *,
    wait: bool = False,
    sleep: Callable[[float], Any] = _time.sleep,
) -> OnceOutcome:
    """``once --session D``: that session only; with ``wait``, sleep through deferrals."""
    outcome = OnceOutcome()
    times = market_times(ctx.broker)
    clock: Clock = BrokerClock(times) if times is not None else ctx.clock
    for _ in range(MAX_WAITS + 1):
        result = run_once(ctx, session)
        outcome.results.append(result)
        if not (wait and result.status == RunStatus.DEFERRED and result.resume_at):
            break
        pause = (result.resume_at - clock.now() + _MARGIN).total_seconds()
        ctx.logger.info("once_waiting", resume_at=result.resume_at.isoformat(), sleep_s=pause)
        sleep(max(0.0, pause))
    return outcome


# EX_TEMPFAIL: try again later (at the time printed).
EXIT_DEFERRED = 75


def once_exit_code(outcome: OnceOutcome) -> int:
    """0 done or nothing due, 1 a session failed, 2 refused/halted (an operator must look),
    75 deferred (run again at the printed time, or pass --wait)."""
    last = outcome.results[-1].status if outcome.results else None
    if last == RunStatus.FAILED:
        return 1
    if last == RunStatus.DEFERRED:
        return EXIT_DEFERRED
    report = outcome.report
    if report is not None and report.status in (TickStatus.REFUSED, TickStatus.HALTED):
        return 2
    return 0
