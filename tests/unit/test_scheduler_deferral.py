"""A deferred session (the broker's order window is closed) stops the catch-up chain without
counting as a failure, and the report says when to fire again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from daemon.commands.scheduler import SessionJob, TickStatus
from daemon.timing.calendar import CatchUpPolicy
from tests.unit.scheduler_fakes import FakeClock, FakeRunner, RecordingLog, et

AT_CLOSE = CatchUpPolicy(earliest_local_time=time(0, 0), max_attempts=1)


@dataclass(frozen=True)
class Deferred:
    resume_at: datetime
    status: str = "deferred"
    message: str = "cls orders are refused until 19:00"


def test_a_deferred_session_stops_the_chain_and_reports_when_to_resume() -> None:
    resume = et(2025, 3, 13, 19, 0)
    runner = FakeRunner(completed=[date(2025, 3, 10)])
    runner.script[date(2025, 3, 11)] = lambda: Deferred(resume)  # type: ignore[assignment,return-value]
    log = RecordingLog()
    job = SessionJob(
        run_session=runner,
        last_completed=runner.last_completed,
        clock=FakeClock(et(2025, 3, 13, 17, 0)),
        log=log,
        policy=AT_CLOSE,
    )
    report = job.tick()
    assert report.status is TickStatus.DEFERRED and report.resume_at == resume
    assert runner.calls == [date(2025, 3, 11)]  # the later sessions wait for it
    (event,) = log.named("catch_up_deferred")
    assert event["not_attempted"] == ["2025-03-12", "2025-03-13"]
    # Not a failure: with max_attempts=1 a failure would halt the job; a deferral never does.
    assert job.failures == {} and job.halted_reason is None
    assert job.tick().status is TickStatus.DEFERRED
    del runner.script[date(2025, 3, 11)]
    again = job.tick()
    assert again.status is TickStatus.RAN
    assert again.ran == (date(2025, 3, 11), date(2025, 3, 12), date(2025, 3, 13))
