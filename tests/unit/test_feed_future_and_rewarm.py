"""Rows from the future are never sessions; ``rewarm`` puts the strategy on corrected bars."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from daemon.commands.app import latest_session
from daemon.commands.rewarm import rewarm
from daemon.cycle.run import run_once
from daemon.feeds.reports import REWARM_META
from daemon.store import Store
from tests.unit.daemon_helpers import (
    log_events,
    make_closes,
    make_config,
    open_context,
    run_sessions,
    settings_for,
    write_inputs,
)

N_BARS = 45


def test_a_row_dated_in_the_future_is_not_run_and_later_sessions_still_are(
    tmp_path: Path,
) -> None:
    closes = make_closes(N_BARS)
    future = date(2030, 1, 2)
    with_future = pd.concat([closes, closes.iloc[[-1]].set_axis([future])])
    prices, cfg = write_inputs(tmp_path, with_future, make_config(closes))
    settings = settings_for(tmp_path, prices, cfg)
    sessions = list(closes.index)
    assert all(r.status == "completed" for r in run_sessions(settings, sessions[:30]))
    logs = io.StringIO()
    ctx = open_context(settings, sessions[30], logs=logs)
    try:
        assert latest_session(ctx) == sessions[30]  # the clock's today, not 2030
        refused = run_once(ctx, future)
    finally:
        ctx.close()
    assert refused.status == "failed" and "after today" in refused.message
    events = log_events(logs)
    assert {e["event"] for e in events if e["level"] == "error"} >= {"bar_refused"}
    later = run_sessions(settings, sessions[30:])
    assert all(r.status == "completed" for r in later)


def test_rewarm_replaces_the_stored_history_and_the_next_session_rebuilds_on_it(
    tmp_path: Path,
) -> None:
    closes = make_closes(N_BARS)
    prices, cfg = write_inputs(tmp_path, closes, make_config(closes))
    settings = settings_for(tmp_path, prices, cfg)
    sessions = list(closes.index)
    run_sessions(settings, sessions[:35])
    corrected = closes.copy()
    corrected.iloc[10, 0] += 0.5  # the vendor restated an old bar
    corrected["BBB"] *= 0.98  # and re-adjusted a ticker for a dividend
    corrected.rename_axis("date").to_csv(prices)
    logs = io.StringIO()
    run_sessions(settings, sessions[35:36], logs)
    assert [e["event"] for e in log_events(logs)].count("bars_revised") == 1

    ctx = open_context(settings, sessions[35])
    try:
        report = rewarm(ctx)
    finally:
        ctx.close()
    assert report.sessions_after == 36
    assert len(report.comparisons["AAA"].restated) == 1
    assert report.comparisons["BBB"].factor == pytest.approx(0.98, rel=1e-12)

    store = Store.open(settings.state_dir, read_only=True)
    try:
        stored = store.bars(["AAA", "BBB"])
        assert stored.iloc[10, 0] == pytest.approx(corrected.iloc[10, 0])
        assert stored.iloc[20, 1] == pytest.approx(corrected.iloc[20, 1])
        assert store.revisions() == [] and store.get_meta(REWARM_META)
    finally:
        store.close()
    logs = io.StringIO()
    after = run_sessions(settings, sessions[36:], logs)
    assert all(r.status == "completed" for r in after)
    events = [e["event"] for e in log_events(logs)]
    assert "bars_rescaled" not in events and "bars_revised" not in events
    store = Store.open(settings.state_dir, read_only=True)
    try:
        assert not store.get_meta(REWARM_META)
    finally:
        store.close()
