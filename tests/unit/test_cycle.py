"""run_once: idempotency, summaries, refusals (config change, second daemon, mismatch, order),
limits (kill switch, dry run, risk), failures logged and recorded, unknown submit outcomes."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from daemon.config.settings import DaemonSettings, RiskSettings
from daemon.core.ports import BrokerOrder, OrderRequest
from daemon.cycle.run import run_once
from daemon.cycle.summary import status_report
from daemon.store import Store
from daemon.store.files import BROKER_DB_NAME
from shared.errors import StateError
from tests.unit.daemon_helpers import (
    log_events,
    make_closes,
    make_config,
    open_context,
    run_sessions,
    settings_for,
    write_inputs,
)

ENTRY_BAR = 20  # both pairs enter on this bar (orders), filled on the next


@pytest.fixture
def env(tmp_path: Path) -> tuple[DaemonSettings, list[date]]:
    closes = make_closes(60)
    prices, cfg = write_inputs(tmp_path, closes, make_config(closes))
    return settings_for(tmp_path, prices, cfg), list(closes.index)


def _broker_orders(settings: DaemonSettings) -> list[tuple[str, str]]:
    conn = sqlite3.connect(settings.state_dir / BROKER_DB_NAME)
    rows = conn.execute("SELECT client_order_id, status FROM orders ORDER BY seq").fetchall()
    conn.close()
    return rows


def test_a_second_run_of_a_completed_session_does_nothing(env: Any) -> None:
    settings, sessions = env
    run_sessions(settings, sessions[: ENTRY_BAR + 1])
    before = _broker_orders(settings)
    logs = io.StringIO()
    (again,) = run_sessions(settings, [sessions[ENTRY_BAR]], logs)
    assert again.status == "already_done"
    assert [e["event"] for e in log_events(logs)] == ["session_already_done"]
    assert _broker_orders(settings) == before and len(before) == 4


def test_each_run_ends_with_one_session_summary(env: Any) -> None:
    settings, sessions = env
    logs = io.StringIO()
    results = run_sessions(settings, sessions[: ENTRY_BAR + 2], logs)
    summaries = [e for e in log_events(logs) if e["event"] == "session_summary"]
    assert len(summaries) == len(results) == ENTRY_BAR + 2
    last = summaries[-1]
    assert last["session"] == sessions[ENTRY_BAR + 1].isoformat()
    assert {
        "equity",
        "day_pnl",
        "drawdown_pct",
        "positions",
        "pairs",
        "run_id",
        "config_id",
    } <= set(last)
    assert len(last["positions"]) == 4  # both pairs' entries filled on this session
    assert [p["pair"] for p in last["pairs"]] == ["AAA/BBB", "CCC/DDD"]
    assert all({"beta", "z", "state", "action"} <= set(p) for p in last["pairs"])
    entry = summaries[ENTRY_BAR]
    assert {p["action"] for p in entry["pairs"]} == {"enter_short", "enter_long"}


def test_a_changed_config_is_refused_with_instructions(env: Any, tmp_path: Path) -> None:
    settings, sessions = env
    run_sessions(settings, sessions[:3])
    payload = json.loads(settings.config.read_text())
    payload["stake"] = 75
    settings.config.write_text(json.dumps(payload))
    (result,) = run_sessions(settings, [sessions[3]])
    assert result.status == "failed"
    assert "config_id" in result.message and "pairs-daemon deploy" in result.message


def test_a_second_daemon_on_the_same_state_dir_is_refused(env: Any) -> None:
    settings, sessions = env
    first = open_context(settings, sessions[0])
    with pytest.raises(StateError, match="another pairs-daemon"):
        open_context(settings, sessions[0])
    first.close()


def test_sessions_run_in_order(env: Any) -> None:
    settings, sessions = env
    run_sessions(settings, sessions[:2])
    (skipped_ahead,) = run_sessions(settings, [sessions[4]])
    assert skipped_ahead.status == "failed"
    assert f"once --session {sessions[2]}" in skipped_ahead.message


def test_bad_data_fails_the_session_and_trades_nothing(env: Any, tmp_path: Path) -> None:
    settings, sessions = env
    run_sessions(settings, sessions[:ENTRY_BAR])
    text = settings.data.csv_path.read_text().splitlines()
    cells = text[ENTRY_BAR + 1].split(",")
    cells[2] = "0"  # BBB's close on the entry session is a bad print (a missing one holds)
    text[ENTRY_BAR + 1] = ",".join(cells)
    settings.data.csv_path.write_text("\n".join(text) + "\n")
    logs = io.StringIO()
    (result,) = run_sessions(settings, [sessions[ENTRY_BAR]], logs)
    assert result.status == "failed" and "BBB" in result.message
    assert _broker_orders(settings) == []
    failed = [e for e in log_events(logs) if e["event"] == "session_failed"]
    assert failed and failed[0]["session"] == sessions[ENTRY_BAR].isoformat()
    store = Store.open(settings.state_dir, read_only=True)
    report = status_report(store)
    store.close()
    assert "BBB" in report["last_error"]["message"]


def test_a_position_the_store_cannot_explain_stops_trading(env: Any) -> None:
    settings, sessions = env
    run_sessions(settings, sessions[:3])
    conn = sqlite3.connect(settings.state_dir / BROKER_DB_NAME)
    conn.execute("INSERT INTO positions (symbol, quantity) VALUES ('AAA', 13)")
    conn.commit()
    conn.close()
    (result,) = run_sessions(settings, [sessions[3]])
    assert result.status == "failed"
    assert "AAA: store expects +0, broker has +13" in result.message


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"dry_run": True}, "dry run"),
        ({"risk": RiskSettings(kill_switch=True)}, "kill switch"),
        ({"risk": RiskSettings(max_order_notional=100.0)}, "max_order_notional"),
        ({"risk": RiskSettings(max_gross_exposure=1_000.0)}, "max_gross_exposure"),
    ],
)
def test_blocked_decisions_send_nothing_and_keep_the_pair_flat(
    env: Any, kw: dict[str, Any], reason: str
) -> None:
    settings, sessions = env
    settings = settings.model_copy(update=kw)
    logs = io.StringIO()
    results = run_sessions(settings, sessions[: ENTRY_BAR + 2], logs)
    assert all(r.status == "completed" for r in results)
    assert _broker_orders(settings) == []
    store = Store.open(settings.state_dir, read_only=True)
    intents = store.intents(sessions[ENTRY_BAR])
    decisions = store.decisions(sessions[ENTRY_BAR])
    store.close()
    assert intents and all(i.status == "blocked" and reason in (i.message or "") for i in intents)
    # Nothing was filled, so the signal state stays flat and may enter again later.
    assert [d.state for d in decisions] == [0, 0]
    assert all(reason in (d.blocked or "") for d in decisions)


def test_exits_are_not_blocked_by_risk_limits(env: Any) -> None:
    settings, sessions = env
    run_sessions(settings, sessions[:25])  # CCC/DDD entered at bar 20 and exits at bar 24
    limited = settings.model_copy(update={"risk": RiskSettings(max_order_notional=1.0)})
    run_sessions(limited, sessions[25:30])  # ...and AAA/BBB exits at bar 28
    orders = dict(_broker_orders(settings))
    exit_ids = [cid for cid in orders if f"-{sessions[28]:%Y%m%d}-p0-" in cid]
    assert exit_ids and all(orders[c] == "filled" for c in exit_ids)
    store = Store.open(settings.state_dir, read_only=True)
    blocked_entry = [i for i in store.intents(sessions[28]) if i.status == "blocked"]
    store.close()
    assert blocked_entry  # CCC/DDD's new entry on bar 28 was blocked


class FlakyBroker:
    """Wraps a broker: the first submit raises, either before or after placing the order."""

    def __init__(self, inner: Any, placed: bool) -> None:
        self._inner, self._placed, self.failed = inner, placed, False
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def submit(self, request: OrderRequest) -> BrokerOrder:
        if not self.failed:
            self.failed = True
            if self._placed:
                self._inner.submit(request)
            raise TimeoutError("read timed out")
        return self._inner.submit(request)


@pytest.mark.parametrize("placed", [True, False])
def test_an_unknown_submit_outcome_is_resolved_by_client_id(env: Any, placed: bool) -> None:
    settings, sessions = env
    run_sessions(settings, sessions[:ENTRY_BAR])
    ctx = open_context(settings, sessions[ENTRY_BAR])
    ctx.broker = FlakyBroker(ctx.broker, placed)
    result = run_once(ctx, sessions[ENTRY_BAR])
    ctx.close()
    if placed:  # the order reached the broker: found by its id, not sent again
        assert result.status == "completed"
    else:  # not at the broker: the session fails and its re-run sends it
        assert result.status == "failed" and "next run" in result.message
        (rerun,) = run_sessions(settings, [sessions[ENTRY_BAR]])
        assert rerun.status == "completed"
    ids = [cid for cid, _ in _broker_orders(settings)]
    assert len(ids) == len(set(ids)) == 4


def test_go_live_setting_observes_without_trading_before_it(env: Any) -> None:
    settings, sessions = env
    settings = settings.model_copy(update={"go_live": sessions[ENTRY_BAR + 1]})
    run_sessions(settings, sessions[: ENTRY_BAR + 1])
    assert _broker_orders(settings) == []
    store = Store.open(settings.state_dir, read_only=True)
    assert {d.action for d in store.decisions(sessions[ENTRY_BAR])} == {"warming_up"}
    store.close()


def test_status_reports_equity_positions_pairs_and_open_orders(env: Any) -> None:
    settings, sessions = env
    run_sessions(settings, sessions[: ENTRY_BAR + 1])
    store = Store.open(settings.state_dir, read_only=True)
    report = status_report(store)
    store.close()
    assert report["last_completed_session"] == sessions[ENTRY_BAR].isoformat()
    assert report["equity"]["equity"] == pytest.approx(100_000.0)
    assert len(report["open_intents"]) == 4
    assert [p["action"] for p in report["pairs"]] == ["enter_short", "enter_long"]


def test_a_lost_pair_state_is_rebuilt_from_stored_bars_and_fills(env: Any, tmp_path: Path) -> None:
    settings, sessions = env
    run_sessions(settings, sessions[:40])  # AAA/BBB is in a trade after session 39
    # Forget the saved per-pair state of the last session: the next run must rebuild it by
    # replaying the stored bars, stepping with the positions the recorded fills imply.
    conn = sqlite3.connect(settings.state_dir / "pairs_daemon.sqlite")
    conn.execute("DELETE FROM decisions WHERE session = ?", (sessions[39].isoformat(),))
    conn.commit()
    conn.close()
    fresh = settings_for(tmp_path / "again", settings.data.csv_path, settings.config)
    run_sessions(fresh, sessions[:41])
    (result,) = run_sessions(settings, [sessions[40]])
    assert result.status == "completed"
    a = Store.open(settings.state_dir, read_only=True)
    b = Store.open(fresh.state_dir, read_only=True)
    got = [(d.pair_state, d.action) for d in a.decisions(sessions[40])]
    ref = [(d.pair_state, d.action) for d in b.decisions(sessions[40])]
    assert got == ref and a.fills() == b.fills()
    a.close()
    b.close()
