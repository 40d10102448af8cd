"""The monthly re-research units: `systemd-analyze verify` accepts the timer and its service
without a warning, the service's command line is a valid `pairs-research run` whose relative
dates resolve, and the service never writes where the daemon keeps its state."""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from research.cli import build_parser
from research.commands.prices import resolve_date
from tests.integration.test_systemd_unit import directives

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "systemd" / "pairs-research.service"
TIMER = ROOT / "systemd" / "pairs-research.timer"
INSTALLED_EXEC = "/opt/pairs-daemon/.venv/bin/pairs-research"

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def _exec_words() -> list[str]:
    (line,) = directives(SERVICE.read_text(encoding="utf-8"))["Service.ExecStart"]
    words = shlex.split(line)
    assert words[0] == INSTALLED_EXEC
    return [w.replace("${PAIRS_RESEARCH_TICKERS}", "SPY,DIA,QQQ") for w in words[1:]]


@needs_analyze
def test_systemd_analyze_verify_accepts_the_timer_and_its_service(tmp_path: Path) -> None:
    text = SERVICE.read_text(encoding="utf-8").replace(INSTALLED_EXEC, sys.executable)
    (tmp_path / SERVICE.name).write_text(text, encoding="utf-8")
    shutil.copy(TIMER, tmp_path / TIMER.name)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / TIMER.name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # The environment file is optional to verify but named: nothing else may be said.
    assert result.returncode == 0
    assert result.stdout + result.stderr == "", result.stdout + result.stderr


def test_the_service_runs_a_valid_research_command_with_relative_dates() -> None:
    args = build_parser().parse_args(_exec_words())
    assert args.command == "run" and args.tickers == "SPY,DIA,QQQ"
    assert args.base_dir == Path("/var/lib/pairs-research")
    assert isinstance(args.start, date) and isinstance(args.end, date)
    assert (args.end - args.start).days > 5 * 365 - 3


def test_relative_dates_count_back_from_today() -> None:
    today = date(2026, 3, 31)
    assert resolve_date("yesterday", today) == date(2026, 3, 30)
    assert resolve_date("today", today) == today
    assert resolve_date("-30d", today) == date(2026, 3, 1)
    assert resolve_date("-1m", today) == date(2026, 2, 28)  # a month end clamps
    assert resolve_date("-5y", today) == date(2021, 3, 31)
    assert resolve_date("2024-01-31", today) == date(2024, 1, 31)
    with pytest.raises(ValueError):
        resolve_date("-5w", today)


def test_a_bad_date_is_a_clear_argument_error() -> None:
    from research.commands.prices import iso_date

    with pytest.raises(argparse.ArgumentTypeError, match="yesterday, -30d"):
        iso_date("last month")


def test_the_timer_is_monthly_persistent_and_the_service_keeps_to_its_own_directory() -> None:
    timer = directives(TIMER.read_text(encoding="utf-8"))
    assert timer["Timer.OnCalendar"] == ["monthly"] and timer["Timer.Persistent"] == ["true"]
    service = directives(SERVICE.read_text(encoding="utf-8"))
    assert service["Service.StateDirectory"] == ["pairs-research"]
    assert service["Service.ProtectSystem"] == ["strict"]
    assert "pairs-daemon" not in " ".join(service["Service.StateDirectory"])
