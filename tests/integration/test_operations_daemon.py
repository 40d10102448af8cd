"""Operating the daemon: a week offline, a duplicated fire, two daemons on one state directory,
a damaged state file, and a config file changed under a running daemon.

The scheduled cases drive the service's own pieces (``SessionJob`` with the service's calendar
and catch-up policy, ``run_once`` on one long-lived context, as ``pairs-daemon run`` does) with
a clock the test moves; the lock and damaged-file cases run ``pairs-daemon`` as real processes.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time as _time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import pytest

from daemon.commands.app import build_context
from daemon.commands.scheduler import SessionJob, TickStatus
from daemon.commands.service import catch_up_policy, session_calendar
from daemon.config.settings import DaemonSettings
from daemon.cycle.context import DaemonContext
from daemon.cycle.run import run_once
from daemon.infra.logging import make_logger
from daemon.store import DB_NAME
from daemon.store.files import BROKER_DB_NAME, LOCK_NAME
from daemon.timing.clock import FixedClock
from shared.errors import StateError
from tests.integration.crash_support import local_book, store_view
from tests.unit.daemon_helpers import make_closes, make_config, settings_for, write_inputs

ROOT = Path(__file__).resolve().parents[2]
N_BARS, FIRST_RUN = 60, 25


def evening_after(session: date) -> datetime:
    """21:30 in New York on the session's day (winter time): after the 19:15 run time."""
    return datetime.combine(session + timedelta(days=1), time(2, 30), tzinfo=UTC)


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    return make_closes(N_BARS, seed=3)


def _setup(tmp: Path, closes: pd.DataFrame, **config: object) -> DaemonSettings:
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = make_config(closes, window=10, entry_z=1.2, stake=30, **config)
    prices, cfg_path = write_inputs(tmp, closes, cfg)
    return settings_for(tmp, prices, cfg_path)


@contextmanager
def service_job(settings: DaemonSettings, now: datetime) -> Iterator[tuple[SessionJob, FixedClock]]:
    """The service's pieces on one context, for as long as the block runs (one process)."""
    clock = FixedClock(now)
    ctx: DaemonContext = build_context(
        settings, {}, clock=clock, logger=make_logger("json", io.StringIO()), durable=False
    )
    try:
        yield (
            SessionJob(
                run_session=lambda session: run_once(ctx, session),
                last_completed=ctx.store.last_completed_session,
                clock=clock,
                log=ctx.logger,
                policy=catch_up_policy(settings),
                calendar=session_calendar(ctx),
            ),
            clock,
        )
    finally:
        ctx.close()


def _daily(settings: DaemonSettings, sessions: list[date]) -> None:
    with service_job(settings, evening_after(sessions[0])) as (job, clock):
        for session in sessions:
            clock.set(evening_after(session))
            assert job.tick().status is TickStatus.RAN


def test_a_week_offline_is_caught_up_in_order_and_ends_like_an_uninterrupted_run(
    tmp_path: Path, closes: pd.DataFrame
) -> None:
    sessions = list(closes.index[FIRST_RUN:])
    every_day = _setup(tmp_path / "daily", closes)
    _daily(every_day, sessions)

    offline = _setup(tmp_path / "offline", closes)
    k = 10  # sessions[k..k+4] are missed (a week), sessions[k+5] is the first day back
    with service_job(offline, evening_after(sessions[0])) as (job, clock):
        for session in sessions[:k]:
            clock.set(evening_after(session))
            job.tick()
        clock.set(evening_after(sessions[k + 5]))
        report = job.tick()
        assert report.status is TickStatus.RAN
        assert list(report.ran) == sessions[k : k + 6]  # oldest first
        before = store_view(offline.state_dir)
        duplicate = job.tick()  # the same fire delivered twice
        assert duplicate.status is TickStatus.IDLE
        assert store_view(offline.state_dir) == before
        for session in sessions[k + 6 :]:
            clock.set(evening_after(session))
            job.tick()

    got, want = store_view(offline.state_dir), store_view(every_day.state_dir)
    assert got.completed_runs == [d.isoformat() for d in sessions]
    assert (got.intents, got.fills, got.equity) == (want.intents, want.fills, want.equity)
    assert got.fills, "the series must trade for the comparison to mean anything"


def test_a_config_changed_under_a_running_daemon_is_refused_until_it_is_restored(
    tmp_path: Path, closes: pd.DataFrame
) -> None:
    """Documented behaviour (daemon.config.research_config.check_config_id): a config whose decisive
    fields changed is refused with instructions; nothing is traded; restoring the file (and
    restarting a halted service) resumes and catches up. Cosmetic edits are accepted."""
    sessions = list(closes.index[FIRST_RUN:])
    reference = _setup(tmp_path / "reference", closes)
    _daily(reference, sessions)

    settings = _setup(tmp_path / "edited", closes)
    original = settings.config.read_text(encoding="utf-8")
    changed = json.loads(original) | {"entry_z": 1.7}
    k = 12
    with service_job(settings, evening_after(sessions[0])) as (job, clock):
        for session in sessions[:k]:
            clock.set(evening_after(session))
            job.tick()
        orders_before, _ = local_book(settings.state_dir)
        settings.config.write_text(json.dumps(changed), encoding="utf-8")
        clock.set(evening_after(sessions[k]))
        reports = [job.tick() for _ in range(catch_up_policy(settings).max_attempts)]
        assert [r.status for r in reports[:-1]] == [TickStatus.FAILED] * (len(reports) - 1)
        assert reports[-1].status is TickStatus.HALTED
        assert "restore the previous config file" in reports[0].message
        assert local_book(settings.state_dir)[0] == orders_before  # nothing sent
        assert store_view(settings.state_dir).completed_runs[-1] == sessions[k - 1].isoformat()

    settings.config.write_text(
        json.dumps(json.loads(original) | {"note": "edited by hand: not a decisive field"}),
        encoding="utf-8",
    )
    with service_job(settings, evening_after(sessions[k])) as (job, clock):  # the restart
        for session in sessions[k:]:
            clock.set(evening_after(session))
            assert job.tick().status is TickStatus.RAN

    got, want = store_view(settings.state_dir), store_view(reference.state_dir)
    assert (got.intents, got.fills, got.equity) == (want.intents, want.fills, want.equity)


def _cli(settings: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon.commands.cli", "--settings", str(settings), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )


def _settings_file(tmp: Path, settings: DaemonSettings, now: datetime) -> Path:
    path = tmp / "daemon.toml"
    path.write_text(
        f'config = "{settings.config}"\nstate_dir = "{settings.state_dir}"\n\n'
        f'[data]\nfeed = "csv"\ncsv_path = "{settings.data.csv_path}"\ncalendar_check = false\n'
        f"\n[schedule]\ninterval_s = 3600\n\n[clock]\nfixed_now = {now.isoformat()}\n",
        encoding="utf-8",
    )
    return path


def test_a_second_daemon_on_a_running_daemons_state_dir_is_refused(
    tmp_path: Path, closes: pd.DataFrame
) -> None:
    settings = _setup(tmp_path, closes)
    session = closes.index[FIRST_RUN]
    toml = _settings_file(tmp_path, settings, evening_after(session))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    service = subprocess.Popen(
        [sys.executable, "-m", "daemon.commands.cli", "--settings", str(toml), "run"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lock = settings.state_dir / LOCK_NAME
        deadline = _time.monotonic() + 60
        while _time.monotonic() < deadline and service.poll() is None:
            if lock.exists() and lock.read_text().strip() == str(service.pid):
                break
            _time.sleep(0.05)
        assert service.poll() is None, service.stderr.read() if service.stderr else ""
        second = _cli(toml, "once", "--session", session.isoformat())
        assert second.returncode == 2
        assert f"another pairs-daemon (pid {service.pid})" in second.stderr
        assert "stop it first" in second.stderr
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=60)
        except subprocess.TimeoutExpired:
            service.kill()  # leave no daemon behind; the assertion below reports the hang
            service.wait()
    assert service.returncode == 0, "the daemon did not exit 0 within 60 s of SIGTERM"
    with pytest.raises(StateError, match="another pairs-daemon"):  # and in-process, too
        first = build_context(settings, {}, durable=False)
        try:
            build_context(settings, {}, durable=False)
        finally:
            first.close()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1500])


def _scribble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:16] = b"not a database!!"
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("file", "damage", "expected"),
    [
        (DB_NAME, _truncate, "corrupted or truncated"),
        (DB_NAME, _scribble, "is not an SQLite database"),
        (BROKER_DB_NAME, _scribble, "corrupted"),
    ],
    ids=["truncated-store", "garbage-store", "garbage-broker-book"],
)
def test_a_damaged_state_file_stops_the_daemon_with_a_clear_error_and_is_left_untouched(
    tmp_path: Path, closes: pd.DataFrame, file: str, damage: object, expected: str
) -> None:
    settings = _setup(tmp_path, closes)
    sessions = list(closes.index[FIRST_RUN : FIRST_RUN + 3])
    _daily(settings, sessions[:2])
    target = settings.state_dir / file
    assert callable(damage)
    damage(target)
    damaged = target.read_bytes()
    toml = _settings_file(tmp_path, settings, evening_after(sessions[2]))
    result = _cli(toml, "once", "--session", sessions[2].isoformat())
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(target) in result.stderr and expected in result.stderr
    assert "nothing was changed" in result.stderr
    assert target.read_bytes() == damaged
