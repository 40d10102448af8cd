"""The cycle keeps the strategy on the stored scale when the feed re-adjusts its history."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from daemon.commands.replay import replay_report
from tests.unit.daemon_helpers import (
    log_events,
    make_closes,
    make_config,
    read_closes,
    run_sessions,
    settings_for,
    write_inputs,
)

SWITCH = 24  # the feed re-adjusts AAA's whole history after this many sessions
N_BARS = 40


def _run(tmp_path: Path, factor: float | None, rewrite_one: bool = False) -> tuple[dict, list]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    closes = make_closes(N_BARS)
    prices, cfg = write_inputs(tmp_path, closes, make_config(closes))
    settings = settings_for(tmp_path, prices, cfg)
    sessions = list(closes.index)
    results = run_sessions(settings, sessions[:SWITCH])
    logs = io.StringIO()
    if factor is not None:
        adjusted = read_closes(prices)
        adjusted["AAA"] = adjusted["AAA"] * factor  # a dividend: every close, old and new
        if rewrite_one:
            adjusted.iloc[3, 0] *= 1.01  # one past bar changed by something else
        adjusted.rename_axis("date").to_csv(prices)
    results += run_sessions(settings, sessions[SWITCH:], logs)
    return replay_report(settings.state_dir), [*results, log_events(logs)]


def test_a_constant_readjustment_changes_nothing_on_the_local_paper_broker(
    tmp_path: Path,
) -> None:
    """The local paper broker is the research fill model on adjusted closes: it trades the
    stored scale, so a re-adjusted download (a dividend) is no jump in its account either."""
    base, _ = _run(tmp_path / "base", None)
    got, out = _run(tmp_path / "div", 0.97)
    *results, events = out
    assert all(r.status == "completed" for r in results)
    rescaled = [e for e in events if e["event"] == "bars_rescaled"]
    assert len(rescaled) == 1 and rescaled[0]["symbol"] == "AAA"
    assert rescaled[0]["factor"] == pytest.approx(0.97, rel=1e-12)
    assert got["orders"] == base["orders"]  # same sessions, sides, quantities
    late = [
        (g, b)
        for g, b in zip(got["fills"], base["fills"], strict=True)
        if g["symbol"] == "AAA" and g["session"] > base["equity"][SWITCH - 1]["session"]
    ]
    assert late and all(g["price"] == pytest.approx(b["price"], rel=1e-12) for g, b in late)
    assert [e["equity"] for e in got["equity"]] == pytest.approx(
        [e["equity"] for e in base["equity"]], rel=1e-12
    )


def test_a_rewritten_past_bar_is_reported_and_the_run_goes_on_unchanged(tmp_path: Path) -> None:
    base, _ = _run(tmp_path / "base", None)
    got, out = _run(tmp_path / "div", 0.97, rewrite_one=True)
    *results, events = out
    assert all(r.status == "completed" for r in results)
    revised = [e for e in events if e["event"] == "bars_revised"]
    assert len(revised) == 1 and revised[0]["symbol"] == "AAA"
    assert revised[0]["max_relative_change"] == pytest.approx(0.01, rel=1e-6)
    assert got["orders"] == base["orders"]
