"""The service in-process: settings map onto the schedule and the catch-up policy, and a session
that keeps failing is retried, then halts the job while the service stays up and says why."""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from daemon.commands.service import Service, catch_up_policy, schedule_spec
from daemon.config.settings import ClockSettings, DaemonSettings, ScheduleSettings
from daemon.infra.notify import SystemdNotifier
from tests.unit.daemon_helpers import make_closes, make_config, settings_for, write_inputs


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_schedule_settings_map_onto_the_cron_and_the_policy() -> None:
    schedule = ScheduleSettings(
        run_at=dtime(19, 5, 30), misfire_grace_s=600, max_catch_up_sessions=2, max_attempts=4
    )
    settings = DaemonSettings.model_validate(
        {"data": {"feed": "csv", "csv_path": "x.csv"}, "schedule": schedule.model_dump()}
    )
    spec = schedule_spec(settings)
    assert (spec.hour, spec.minute, spec.second) == (19, 5, 30)
    assert spec.misfire_grace_seconds == 600
    assert spec.interval_seconds is None
    policy = catch_up_policy(settings)
    assert policy.max_catch_up == 2
    assert policy.max_attempts == 4
    assert policy.earliest_local_time == dtime(19, 5, 30)
    assert policy.zone == ZoneInfo("America/New_York")


def test_a_session_that_keeps_failing_is_retried_then_halts_with_a_status(tmp_path: Path) -> None:
    closes = make_closes(n_bars=60, start="2024-01-02")
    # The config trades a ticker the price file lacks: every run of the session fails.
    missing_leg = [{"asset_1": "AAA", "asset_2": "EEE", "hedge_ratio": 1.0}]
    prices, config = write_inputs(tmp_path, closes, make_config(closes, pairs=missing_leg))
    last = closes.index[-1]  # a CSV feed without the calendar check: its dates are the sessions
    settings = settings_for(
        tmp_path,
        prices,
        config,
        schedule=ScheduleSettings(retry_after_s=1, max_attempts=2, interval_s=3600),
        clock=ClockSettings(fixed_now=datetime.combine(last, dtime(23, 30), tzinfo=UTC)),
    )
    name = f"pairs-daemon-test-{uuid.uuid4().hex}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(b"\0" + name.encode())
    listener.settimeout(0.2)
    logs = io.StringIO()
    service = Service(settings, {}, notifier=SystemdNotifier(f"@{name}"), stream=logs)
    runner = threading.Thread(target=service.run)
    runner.start()
    statuses: list[str] = []

    def halted() -> bool:
        with contextlib.suppress(TimeoutError):
            statuses.append(listener.recv(4096).decode())
        return any("STATUS=halted:" in s for s in statuses)

    try:
        wait_until(halted)
    finally:
        service.request_stop()
        runner.join(20)
        listener.close()
    assert not runner.is_alive()
    events = [json.loads(line) for line in logs.getvalue().splitlines()]
    names = [e["event"] for e in events]
    assert names.count("session_failed") == 2
    assert "session_retry_scheduled" in names
    halt = next(e for e in events if e["event"] == "catch_up_halted")
    assert (halt["session"], halt["attempt"]) == (last.isoformat(), 2)
    assert "EEE" in halt["reason"]
    assert any(s.startswith("STATUS=failed:") for s in statuses)
    assert names[-2:] == ["service_stopping", "service_stopped"]


def test_a_stuck_cycle_stops_the_watchdog_pings_until_it_moves_again(tmp_path: Path) -> None:
    closes = make_closes(n_bars=60, start="2024-01-02")
    prices, config = write_inputs(tmp_path, closes, make_config(closes))
    # The price file is a FIFO: the cycle's read blocks until the test writes it, like a data
    # request that never returns.
    text = prices.read_text()
    prices.unlink()
    os.mkfifo(prices)
    last = closes.index[-1]
    settings = settings_for(
        tmp_path,
        prices,
        config,
        schedule=ScheduleSettings(interval_s=3600),
        clock=ClockSettings(fixed_now=datetime.combine(last, dtime(23, 30), tzinfo=UTC)),
    )
    settings = settings.model_copy(
        update={"data": settings.data.model_copy(update={"calendar_check": True})}
    )
    name = f"pairs-daemon-test-{uuid.uuid4().hex}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(b"\0" + name.encode())
    listener.settimeout(0.05)
    logs = io.StringIO()
    service = Service(
        settings,
        {"WATCHDOG_USEC": "100000"},  # ping every 50 ms
        notifier=SystemdNotifier(f"@{name}"),
        stream=logs,
        # Long enough that even a loaded machine pings (every 50 ms) before the cycle is stuck.
        stuck_after=timedelta(seconds=1.5),
    )
    runner = threading.Thread(target=service.run)
    runner.start()
    received: list[tuple[float, str]] = []

    def collect() -> bool:
        with contextlib.suppress(TimeoutError):
            received.append((time.monotonic(), listener.recv(4096).decode()))
        return False

    def unblock() -> bool:
        """Feed the FIFO if the cycle is waiting on it (never blocks the test)."""
        try:
            fd = os.open(prices, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: nobody is reading
            return False
        with os.fdopen(fd, "w") as fifo:
            fifo.write(text)
        return True

    def pings_since(t: float) -> int:
        return sum(1 for at, msg in received if at > t and msg == "WATCHDOG=1")

    try:
        wait_until(lambda: collect() or "cycle_stuck" in logs.getvalue())
        while True:  # drain pings sent before the service noticed
            count = len(received)
            collect()
            if len(received) == count:
                break
        stuck_at = time.monotonic()
        assert pings_since(0.0) > 0  # it pinged while the cycle was young
        end = stuck_at + 0.5
        while time.monotonic() < end:
            collect()
        assert pings_since(stuck_at) == 0
        assert unblock()
        moving_at = time.monotonic()
        wait_until(lambda: collect() or pings_since(moving_at) > 0)
    finally:
        service.request_stop()
        end = time.monotonic() + 20
        while runner.is_alive() and time.monotonic() < end:
            unblock()
            runner.join(0.1)
        listener.close()
    assert not runner.is_alive()
    assert any(msg.startswith("READY=1") for _, msg in received)


def test_a_stop_while_a_fire_is_finishing_exits_promptly(tmp_path: Path) -> None:
    """Regression: APScheduler 3's ``shutdown(wait=True)`` holds its job-store lock while it
    waits for running jobs, and a finishing fire takes that lock (next fire time for the status
    line, the retry job). A SIGTERM landing while a session ran deadlocked the service. Here the
    session only returns once the service is inside its shutdown, and it fails, so the fire
    goes down the retry path too."""
    closes = make_closes(n_bars=60, start="2024-01-02")
    prices, config = write_inputs(tmp_path, closes, make_config(closes))
    last = closes.index[-1]
    settings = settings_for(
        tmp_path,
        prices,
        config,
        schedule=ScheduleSettings(interval_s=3600, retry_after_s=1),
        clock=ClockSettings(fixed_now=datetime.combine(last, dtime(23, 30), tzinfo=UTC)),
    )
    logs = io.StringIO()
    service = Service(settings, {}, stream=logs)
    session_started = threading.Event()

    def session_outliving_the_stop(session: object) -> object:
        session_started.set()
        wait_until(lambda: "service_stopping" in logs.getvalue())
        time.sleep(0.3)  # the main thread is now inside the scheduler's shutdown
        raise ConnectionError("broker went away")

    service._run_session = session_outliving_the_stop  # type: ignore[assignment,method-assign]
    runner = threading.Thread(target=service.run)
    runner.start()
    assert session_started.wait(20)
    service.request_stop()
    runner.join(20)
    assert not runner.is_alive(), "the service did not stop within 20 s of the stop request"
    names = [json.loads(line)["event"] for line in logs.getvalue().splitlines()]
    assert "session_run_crashed" in names
    assert "session_retry_scheduled" not in names  # nothing is scheduled once stopping
    # The session's own lines land between the two: it was still running at the stop.
    assert names.index("service_stopping") < names.index("session_run_crashed")
    assert names[-1] == "service_stopped"


def test_request_stop_takes_no_lock_so_a_signal_handler_cannot_deadlock(tmp_path: Path) -> None:
    """``request_stop`` is the SIGTERM handler, and a handler runs on the main thread between
    two bytecodes: possibly inside ``Event.wait`` while that thread holds the event's own lock.
    Here the lock is held the same way (CPython's ``Event`` keeps it as ``_cond``); a handler
    that called ``Event.set`` would block forever on it."""
    closes = make_closes(n_bars=30, start="2024-01-02")
    prices, config = write_inputs(tmp_path, closes, make_config(closes))
    service = Service(settings_for(tmp_path, prices, config), {})

    def handler_while_the_lock_is_held() -> None:
        with service.stop_requested._cond:  # type: ignore[attr-defined]
            service.request_stop(15, None)

    handler = threading.Thread(target=handler_while_the_lock_is_held, daemon=True)
    handler.start()
    handler.join(5)
    assert not handler.is_alive(), "request_stop blocked on the stop event's lock"
    assert service._stopping()  # the main loop's next look turns the flag into the event
    assert service.stop_requested.is_set()
