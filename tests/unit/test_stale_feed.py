"""A feed with no bar for a due session is an error on every tick and in ``status``, however
old the file: never a quiet ``nothing_due``."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from daemon.commands.cli import main
from daemon.commands.scheduler import SessionJob, TickStatus
from daemon.cycle.run import run_once
from daemon.feeds.reports import feed_report
from daemon.monitoring.staleness import stale_feed_check
from daemon.store import Store
from daemon.timing.calendar import CatchUpPolicy, FeedCalendar
from daemon.timing.sessions import xnys_sessions
from tests.unit.daemon_helpers import (
    log_events,
    make_closes,
    make_config,
    open_context,
    run_sessions,
    settings_for,
    write_inputs,
)
from tests.unit.scheduler_fakes import FakeClock, FakeRunner, RecordingLog, et


def _csv_dates(last: date, n: int = 30) -> list[date]:
    return [d.date() for d in pd.bdate_range(end=last, periods=n)]


def test_a_csv_feed_weeks_behind_logs_stale_feed_on_every_tick_and_notes_it_for_status(
    tmp_path: Path,
) -> None:
    dates = _csv_dates(date(2025, 3, 14))
    store = Store.open(tmp_path, durable=False)
    try:
        runner = FakeRunner(completed=[dates[-1]])
        clock, log = FakeClock(et(2025, 4, 2, 20, 0)), RecordingLog()  # 13 sessions later
        job = SessionJob(
            run_session=runner,
            last_completed=runner.last_completed,
            clock=clock,
            log=log,
            policy=CatchUpPolicy(),
            calendar=FeedCalendar(lambda: dates),
            stale_check=stale_feed_check(lambda: dates, CatchUpPolicy(), store),
        )
        reports = [job.tick(), job.tick()]
        assert [r.status for r in reports] == [TickStatus.IDLE, TickStatus.IDLE]
        stale = [(lvl, f) for lvl, name, f in log.events if name == "stale_feed"]
        assert len(stale) == 2 and {lvl for lvl, _ in stale} == {"error"}
        assert "2025-04-02" in stale[0][1]["reason"] and "2025-03-14" in stale[0][1]["reason"]
        assert not log.named("schedule_tick")  # never a quiet nothing_due
        noted = feed_report(store)["feed_stale"]
        assert noted["session"] == "2025-04-02"
        clock.current = et(2025, 3, 14, 20, 0)  # the file is current again
        job.tick()
        assert len(log.named("stale_feed")) == 2
    finally:
        store.close()


def test_a_calendar_feed_without_the_due_bar_fails_loudly_and_recovers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sessions = xnys_sessions(date(2024, 1, 2), date(2024, 3, 1))
    closes = make_closes(len(sessions)).set_axis(sessions)
    prices, cfg = write_inputs(tmp_path, closes.iloc[:-1], make_config(closes))
    settings = settings_for(tmp_path, prices, cfg)
    settings = settings.model_copy(
        update={"data": settings.data.model_copy(update={"calendar_check": True})}
    )
    assert all(r.status == "completed" for r in run_sessions(settings, sessions[30:-1]))
    logs = io.StringIO()
    ctx = open_context(settings, sessions[-1], logs=logs)
    try:
        result = run_once(ctx, sessions[-1])
        assert result.status == "failed" and "stale feed" in result.message
        assert feed_report(ctx.store)["feed_stale"]["session"] == sessions[-1].isoformat()
    finally:
        ctx.close()
    events = log_events(logs)
    assert [e["level"] for e in events if e["event"] == "stale_feed"] == ["error"]
    assert main(["--state-dir", str(settings.state_dir), "status"]) == 0
    assert f"FEED STALE:         {sessions[-1].isoformat()}" in capsys.readouterr().out
    assert main(["--state-dir", str(settings.state_dir), "status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert "stale feed" in shown["feed_stale"]["error"] and shown["revisions"] == []
    closes.rename_axis("date").to_csv(prices)  # the bar is published
    assert run_sessions(settings, sessions[-1:])[0].status == "completed"
    assert main(["--state-dir", str(settings.state_dir), "status"]) == 0
    assert "FEED STALE" not in capsys.readouterr().out
    store = Store.open(settings.state_dir, read_only=True)
    try:
        assert feed_report(store)["feed_stale"] is None
    finally:
        store.close()


@dataclass(frozen=True)
class FeedOutcome:
    status: str
    message: str
    feed_problem: bool = True


def test_a_feed_problem_is_retried_past_max_attempts_and_resumes_once_fixed() -> None:
    runner = FakeRunner(completed=[date(2025, 3, 10)])
    day = date(2025, 3, 11)
    runner.script[day] = lambda: FeedOutcome("failed", "csv: no bar for session 2025-03-11")
    log = RecordingLog()
    job = SessionJob(
        run_session=runner,
        last_completed=runner.last_completed,
        clock=FakeClock(et(2025, 3, 11, 20, 0)),
        log=log,
        policy=CatchUpPolicy(max_attempts=2),
    )
    reports = [job.tick() for _ in range(4)]
    assert [r.status for r in reports] == [TickStatus.FAILED] * 4  # never HALTED
    assert all(f["feed_problem"] for f in log.named("catch_up_stopped"))
    del runner.script[day]  # the bar is published
    assert job.tick().status is TickStatus.RAN and runner.completed[-1] == day
