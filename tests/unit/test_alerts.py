"""Alerts raised by the cycle: an ``alert`` event with a stable code and a severity, stored in
the state file, open until a later session completes."""

from __future__ import annotations

import io
import sqlite3
from datetime import date
from pathlib import Path

from daemon.monitoring.alerts import AlertCode, Severity, alerts, raise_alert
from daemon.store import Store
from daemon.store.files import BROKER_DB_NAME
from tests.unit.daemon_helpers import (
    log_events,
    make_closes,
    make_config,
    run_sessions,
    settings_for,
    write_inputs,
)


def _setup(tmp_path: Path) -> tuple[object, list[date]]:
    closes = make_closes(60, seed=5)
    prices, cfg = write_inputs(tmp_path, closes, make_config(closes))
    return settings_for(tmp_path, prices, cfg), list(closes.index)


def test_every_code_is_a_stable_string_with_a_default_severity() -> None:
    assert [c.value for c in AlertCode] == [
        "session_failed",
        "session_deferred",
        "trading_halted",
        "tracking_difference",
        "stale_feed",
        "missing_leg",
        "leg_delisted",
        "reconcile_mismatch",
        "corporate_action_mismatch",
        "corporate_actions_unavailable",
        "pair_unbalanced",
        "unaccounted_position",
        "split_not_booked",
        "pair_degraded",
    ]
    assert AlertCode.SESSION_FAILED.default_severity is Severity.CRITICAL
    assert AlertCode.STALE_FEED.default_severity is Severity.WARNING
    assert AlertCode.PAIR_UNBALANCED.default_severity is Severity.CRITICAL
    assert AlertCode.UNACCOUNTED_POSITION.default_severity is Severity.CRITICAL
    assert AlertCode.SPLIT_NOT_BOOKED.default_severity is Severity.WARNING
    assert AlertCode.PAIR_DEGRADED.default_severity is Severity.WARNING


def test_a_reconcile_mismatch_raises_two_critical_alerts_until_a_session_completes(
    tmp_path: Path,
) -> None:
    settings, sessions = _setup(tmp_path)
    run_sessions(settings, sessions[30:33])
    book = sqlite3.connect(settings.state_dir / BROKER_DB_NAME)  # type: ignore[attr-defined]
    book.execute("INSERT INTO positions (symbol, quantity) VALUES ('AAA', 13)")
    book.commit()
    logs = io.StringIO()
    (result,) = run_sessions(settings, [sessions[33]], logs)
    assert result.status == "failed"
    raised = [e for e in log_events(logs) if e["event"] == "alert"]
    assert [(e["code"], e["severity"], e["level"]) for e in raised] == [
        ("reconcile_mismatch", "critical", "critical"),
        ("session_failed", "critical", "critical"),
    ]
    assert all(e["session"] == sessions[33].isoformat() for e in raised)
    store = Store.open(settings.state_dir, read_only=True)  # type: ignore[attr-defined]
    try:
        assert [a.code for a in alerts(store, open_only=True)] == [
            "reconcile_mismatch",
            "session_failed",
        ]
    finally:
        store.close()
    # The operator removes the stray position; the next completed session resolves both.
    book.execute("UPDATE positions SET quantity = quantity - 13 WHERE symbol = 'AAA'")
    book.commit()
    book.close()
    (again,) = run_sessions(settings, [sessions[33]])
    assert again.status == "completed", again.message
    store = Store.open(settings.state_dir, read_only=True)  # type: ignore[attr-defined]
    try:
        assert alerts(store, open_only=True) == []
        assert len(alerts(store)) == 2
    finally:
        store.close()


def test_raise_alert_is_one_call_and_never_raises_without_a_store() -> None:
    out = io.StringIO()
    from daemon.infra.logging import make_logger

    log = make_logger("json", out, session="2025-03-14")
    raise_alert(None, log, AlertCode.STALE_FEED, "no bar for SPY", symbol="SPY")
    (event,) = log_events(out)
    assert event["event"] == "alert" and event["code"] == "stale_feed"
    assert event["severity"] == "warning" and event["level"] == "warning"
    assert event["symbol"] == "SPY" and event["stored"] is False


def test_a_stale_feed_raises_its_own_alert_beside_session_failed(tmp_path: Path) -> None:
    settings, sessions = _setup(tmp_path)
    run_sessions(settings, sessions[40:42])
    logs = io.StringIO()
    after = date.fromordinal(sessions[-1].toordinal() + 3)  # a day the feed has no bar for yet
    (result,) = run_sessions(settings, [after], logs)
    assert result.status == "failed" and "stale feed" in result.message
    raised = [(e["code"], e["severity"]) for e in log_events(logs) if e["event"] == "alert"]
    assert raised == [("stale_feed", "warning"), ("session_failed", "critical")]


def test_a_missing_leg_raises_its_alert_naming_the_symbol(tmp_path: Path) -> None:
    settings, sessions = _setup(tmp_path)
    prices = settings.data.csv_path  # type: ignore[attr-defined]
    frame = prices.read_text().splitlines()
    header = frame[0].split(",")
    drop = header.index("DDD")
    prices.write_text(
        "\n".join(",".join(c for i, c in enumerate(r.split(",")) if i != drop) for r in frame)
        + "\n"
    )
    logs = io.StringIO()
    (result,) = run_sessions(settings, [sessions[40]], logs)
    assert result.status == "failed"
    (missing,) = [e for e in log_events(logs) if e.get("code") == "missing_leg"]
    assert missing["symbol"] == "DDD" and missing["severity"] == "warning"
