"""``pairs-daemon check`` as a monitoring system runs it: a real process, one line on stdout and
the Nagios exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), and the Prometheus textfile."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from daemon.config.settings import RiskSettings
from tests.unit.daemon_helpers import (
    make_closes,
    make_config,
    run_sessions,
    settings_for,
    write_inputs,
)

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def market(tmp_path: Path) -> tuple[Path, Path, list[date]]:
    closes = make_closes(80, seed=11)
    prices, cfg = write_inputs(tmp_path, closes, make_config(closes, commission=0.001))
    return prices, cfg, list(closes.index)


def _settings_file(
    tmp: Path, now: datetime, *, halt: Path | None = None, warn_bps: float = 50.0
) -> Path:
    text = f"""
config = "config.json"
state_dir = "state"
[broker]
kind = "local"
[data]
feed = "csv"
csv_path = "prices.csv"
calendar_check = false
[clock]
fixed_now = {now.isoformat()}
[monitoring]
tracking_warning_bps = {warn_bps}
tracking_critical_bps = {max(warn_bps, 200.0)}
"""
    if halt is not None:
        text += f'[risk]\nkill_switch_file = "{halt.name}"\n'
    path = tmp / "daemon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _evening(session: date) -> datetime:
    """After the session's run time (19:15 New York) plus the default 120 minutes of grace."""
    return datetime.combine(session, time(21, 30), NEW_YORK)


def _check(settings: Path, *extra: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "daemon.commands.cli", "--settings", str(settings), "check", *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stderr == "" or "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout


def test_ok_when_the_due_session_is_done_and_textfile_has_the_figures(
    tmp_path: Path, market: tuple[Path, Path, list[date]]
) -> None:
    prices, cfg, sessions = market
    run_sessions(settings_for(tmp_path, prices, cfg), sessions[40:])
    metrics = tmp_path / "textfile" / "pairs_daemon.prom"
    metrics.parent.mkdir()
    code, out = _check(_settings_file(tmp_path, _evening(sessions[-1])), "--textfile", str(metrics))
    assert code == 0, out
    assert out.startswith(f"PAIRS-DAEMON OK - last session {sessions[-1]}")
    assert out.count("\n") == 1 and "| sessions_behind=0 open_alerts=0" in out
    text = metrics.read_text()
    assert "pairs_daemon_check_status 0.0" in text
    assert "pairs_daemon_sessions_behind 0.0" in text
    assert 'pairs_daemon_tracking_attribution_dollars{term="residual"} 0.0' in text
    assert 'pairs_daemon_open_alerts{severity="critical"} 0.0' in text
    assert "pairs_daemon_tracking_difference_bps 0.0" in text
    nowhere = str(tmp_path / "no" / "such" / "dir" / "pairs_daemon.prom")
    code, out = _check(_settings_file(tmp_path, _evening(sessions[-1])), "--textfile", nowhere)
    assert code == 3 and out.startswith("PAIRS-DAEMON UNKNOWN - cannot write --textfile")


def test_warning_one_session_behind_and_critical_two_behind(
    tmp_path: Path, market: tuple[Path, Path, list[date]]
) -> None:
    prices, cfg, sessions = market
    run_sessions(settings_for(tmp_path, prices, cfg), sessions[40:-2])
    code, out = _check(_settings_file(tmp_path, _evening(sessions[-2])))
    assert code == 1, out
    assert f"last session {sessions[-3]}, due {sessions[-2]} (1 behind)" in out
    # Before the due session's run time plus grace, the same state is OK.
    code, out = _check(
        _settings_file(tmp_path, datetime.combine(sessions[-2], time(20, 0), NEW_YORK))
    )
    assert code == 0, out
    code, out = _check(_settings_file(tmp_path, _evening(sessions[-1])))
    assert code == 2, out
    assert out.startswith("PAIRS-DAEMON CRITICAL") and "(2 behind)" in out


def test_open_alerts_set_the_state_and_tracking_beyond_the_threshold_warns(
    tmp_path: Path, market: tuple[Path, Path, list[date]]
) -> None:
    prices, cfg, sessions = market
    halt = tmp_path / "halt"
    settings = settings_for(tmp_path, prices, cfg, risk=RiskSettings(kill_switch_file=halt))
    loose = settings.monitoring.model_copy(update={"tracking_warning_bps": 10_000.0})
    settings = settings.model_copy(update={"monitoring": loose})
    run_sessions(settings, sessions[30:45])
    halt.write_text("maintenance\n")
    run_sessions(settings, sessions[45:-1])
    now = _evening(sessions[-2])
    code, out = _check(_settings_file(tmp_path, now, halt=halt, warn_bps=10_000))
    assert code == 1, out
    assert "1 open alert (trading_halted)" in out
    # Lift the switch: the next session resolves the alert; the blocked trades left the
    # account away from the model, which a tight tracking threshold reports.
    halt.unlink()
    tight = settings_for(tmp_path, prices, cfg).model_copy(
        update={"monitoring": settings.monitoring.model_copy(update={"tracking_warning_bps": 0.01})}
    )
    run_sessions(tight, sessions[-1:])
    code, out = _check(_settings_file(tmp_path, _evening(sessions[-1]), warn_bps=0.01))
    assert code == 1, out
    assert "open alert (tracking_difference)" in out and "beyond 0.01 bps" in out


def test_critical_on_an_open_critical_alert(
    tmp_path: Path, market: tuple[Path, Path, list[date]]
) -> None:
    prices, cfg, sessions = market
    settings = settings_for(tmp_path, prices, cfg)
    run_sessions(settings, sessions[40:-1])
    *head, last = prices.read_text().splitlines()
    day, *closes = last.split(",")
    bad = ",".join([day, *("nan" for _ in closes)])  # no close at all: the session must fail
    prices.write_text("\n".join([*head, bad]) + "\n", encoding="utf-8")
    (result,) = run_sessions(settings, sessions[-1:])
    assert result.status == "failed"
    code, out = _check(_settings_file(tmp_path, _evening(sessions[-2])))
    assert code == 2, out
    assert "open alert (session_failed)" in out


def test_unknown_when_there_is_no_state_or_the_settings_are_broken(tmp_path: Path) -> None:
    (tmp_path / "prices.csv").write_text("date,AAA\n2023-01-02,1.0\n")
    settings = _settings_file(tmp_path, datetime(2023, 1, 3, 21, 30, tzinfo=NEW_YORK))
    code, out = _check(settings)
    assert code == 3 and out.startswith("PAIRS-DAEMON UNKNOWN - no state file")
    settings.write_text("broker = [", encoding="utf-8")
    code, out = _check(settings)
    assert code == 3 and out.startswith("PAIRS-DAEMON UNKNOWN")
