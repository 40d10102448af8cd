"""Run ``pairs-daemon`` as a real process against the in-process Alpaca-compatible server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from daemon.config.settings import DaemonSettings
from tests.alpaca_server.harness import Harness

ROOT = Path(__file__).resolve().parents[2]


def write_settings(path: Path, settings: DaemonSettings, harness: Harness) -> Path:
    url = harness.server.url
    path.write_text(
        f'config = "{settings.config}"\nstate_dir = "{settings.state_dir}"\n\n'
        '[broker]\nkind = "alpaca"\ntime_in_force = "cls"\n\n'
        '[data]\nfeed = "alpaca"\ncalendar_check = false\n\n'
        f'[alpaca]\ntrading_url = "{url}"\ndata_url = "{url}"\ntimeout_s = 5.0\n',
        encoding="utf-8",
    )
    return path


def pairs_daemon(
    toml: Path, harness: Harness, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or harness.env)}
    return subprocess.run(
        [sys.executable, "-m", "daemon.commands.cli", "--settings", str(toml), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environ,
        timeout=180,
        check=False,
    )


def log_events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def plain_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line and not line.startswith("{")]
