"""A crash between any two steps of the cycle, then a re-run: exactly one broker order per
intent, a consistent store, and the same fills and equity as a run that never crashed."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from daemon.commands.replay import replay_report
from daemon.config.settings import DaemonSettings
from daemon.cycle.run import run_once
from daemon.store.files import BROKER_DB_NAME
from tests.unit.daemon_helpers import (
    make_closes,
    make_config,
    open_context,
    run_sessions,
    settings_for,
    write_inputs,
)

CRASH_BAR = 29  # fills from bar 28's orders arrive and new orders are decided on this bar
LAST_BAR = 32


class Crash(BaseException):
    """Not an Exception: run_once must not catch it, like a SIGKILL mid-cycle."""


def _setup(tmp_path: Path) -> tuple[DaemonSettings, list]:
    closes = make_closes(60)
    prices, cfg = write_inputs(tmp_path, closes, make_config(closes))
    return settings_for(tmp_path, prices, cfg), list(closes.index[: LAST_BAR + 1])


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A state directory after CRASH_BAR - 1 sessions, and the uncrashed run's final report."""
    tmp = tmp_path_factory.mktemp("baseline")
    settings, sessions = _setup(tmp)
    run_sessions(settings, sessions[:CRASH_BAR])
    snapshot = tmp / "snapshot"
    shutil.copytree(settings.state_dir, snapshot)
    assert all(r.status == "completed" for r in run_sessions(settings, sessions[CRASH_BAR:]))
    return snapshot, replay_report(settings.state_dir)


STEPS = [
    "started",
    "bars_stored",
    "settled",
    "reconciled",
    "decided",
    "sent:1",  # the first order reached the broker, the store has not recorded it
    "sent:2",
    "submitted",
    "completed",
]


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_any_step_then_a_rerun_sends_each_order_once(
    tmp_path: Path, baseline: tuple[Path, dict], step: str
) -> None:
    snapshot, expected = baseline
    settings, sessions = _setup(tmp_path)
    shutil.copytree(snapshot, settings.state_dir)
    session = sessions[CRASH_BAR]
    sent: list[str] = []

    def crash(name: str) -> None:
        if name.startswith("sent:"):
            sent.append(name)
            name = f"sent:{len(sent)}"
        if name == step:
            raise Crash(step)

    ctx = open_context(settings, session, checkpoint=crash)
    with pytest.raises(Crash):
        run_once(ctx, session)
    ctx.close()
    results = run_sessions(settings, sessions[CRASH_BAR:])
    expected_first = "already_done" if step == "completed" else "completed"
    assert [r.status for r in results] == [expected_first] + ["completed"] * (len(results) - 1)

    got = replay_report(settings.state_dir)
    assert got["fills"] == expected["fills"]
    assert got["equity"] == expected["equity"]
    assert got["orders"] == expected["orders"]
    book = sqlite3.connect(settings.state_dir / BROKER_DB_NAME)
    ids = [r[0] for r in book.execute("SELECT client_order_id FROM orders")]
    book.close()
    assert len(ids) == len(set(ids)) == len(expected["orders"])
