"""The APScheduler side: the cron trigger's fire times across DST, the job's safety options,
and the events an operator sees when a fire is missed."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from daemon.commands.scheduler import JOB_ID, ScheduleSpec, build_scheduler, next_fire_time
from shared.errors import ConfigError
from tests.unit.scheduler_fakes import UTC, RecordingLog, et


def fire_times(spec: ScheduleSpec, start: datetime, count: int) -> list[datetime]:
    trigger = spec.trigger()
    times: list[datetime] = []
    previous = None
    now = start
    for _ in range(count):
        nxt = trigger.get_next_fire_time(previous, now)
        assert nxt is not None
        times.append(nxt.astimezone(UTC))
        previous, now = nxt, nxt + timedelta(seconds=1)
    return times


def utc(y: int, m: int, d: int, hh: int, mm: int) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


def test_cron_fires_weekdays_at_new_york_time_across_the_march_dst_change() -> None:
    times = fire_times(ScheduleSpec(), et(2025, 3, 7, 12), 3)
    # Friday in EST, then Monday and Tuesday in EDT: same local time, an hour earlier in UTC.
    assert times == [utc(2025, 3, 8, 0, 15), utc(2025, 3, 10, 23, 15), utc(2025, 3, 11, 23, 15)]


def test_cron_fires_weekdays_at_new_york_time_across_the_november_dst_change() -> None:
    times = fire_times(ScheduleSpec(hour=19, minute=5), et(2025, 10, 31, 12), 2)
    assert times == [utc(2025, 10, 31, 23, 5), utc(2025, 11, 4, 0, 5)]


def test_interval_override_fires_every_few_seconds() -> None:
    start = et(2025, 3, 7, 12)
    times = fire_times(ScheduleSpec(interval_seconds=2), start, 3)
    assert [t - times[0] for t in times] == [
        timedelta(0),
        timedelta(seconds=2),
        timedelta(seconds=4),
    ]


def test_the_job_coalesces_and_never_overlaps() -> None:
    scheduler = build_scheduler(
        lambda: None, ScheduleSpec(misfire_grace_seconds=900), RecordingLog()
    )
    job = scheduler.get_job(JOB_ID)
    assert job is not None
    assert job.coalesce is True
    assert job.max_instances == 1
    assert job.misfire_grace_time == 900
    assert str(scheduler.timezone) == "America/New_York"


def test_run_now_schedules_the_startup_catch_up_immediately() -> None:
    before = datetime.now(UTC)
    scheduler = build_scheduler(lambda: None, ScheduleSpec(), RecordingLog(), run_now=True)
    first = next_fire_time(scheduler)
    assert first is not None
    assert before - timedelta(seconds=1) <= first <= datetime.now(UTC)


def test_a_fire_missed_beyond_the_grace_time_is_logged_not_run() -> None:
    log = RecordingLog()
    ran = threading.Event()
    spec = ScheduleSpec(misfire_grace_seconds=1)
    scheduler = build_scheduler(ran.set, spec, log)
    missed_at = datetime.now(UTC) - timedelta(minutes=5)
    scheduler.modify_job(JOB_ID, next_run_time=missed_at)
    scheduler.start()
    try:
        for _ in range(100):
            if log.named("schedule_fire_missed"):
                break
            threading.Event().wait(0.02)
    finally:
        scheduler.shutdown(wait=True)
    (missed,) = log.named("schedule_fire_missed")
    assert missed["scheduled"] == missed_at.isoformat()
    assert not ran.is_set()


@pytest.mark.parametrize(
    ("spec_args", "key"),
    [
        ({"timezone": "Mars/Olympus"}, "schedule.timezone"),
        ({"hour": 25}, "schedule"),
        ({"misfire_grace_seconds": 0}, "schedule.misfire_grace_s"),
        ({"interval_seconds": 0}, "schedule.interval_s"),
    ],
)
def test_a_bad_schedule_is_rejected_at_startup_naming_the_setting(
    spec_args: dict[str, object], key: str
) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        ScheduleSpec(**spec_args)  # type: ignore[arg-type]
