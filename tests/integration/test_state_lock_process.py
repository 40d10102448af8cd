"""One service per store, between real processes: ``pairs-daemon run`` holds its state directory;
deleting ``daemon.lock`` under it does not let a second ``run`` or ``once`` in (the lock is on
the directory itself); read-only commands still work; once the first one has stopped, the
second starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from daemon.store.files import LOCK_NAME
from tests.integration.test_operations_daemon import (
    FIRST_RUN,
    N_BARS,
    ROOT,
    _settings_file,
    _setup,
    evening_after,
)
from tests.unit.daemon_helpers import make_closes


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    return make_closes(N_BARS, seed=3)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    return {**env, "PYTHONPATH": str(ROOT)}


def _command(toml: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "daemon.commands.cli", "--settings", str(toml), *args]


def _cli(toml: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            _command(toml, *args),
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=_env(),
            timeout=45,
            check=False,
        )
    except subprocess.TimeoutExpired:  # killed by subprocess.run
        pytest.fail(f"pairs-daemon {' '.join(args)} was let in: it ran on the held store")


def test_deleting_the_lock_file_does_not_let_a_second_daemon_in(
    tmp_path: Path, closes: pd.DataFrame
) -> None:
    settings = _setup(tmp_path, closes)
    session = closes.index[FIRST_RUN]
    toml = _settings_file(tmp_path, settings, evening_after(session))
    marker = settings.state_dir / LOCK_NAME
    service = subprocess.Popen(
        _command(toml, "run"),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and service.poll() is None:
            if marker.exists() and marker.read_text().strip() == str(service.pid):
                break
            time.sleep(0.05)
        assert service.poll() is None, service.stderr.read() if service.stderr else ""

        marker.unlink()  # what an operator "clearing a stale lock" does
        for args in (("run",), ("once", "--session", session.isoformat())):
            second = _cli(toml, *args)
            assert second.returncode == 2, (args, second.stdout, second.stderr)
            message = second.stderr
            assert "another pairs-daemon" in message and str(settings.state_dir) in message
            assert "stop it first" in message and f"deleting {LOCK_NAME} does not" in message
            if Path("/proc/locks").exists():  # the holder is found without the marker
                assert f"(pid {service.pid})" in message
        assert not marker.exists()  # the refused processes changed nothing
        status = _cli(toml, "status")  # read-only commands need no lock
        assert status.returncode == 0, status.stderr
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=60)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
    assert service.returncode == 0

    # The first one is gone: the next one starts, and marks the directory again.
    after = _cli(toml, "once", "--session", session.isoformat())
    assert after.returncode == 0, after.stdout + after.stderr
    assert "another pairs-daemon" not in after.stderr
    assert marker.read_text().strip().isdigit()
