"""`pairs-daemon run` as a real process: systemd notifications on a fake NOTIFY_SOCKET, the
scheduler firing, a catch-up across a restart, SIGTERM ending in exit 0, JSON-line logs.

The clock is frozen through the settings' ``[clock] fixed_now`` so the sessions each process
finds due are known; the schedule fires every second (``[schedule] interval_s``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from daemon.store import Store
from daemon.timing.sessions import is_session
from tests.unit.daemon_helpers import make_closes, make_config, write_inputs

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0


@dataclass
class Daemon:
    """A running service process, its stdout lines and the datagrams it sent."""

    proc: subprocess.Popen[str]
    sock: socket.socket
    lines: list[str] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines)]

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["event"] == event]

    def drain(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            self.messages.append(dict(f.split("=", 1) for f in data.decode().split("\n")))

    def sent(self, key: str) -> list[dict[str, str]]:
        self.drain()
        return [m for m in self.messages if key in m]

    def wait_for(self, what: str, check: Callable[[], bool]) -> None:
        end = time.monotonic() + DEADLINE_S
        while time.monotonic() < end:
            if check():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"timed out waiting for {what}; stdout so far:\n" + "\n".join(self.lines)
        )


def command() -> list[str]:
    script = Path(sys.executable).parent / "pairs-daemon"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "daemon.commands.cli"]


@pytest.fixture
def notify_socket() -> Iterator[tuple[str, socket.socket]]:
    # An abstract-namespace socket, as systemd may hand out: no path-length limit, no file.
    name = f"pairs-daemon-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.setblocking(False)
    yield f"@{name}", sock
    sock.close()


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path, list[date]]:
    # Synthetic cointegrated closes restricted to real NYSE sessions: with the calendar check
    # on (as for a real feed) the scheduler asks the XNYS calendar which sessions are due.
    closes = make_closes(n_bars=120, start="2024-01-02")
    closes = closes.loc[[is_session(d) for d in closes.index]]
    prices, config = write_inputs(tmp_path, closes, make_config(closes))
    return prices, config, list(closes.index)


def write_settings(tmp_path: Path, prices: Path, config: Path, now: date) -> Path:
    path = tmp_path / f"daemon-{now.isoformat()}.toml"
    path.write_text(
        f'config = "{config}"\n'
        f'state_dir = "{tmp_path / "state"}"\n'
        "[data]\n"
        'feed = "csv"\n'
        f'csv_path = "{prices}"\n'
        "calendar_check = true\n"
        "[schedule]\n"
        "interval_s = 1\n"
        "[clock]\n"
        f"fixed_now = {now.isoformat()}T20:00:00-04:00\n",
        encoding="utf-8",
    )
    return path


def start(settings: Path, notify: tuple[str, socket.socket]) -> Daemon:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    env.update(NOTIFY_SOCKET=notify[0], WATCHDOG_USEC="1000000", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [*command(), "--settings", str(settings), "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    daemon = Daemon(proc, notify[1])
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: daemon.lines.extend(stdout), daemon=True).start()
    return daemon


def stop(daemon: Daemon) -> None:
    """SIGTERM, and a kill if it has not ended within the deadline."""
    try:
        if daemon.proc.poll() is None:
            daemon.proc.send_signal(signal.SIGTERM)
            daemon.proc.wait(timeout=DEADLINE_S)
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()


def run_until_fired(settings: Path, notify: tuple[str, socket.socket], ticks: int) -> Daemon:
    """Start, wait for READY, a watchdog ping and ``ticks`` scheduler ticks, then SIGTERM."""
    daemon = start(settings, notify)
    try:
        daemon.wait_for("READY=1", lambda: bool(daemon.sent("READY")))
        daemon.wait_for("WATCHDOG=1", lambda: bool(daemon.sent("WATCHDOG")))
        daemon.wait_for(f"{ticks} ticks", lambda: len(daemon.named("schedule_tick")) >= ticks)
    finally:
        stop(daemon)
    assert daemon.proc.stderr is not None
    stderr = daemon.proc.stderr.read()
    assert daemon.proc.returncode == 0, stderr
    return daemon


def test_the_service_runs_catches_up_after_a_restart_and_stops_cleanly(
    tmp_path: Path, notify_socket: tuple[str, socket.socket], inputs: tuple[Path, Path, list[date]]
) -> None:
    prices, config, sessions = inputs
    first_day, last_day = sessions[-4], sessions[-1]

    # First start on a fresh store: only the latest closed session runs; later fires idle.
    first = run_until_fired(write_settings(tmp_path, prices, config, first_day), notify_socket, 3)
    ready = first.sent("READY")[0]
    assert ready["MAINPID"] == str(first.proc.pid)
    assert first.sent("STOPPING")
    assert first.sent("STATUS")
    ticks = first.named("schedule_tick")
    assert ticks[0]["action"] == "run" and ticks[0]["due"] == [first_day.isoformat()]
    assert {t["action"] for t in ticks[1:]} == {"nothing_due"}

    # Three sessions later: the start-up catch-up runs the missed ones in order.
    second = run_until_fired(write_settings(tmp_path, prices, config, last_day), notify_socket, 1)
    catch_up = second.named("schedule_tick")[0]
    assert catch_up["last_completed"] == first_day.isoformat()
    assert catch_up["due"] == [d.isoformat() for d in sessions[-3:]]
    summaries = second.named("session_summary")
    assert [s["session"] for s in summaries] == [d.isoformat() for d in sessions[-3:]]

    store = Store.open(tmp_path / "state", read_only=True)
    try:
        runs = store.runs()
    finally:
        store.close()
    assert [(r.session, r.status) for r in runs] == [(d, "completed") for d in sessions[-4:]]

    events = [e["event"] for e in second.events()]
    assert events[0] == "clock_fixed"
    assert "service_ready" in events
    (loaded,) = second.named("config_loaded")
    assert loaded["config_id"] and loaded["pairs"] and "evidence" in loaded
    assert events[-2:] == ["service_stopping", "service_stopped"]
    assert all("timestamp" in e and "level" in e for e in second.events())


def test_deploy_works_beside_the_running_service_and_its_next_session_hands_over(
    tmp_path: Path, notify_socket: tuple[str, socket.socket], inputs: tuple[Path, Path, list[date]]
) -> None:
    """``deploy`` only reads the store, so it runs while the service holds the state
    directory's lock; the service's next session takes the request in and hands over."""
    prices, config, sessions = inputs
    day, next_day = sessions[-2], sessions[-1]
    closes = make_closes(n_bars=120, start="2024-01-02")
    candidate = make_config(closes, stake=20)
    candidate_path = tmp_path / "candidate.json"
    candidate_path.write_text(json.dumps(candidate.model_dump(mode="json")), encoding="utf-8")
    loose = "[promotion]\nmin_dsr = 0\nmax_pbo = 1\nmin_oos_sharpe = -1\nmin_trades = 0\n"
    settings = write_settings(tmp_path, prices, config, day)
    daemon = start(settings, notify_socket)
    try:
        daemon.wait_for("a session", lambda: bool(daemon.named("session_summary")))
        with_gates = settings.with_name("deploy.toml")
        with_gates.write_text(settings.read_text(encoding="utf-8") + loose, encoding="utf-8")
        done = subprocess.run(
            [*command(), "--settings", str(with_gates), "deploy", str(candidate_path), "--force"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "state" / "deploy_request.json").exists()
    finally:
        stop(daemon)
    later = run_until_fired(write_settings(tmp_path, prices, config, next_day), notify_socket, 1)
    (handover,) = later.named("config_handover")
    assert handover["session"] == next_day.isoformat()
    assert handover["config_id"] == candidate.config_id
    assert [row["action"] for row in handover["plan"]] == ["change", "change"]
