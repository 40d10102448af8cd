"""The catch-up job on the real XNYS calendar with a fake clock: what a fire runs, in which
order, and when it refuses."""

from __future__ import annotations

import threading
from datetime import date, time, timedelta

import pytest

from daemon.commands.scheduler import SessionJob, TickStatus
from daemon.timing.calendar import (
    CatchUpPolicy,
    FeedCalendar,
    XnysCalendar,
    due_sessions,
    latest_due_session,
)
from shared.errors import ConfigError
from tests.unit.scheduler_fakes import UTC, FakeClock, FakeRunner, Outcome, RecordingLog, et

CAL = XnysCalendar()
POLICY = CatchUpPolicy()  # ready at 19:15 New York time, up to 5 missed sessions
POLICY_AT_CLOSE = CatchUpPolicy(earliest_local_time=time(0, 0))


def make_job(
    clock: FakeClock, runner: FakeRunner, policy: CatchUpPolicy = POLICY
) -> tuple[SessionJob, RecordingLog]:
    log = RecordingLog()
    job = SessionJob(
        run_session=runner,
        last_completed=runner.last_completed,
        clock=clock,
        log=log,
        policy=policy,
    )
    return job, log


def test_a_weekday_fire_after_the_run_time_runs_that_session() -> None:
    runner = FakeRunner(completed=[date(2025, 3, 11)])
    job, _ = make_job(FakeClock(et(2025, 3, 12, 19, 15)), runner)
    report = job.tick()
    assert report.status is TickStatus.RAN
    assert runner.calls == [date(2025, 3, 12)]


def test_before_the_run_time_the_day_is_not_due_yet() -> None:
    runner = FakeRunner(completed=[date(2025, 3, 11)])
    job, log = make_job(FakeClock(et(2025, 3, 12, 19, 14)), runner)
    assert job.tick().status is TickStatus.IDLE
    assert runner.calls == []
    assert log.named("schedule_tick")[0]["action"] == "nothing_due"


@pytest.mark.parametrize(
    ("holiday", "next_day"),
    [
        (date(2025, 12, 25), date(2025, 12, 26)),  # Christmas
        (date(2025, 4, 18), date(2025, 4, 21)),  # Good Friday, then Monday
        (date(2025, 7, 4), date(2025, 7, 7)),  # Independence Day
    ],
)
def test_a_holiday_fire_runs_nothing_and_the_next_session_runs_alone(
    holiday: date, next_day: date
) -> None:
    before = CAL.sessions(holiday - timedelta(days=5), holiday - timedelta(days=1))[-1]
    runner = FakeRunner(completed=[before])
    clock = FakeClock(et(holiday.year, holiday.month, holiday.day, 19, 15))
    job, _ = make_job(clock, runner)
    assert job.tick().status is TickStatus.IDLE
    clock.current = et(next_day.year, next_day.month, next_day.day, 19, 15)
    assert job.tick().status is TickStatus.RAN
    assert runner.calls == [next_day]


def test_a_weekend_fire_finds_nothing_after_friday_ran() -> None:
    runner = FakeRunner(completed=[date(2025, 3, 7)])
    job, _ = make_job(FakeClock(et(2025, 3, 8, 19, 15)), runner)
    assert job.tick().status is TickStatus.IDLE


def test_an_early_close_is_due_after_its_1pm_close() -> None:
    # The day after Thanksgiving 2025 closes at 13:00 ET; a 16:00 close would not be due yet.
    policy = CatchUpPolicy(earliest_local_time=time(0, 0), delay_after_close=timedelta(minutes=5))
    assert CAL.close(date(2025, 11, 28)) == et(2025, 11, 28, 13, 0)
    assert latest_due_session(et(2025, 11, 28, 13, 4), CAL, policy) == date(2025, 11, 26)
    assert latest_due_session(et(2025, 11, 28, 13, 5), CAL, policy) == date(2025, 11, 28)
    assert latest_due_session(et(2025, 12, 1, 13, 5), CAL, policy) == date(2025, 11, 28)
    assert latest_due_session(et(2025, 12, 1, 16, 5), CAL, policy) == date(2025, 12, 1)


@pytest.mark.parametrize(
    ("session", "ready_utc"),
    [
        (date(2025, 3, 7), (2025, 3, 8, 0, 15)),  # EST: 19:15 is 00:15 UTC the next day
        (date(2025, 3, 10), (2025, 3, 10, 23, 15)),  # first weekday of EDT (DST from Mar 9)
        (date(2025, 10, 31), (2025, 10, 31, 23, 15)),  # last weekday of EDT
        (date(2025, 11, 3), (2025, 11, 4, 0, 15)),  # first weekday of EST (DST ends Nov 2)
    ],
)
def test_the_run_time_follows_new_york_local_time_across_dst(
    session: date, ready_utc: tuple[int, int, int, int, int]
) -> None:
    from datetime import datetime

    ready = datetime(*ready_utc, tzinfo=UTC)
    assert latest_due_session(ready - timedelta(minutes=1), CAL, POLICY) != session
    assert latest_due_session(ready, CAL, POLICY) == session


def test_missed_sessions_are_caught_up_oldest_first() -> None:
    runner = FakeRunner(completed=[date(2025, 3, 5)])
    job, log = make_job(FakeClock(et(2025, 3, 12, 20, 0)), runner)
    report = job.tick()
    expected = [date(2025, 3, d) for d in (6, 7, 10, 11, 12)]
    assert report.status is TickStatus.RAN
    assert runner.calls == expected
    assert list(report.ran) == expected
    assert log.named("schedule_tick")[0]["due"] == [d.isoformat() for d in expected]


def test_catch_up_across_a_holiday_weekend_skips_the_holiday() -> None:
    runner = FakeRunner(completed=[date(2025, 4, 16)])
    job, _ = make_job(FakeClock(et(2025, 4, 22, 19, 30)), runner)
    job.tick()
    assert runner.calls == [date(2025, 4, 17), date(2025, 4, 21), date(2025, 4, 22)]


def test_more_missed_sessions_than_allowed_is_refused_with_instructions() -> None:
    runner = FakeRunner(completed=[date(2025, 3, 5)])
    job, log = make_job(FakeClock(et(2025, 3, 12, 20, 0)), runner, CatchUpPolicy(max_catch_up=3))
    report = job.tick()
    assert report.status is TickStatus.REFUSED
    assert runner.calls == []
    (refusal,) = log.named("catch_up_refused")
    assert "4 sessions were missed (2025-03-06..2025-03-11)" in refusal["reason"]
    assert "max_catch_up_sessions=3" in refusal["reason"]
    assert "pairs-daemon once --session" in refusal["reason"]


def test_zero_catch_up_still_runs_the_latest_session() -> None:
    runner = FakeRunner(completed=[date(2025, 3, 11)])
    job, _ = make_job(FakeClock(et(2025, 3, 12, 20, 0)), runner, CatchUpPolicy(max_catch_up=0))
    assert job.tick().status is TickStatus.RAN


def test_a_fresh_store_starts_at_the_latest_due_session_only() -> None:
    runner = FakeRunner()
    job, _ = make_job(FakeClock(et(2025, 3, 10, 9, 0)), runner)
    job.tick()
    assert runner.calls == [date(2025, 3, 7)]


def test_a_duplicated_fire_does_nothing_new() -> None:
    runner = FakeRunner(completed=[date(2025, 3, 11)])
    job, _ = make_job(FakeClock(et(2025, 3, 12, 19, 15)), runner)
    assert job.tick().status is TickStatus.RAN
    assert job.tick().status is TickStatus.IDLE
    assert runner.calls == [date(2025, 3, 12)]


def test_an_overlapping_tick_returns_busy_without_running_anything() -> None:
    release = threading.Event()
    entered = threading.Event()

    def slow() -> Outcome:
        entered.set()
        release.wait(5)
        return Outcome("completed")

    runner = FakeRunner(completed=[date(2025, 3, 11)], script={date(2025, 3, 12): slow})
    job, log = make_job(FakeClock(et(2025, 3, 12, 19, 15)), runner)
    first = threading.Thread(target=job.tick)
    first.start()
    assert entered.wait(5)
    assert job.running_for() is not None
    assert job.tick().status is TickStatus.BUSY
    release.set()
    first.join(5)
    assert runner.calls == [date(2025, 3, 12)]
    assert log.named("schedule_tick_overlap")
    assert job.running_for() is None


def test_a_failed_session_stops_the_chain_and_is_retried_next_fire() -> None:
    runner = FakeRunner(completed=[date(2025, 3, 10)])

    def fails_once() -> Outcome:
        if runner.calls.count(date(2025, 3, 11)) == 1:
            return Outcome("failed", "bars for KO missing")
        runner.completed.append(date(2025, 3, 11))
        return Outcome("completed")

    runner.script[date(2025, 3, 11)] = fails_once
    job, log = make_job(FakeClock(et(2025, 3, 12, 20, 0)), runner)
    report = job.tick()
    assert report.status is TickStatus.FAILED
    assert runner.calls == [date(2025, 3, 11)]
    (stop,) = log.named("catch_up_stopped")
    assert stop["not_attempted"] == ["2025-03-12"]
    assert stop["reason"] == "bars for KO missing"
    assert job.tick().status is TickStatus.RAN
    assert runner.calls == [date(2025, 3, 11), date(2025, 3, 11), date(2025, 3, 12)]


def test_a_session_failing_max_attempts_times_halts_every_later_fire() -> None:
    runner = FakeRunner(completed=[date(2025, 3, 10)])
    runner.script[date(2025, 3, 11)] = lambda: Outcome("failed", "broker positions differ")
    clock = FakeClock(et(2025, 3, 11, 20, 0))
    job, log = make_job(clock, runner, CatchUpPolicy(max_attempts=2))
    assert job.tick().status is TickStatus.FAILED
    assert job.tick().status is TickStatus.HALTED
    clock.current = et(2025, 3, 12, 20, 0)
    report = job.tick()
    assert report.status is TickStatus.HALTED
    assert "failed 2 times in a row (last: broker positions differ)" in report.message
    assert "restart" in report.message
    assert runner.calls == [date(2025, 3, 11), date(2025, 3, 11)]
    first_halt = log.named("catch_up_halted")[0]
    assert (first_halt["attempt"], first_halt["max_attempts"]) == (2, 2)


def test_a_success_resets_the_failure_count() -> None:
    outcomes = iter(["failed", "completed"])
    runner = FakeRunner(completed=[date(2025, 3, 10)])

    def flaky() -> Outcome:
        status = next(outcomes)
        if status == "completed":
            runner.completed.append(date(2025, 3, 11))
        return Outcome(status)

    runner.script[date(2025, 3, 11)] = flaky
    job, _ = make_job(FakeClock(et(2025, 3, 11, 20, 0)), runner, CatchUpPolicy(max_attempts=2))
    job.tick()
    job.tick()
    assert job.failures == {}
    assert job.halted_reason is None


def test_an_exception_from_the_run_is_logged_as_a_failed_session() -> None:
    def boom() -> Outcome:
        raise ConnectionError("broker unreachable")

    runner = FakeRunner(completed=[date(2025, 3, 11)], script={date(2025, 3, 12): boom})
    job, log = make_job(FakeClock(et(2025, 3, 12, 20, 0)), runner)
    assert job.tick().status is TickStatus.FAILED
    (crash,) = log.named("session_run_crashed")
    assert crash == {"session": "2025-03-12", "error": "ConnectionError: broker unreachable"}


def test_a_stop_request_ends_the_catch_up_between_sessions() -> None:
    runner = FakeRunner(completed=[date(2025, 3, 7)])
    job, _ = make_job(FakeClock(et(2025, 3, 12, 20, 0)), runner)
    job.should_stop = lambda: len(runner.calls) >= 1
    report = job.tick()
    assert report.status is TickStatus.STOPPED
    assert runner.calls == [date(2025, 3, 10)]


def test_enum_statuses_are_read_by_value() -> None:
    from enum import StrEnum

    class Status(StrEnum):
        ALREADY = "already_done"

    runner = FakeRunner(completed=[date(2025, 3, 11)])
    runner.script[date(2025, 3, 12)] = lambda: Outcome(Status.ALREADY)
    job, _ = make_job(FakeClock(et(2025, 3, 12, 20, 0)), runner)
    assert job.tick().status is TickStatus.RAN


def test_a_store_ahead_of_the_clock_runs_nothing() -> None:
    assert due_sessions(et(2025, 3, 12, 20, 0), date(2025, 3, 14), CAL, POLICY) == []


def test_naive_now_is_rejected() -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="timezone-aware"):
        latest_due_session(datetime(2025, 3, 12, 20, 0), CAL, POLICY)


def test_a_negative_catch_up_limit_names_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"schedule\.max_catch_up_sessions"):
        CatchUpPolicy(max_catch_up=-1)


def test_a_feed_calendar_uses_the_feeds_dates_even_on_nyse_holidays() -> None:
    # Synthetic business days include Christmas; with the calendar check off, run_once treats
    # them as sessions, so the catch-up must run them too, in order.
    days = [date(2025, 12, d) for d in (23, 24, 25, 26, 29)]
    calendar = FeedCalendar(lambda: days)
    due = due_sessions(et(2025, 12, 26, 16, 0), date(2025, 12, 23), calendar, POLICY_AT_CLOSE)
    assert due == [date(2025, 12, 24), date(2025, 12, 25), date(2025, 12, 26)]
    assert calendar.close(date(2025, 12, 25)) == et(2025, 12, 25, 16, 0)
