"""Pair health in the daemon: measured every session on the stored closes (statsmodels' figures),
in session_summary, status and the report; the pair_degraded alert; the no_new_entries rule;
the [health] settings."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from statsmodels.tsa.stattools import coint

from daemon.commands.cli import main as daemon_main
from daemon.config.settings import DaemonSettings, HealthSettings, parse_settings
from daemon.core.decide import Limits, gate
from daemon.cycle.summary import status_report
from daemon.monitoring.alerts import alerts
from daemon.monitoring.report_data import gather
from daemon.monitoring.report_html import render
from daemon.store import Store
from daemon.store.health import days_in_trade, health_at
from shared.errors import ConfigError
from shared.orders import Leg, OrderIntent, Side
from shared.strategy import Action, Decision, Pair, PairState
from tests.unit.daemon_helpers import (
    log_events,
    make_closes,
    make_config,
    read_closes,
    run_sessions,
    settings_for,
    write_inputs,
)

WINDOW = 60


def _env(tmp: Path, n_bars: int = 90, **health: Any) -> tuple[DaemonSettings, list[date], Path]:
    closes = make_closes(n_bars)
    config = make_config(closes)
    prices, cfg = write_inputs(tmp, closes, config)
    settings = settings_for(tmp, prices, cfg, health=HealthSettings(window=WINDOW, **health))
    return settings, list(closes.index), prices


def test_every_session_measures_each_pair_with_statsmodels_on_the_stored_closes(
    tmp_path: Path,
) -> None:
    settings, sessions, prices = _env(tmp_path)
    results = run_sessions(settings, sessions)
    assert all(r.status == "completed" for r in results)
    early = results[WINDOW - 2].summary["pairs"][0]["health"]
    assert early["status"] == "unmeasured" and early["n_obs"] == WINDOW - 1
    closes = read_closes(prices)
    for result in results[WINDOW:]:
        session = result.session
        legs = (("AAA", "BBB"), ("CCC", "DDD"))
        for pair, (a, b) in zip(result.summary["pairs"], legs, strict=True):
            tail = closes.loc[[d <= session for d in closes.index]].iloc[-WINDOW:]
            t, p, _ = coint(tail[a].to_numpy(), tail[b].to_numpy())
            health = pair["health"]
            assert (health["coint_t"], health["pvalue"]) == (t, p), (session, pair["pair"])
            assert health["formation_half_life"] is None  # a schema-1 style config: unknown
            assert health["window"] == WINDOW and health["half_life"] is not None


def test_status_and_the_report_show_the_health_of_the_last_session(tmp_path: Path) -> None:
    settings, sessions, _ = _env(tmp_path, n_bars=WINDOW + 3)
    run_sessions(settings, sessions)
    store = Store.open(settings.state_dir, read_only=True)
    try:
        report = status_report(store)
        stored = health_at(store, sessions[-1])
        assert [p["health"] for p in report["pairs"]] == [stored[0].as_dict(), stored[1].as_dict()]
        html = render(gather(store, make_config(make_closes(WINDOW + 3))), "now")
    finally:
        store.close()
    assert "<h2>Pair health</h2>" in html and 'id="health"' in html and "AAA/BBB" in html
    toml = tmp_path / "daemon.toml"
    toml.write_text(
        f'config = "{settings.config}"\nstate_dir = "{settings.state_dir}"\n'
        f'[data]\nfeed = "csv"\ncsv_path = "{settings.data.csv_path}"\n',
        encoding="utf-8",
    )


def test_status_prints_one_health_line_per_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, sessions, _ = _env(tmp_path, n_bars=WINDOW + 2)
    run_sessions(settings, sessions)
    toml = tmp_path / "daemon.toml"
    toml.write_text(
        f'config = "{settings.config}"\nstate_dir = "{settings.state_dir}"\n'
        f'[data]\nfeed = "csv"\ncsv_path = "{settings.data.csv_path}"\n',
        encoding="utf-8",
    )
    assert daemon_main(["--settings", str(toml), "status"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "health:" in line]
    assert len(lines) == 2
    assert all(" p " in line and "formation unknown" in line for line in lines)


def test_a_degraded_pair_raises_pair_degraded_naming_it_until_it_is_healthy(
    tmp_path: Path,
) -> None:
    settings, sessions, _ = _env(tmp_path, max_pvalue=1e-300)  # nothing passes
    logs = io.StringIO()
    run_sessions(settings, sessions[: WINDOW + 2], logs)
    events = [e for e in log_events(logs) if e.get("code") == "pair_degraded"]
    assert len(events) == 3  # every session the condition holds, from the first measured one
    assert events[-1]["severity"] == "warning"
    assert "AAA/BBB: Engle-Granger p-value" in events[-1]["message"]
    assert "CCC/DDD: Engle-Granger p-value" in events[-1]["message"]
    assert events[-1]["pairs"]["AAA/BBB"][0] == "cointegration"
    store = Store.open(settings.state_dir, read_only=True)
    try:
        open_codes = [a.code for a in alerts(store, open_only=True)]
    finally:
        store.close()
    assert open_codes.count("pair_degraded") == 1
    loose = settings.model_copy(
        update={
            "health": HealthSettings(window=WINDOW, max_pvalue=0.999, max_innovation_share=0.99)
        }
    )
    run_sessions(loose, [sessions[WINDOW + 2]])
    store = Store.open(settings.state_dir, read_only=True)
    try:
        assert "pair_degraded" not in [a.code for a in alerts(store, open_only=True)]
        assert [a.code for a in alerts(store)].count("pair_degraded") == 1
    finally:
        store.close()


def test_no_new_entries_blocks_the_entries_of_a_degraded_pair_and_alert_does_not(
    tmp_path: Path,
) -> None:
    entries: dict[str, list[tuple[str, str | None]]] = {}
    for rule in ("alert", "no_new_entries"):
        (tmp_path / rule).mkdir()
        settings, sessions, _ = _env(
            tmp_path / rule, n_bars=120, max_pvalue=1e-300, on_degraded=rule
        )
        run_sessions(settings, sessions)
        store = Store.open(settings.state_dir, read_only=True)
        try:
            entries[rule] = [
                (d.action, d.blocked)
                for session in sessions[WINDOW - 1 :]  # measured (and degraded) from here
                for d in store.decisions(session)
                if d.action.startswith("enter_")
            ]
            blocked = [i for i in store.intents() if i.status == "blocked"]
        finally:
            store.close()
        assert entries[rule], "the pairs must try to enter to prove anything"
        if rule == "alert":
            assert all(why is None for _, why in entries[rule]) and not blocked
        else:
            assert all(why and why.startswith("health: ") for _, why in entries[rule])
            assert blocked and all(i.message.startswith("health: ") for i in blocked)
            assert "Engle-Granger p-value" in blocked[0].message


def test_days_in_trade_count_the_sessions_since_the_entry_decision(tmp_path: Path) -> None:
    settings, sessions, _ = _env(tmp_path, n_bars=80)
    run_sessions(settings, sessions)
    store = Store.open(settings.state_dir, read_only=True)
    try:
        for k in (0, 1):
            states = [(d, store.decisions(d)[k].state) for d in sessions]
            run = 0
            for d, state in states:
                want = None if state == 0 else run
                assert days_in_trade(store, k, d, state) == want, (k, d)
                run = run + 1 if state != 0 else 0
                stored = health_at(store, d)[k]
                assert stored.days_in_trade == want
    finally:
        store.close()


def test_the_health_settings_are_checked(tmp_path: Path) -> None:
    text = '[data]\nfeed = "csv"\ncsv_path = "p.csv"\n[health]\nwindow = 126\n'
    settings = parse_settings(text + 'on_degraded = "no_new_entries"\n', "t.toml", tmp_path)
    assert settings.health.rules.window == 126
    assert settings.health.on_degraded == "no_new_entries"
    assert parse_settings('[data]\ncsv_path = "p.csv"\n', "t.toml", tmp_path).health == (
        HealthSettings()
    )
    for bad in ('on_degraded = "halt"\n', "window = 20\n", "max_pvalue = 1.5\n"):
        with pytest.raises(ConfigError, match="health"):
            parse_settings('[data]\ncsv_path = "p.csv"\n[health]\n' + bad, "t.toml", tmp_path)


def test_the_rule_blocks_entries_only_never_exits_or_other_pairs() -> None:
    pair = Pair("AAA", "BBB", 1.0)
    before = PairState.initial(pair)
    enter = Decision(
        replace(before, state=1),
        (
            OrderIntent(0, Leg.A, "AAA", Side.BUY, 5, 10.0),
            OrderIntent(0, Leg.B, "BBB", Side.SELL, 5, 10.0),
        ),
        Action.ENTER_LONG,
        1.0,
        0.0,
        -2.0,
    )
    exit_ = Decision(
        replace(before, state=0),
        (OrderIntent(1, Leg.A, "CCC", Side.SELL, 5, 10.0),),
        Action.EXIT,
        1.0,
        0.0,
        0.1,
    )
    in_trade = replace(before, state=1)
    limits = Limits(no_entry={0: "health: AAA/BBB degraded", 1: "health: CCC/DDD degraded"})
    prices = {"AAA": 10.0, "BBB": 10.0, "CCC": 10.0}
    (got_enter, why_enter), (got_exit, why_exit) = gate(
        [enter, exit_], [before, in_trade], {"CCC": 5}, prices, limits
    )
    assert why_enter == "health: AAA/BBB degraded" and got_enter.state.state == 0
    assert why_exit is None and got_exit is exit_
    assert gate([enter], [before], {}, prices, Limits(no_entry={1: "x"}))[0][1] is None
