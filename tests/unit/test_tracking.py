"""The shadow model and the tracking attribution, replayed on the local paper broker.

The local broker fills with the research fill model, so paper and model must agree to the last
bit at every session (every attribution term exactly 0), and the model must be the research
backtest from go-live. When the daemon does not send what the model trades (a kill switch
blocks the orders), the difference is all in ``unfilled`` and the terms still add up.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from daemon.commands.replay import replay, replay_settings
from daemon.config.settings import RiskSettings
from daemon.cycle.summary import status_report
from daemon.monitoring.alerts import alerts
from daemon.monitoring.shadow import model_orders
from daemon.monitoring.tracking import tracking_rows
from daemon.store import Store
from shared.simulation import simulate
from tests.unit.daemon_helpers import (
    log_events,
    make_closes,
    make_config,
    read_closes,
    run_sessions,
    settings_for,
    write_inputs,
)

GO_LIVE = 47
TERMS = ("slippage", "commission", "dividends", "unfilled", "residual")


@pytest.mark.parametrize("initial_cash", [100_000.0, 2_000.0], ids=["cash", "margin-rejections"])
def test_replay_on_the_local_broker_tracks_the_model_exactly_at_every_session(
    tmp_path: Path, initial_cash: float
) -> None:
    closes = make_closes(100, seed=11)
    config = make_config(closes, initial_cash=initial_cash)
    prices, cfg = write_inputs(tmp_path, closes, config)
    closes = read_closes(prices)
    settings = replay_settings(prices, cfg, tmp_path / "state")
    report = replay(settings, closes.index[GO_LIVE], closes.index[-1], io.StringIO(), False)
    assert report["failed"] is None and len(report["fills"]) > 0
    store = Store.open(tmp_path / "state", read_only=True)
    try:
        rows = tracking_rows(store)
        orders = model_orders(store)
    finally:
        store.close()
    assert [r.session for r in rows] == list(closes.index[GO_LIVE:])
    for row in rows:
        assert row.paper_equity == row.model_equity
        assert row.difference == 0.0 and row.day_difference == 0.0
        assert row.attribution == dict.fromkeys(TERMS, 0.0)
    # The model is the research backtest with trading from go-live.
    sim = simulate(
        closes.to_numpy(),
        list(closes.columns),
        config.pair_list,
        config.params,
        config.initial_cash,
        config.commission,
        trade_from_bar=GO_LIVE,
    )
    assert [r.model_equity for r in rows] == pytest.approx(list(sim.values[GO_LIVE:]), rel=1e-12)
    filled = [o for o in orders if o.filled_quantity]
    assert len(filled) == len(sim.fills)
    if initial_cash < 10_000:
        assert any(o.status == "rejected" for o in orders), "meant to exercise margin rejections"


def test_blocked_orders_are_unfilled_model_trades_and_the_terms_add_up(tmp_path: Path) -> None:
    closes = make_closes(120, seed=11)
    config = make_config(closes, commission=0.001)
    prices, cfg = write_inputs(tmp_path, closes, config)
    switch = tmp_path / "halt"
    settings = settings_for(
        tmp_path, prices, cfg, risk=RiskSettings(kill_switch_file=switch), go_live=closes.index[30]
    )
    sessions = list(closes.index[30:])
    logs = io.StringIO()
    run_sessions(settings, sessions[:40], logs)
    switch.write_text("halt\n")
    run_sessions(settings, sessions[40:], logs)
    store = Store.open(tmp_path / "state", read_only=True)
    try:
        rows = tracking_rows(store)
        blocked = [i for i in store.intents() if i.status == "blocked"]
        stored = alerts(store)
        status = status_report(store)
    finally:
        store.close()
    assert blocked, "the kill switch should have blocked at least one decision"
    last = rows[-1]
    assert last.difference != 0.0
    assert sum(last.attribution.values()) == pytest.approx(last.difference, abs=1e-9)
    assert last.attribution["unfilled"] == pytest.approx(last.difference, abs=1e-9)
    for term in ("slippage", "commission", "dividends"):
        assert last.attribution[term] == 0.0
    assert abs(last.attribution["residual"]) < 1e-9
    assert last.difference_bps == pytest.approx(1e4 * last.difference / last.model_equity)
    assert status["tracking"]["difference"] == last.difference  # status --json
    # The kill switch is one open trading_halted alert, updated by every halted session.
    (halted,) = [a for a in stored if a.code == "trading_halted"]
    assert halted.resolved_at is None and halted.session == sessions[-1]
    events = log_events(logs)
    summaries = [e for e in events if e["event"] == "session_summary"]
    assert summaries[-1]["tracking"]["difference"] == last.difference
    assert set(summaries[-1]["tracking"]["attribution"]) == set(TERMS)
    said = [e for e in events if e["event"] == "alert" and e["code"] == "trading_halted"]
    assert len(said) == len(sessions) - 40  # the journal hears it every halted session


def test_sessions_before_go_live_carry_no_tracking(tmp_path: Path) -> None:
    closes = make_closes(60, seed=3)
    prices, cfg = write_inputs(tmp_path, closes, make_config(closes))
    settings = settings_for(tmp_path, prices, cfg, go_live=closes.index[45])
    logs = io.StringIO()
    run_sessions(settings, list(closes.index[40:50]), logs)
    summaries = [e for e in log_events(logs) if e["event"] == "session_summary"]
    assert [s["tracking"] is None for s in summaries] == [True] * 5 + [False] * 5
    assert summaries[5]["tracking"]["model_equity"] == 100_000.0


def test_a_store_from_before_monitoring_starts_tracking_level_with_the_paper_account(
    tmp_path: Path,
) -> None:
    closes = make_closes(100, seed=11)
    prices, cfg = write_inputs(tmp_path, closes, make_config(closes))
    settings = settings_for(tmp_path, prices, cfg)
    sessions = list(closes.index[40:])
    cut = 0
    while cut == 0 or not _holds(tmp_path):  # upgrade while positions are held
        run_sessions(settings, [sessions[cut]])
        cut += 1
    store = Store.open(tmp_path / "state", durable=False)
    try:
        with store.transaction():  # what a store written before the monitoring tables holds
            for table in ("model_sessions", "model_orders", "tracking"):
                store.sql(f"DELETE FROM {table}")
    finally:
        store.close()
    run_sessions(settings, sessions[cut:])
    store = Store.open(tmp_path / "state", read_only=True)
    try:
        rows = tracking_rows(store)
    finally:
        store.close()
    assert [r.session for r in rows] == sessions[cut:]
    assert any(r.paper_equity != 100_000.0 for r in rows)
    assert all(r.difference == 0.0 for r in rows)
    assert all(r.attribution == dict.fromkeys(TERMS, 0.0) for r in rows)


def _holds(tmp_path: Path) -> bool:
    store = Store.open(tmp_path / "state", read_only=True)
    try:
        return bool(store.expected_positions())
    finally:
        store.close()
