"""The daemon, replayed session by session through the store, decides and fills exactly like
``shared.simulation.simulate`` on the same bars: from the config's first session, and from a
later go-live session (warm-up without trading)."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.commands.replay import replay, replay_settings
from shared.simulation import simulate
from tests.unit.daemon_helpers import make_closes, make_config, read_closes, write_inputs


def _compare(tmp_path: Path, n_bars: int, start_bar: int, **config: object) -> None:
    closes = make_closes(n_bars, seed=11)
    cfg = make_config(closes, **config)
    prices, cfg_path = write_inputs(tmp_path, closes, cfg)
    closes = read_closes(prices)
    settings = replay_settings(prices, cfg_path, tmp_path / "state")
    with (tmp_path / "log.jsonl").open("w") as log:
        report = replay(settings, closes.index[start_bar], closes.index[-1], log, durable=False)
    assert report["failed"] is None
    sim = simulate(
        closes.to_numpy(),
        list(closes.columns),
        cfg.pair_list,
        cfg.params,
        cfg.initial_cash,
        cfg.commission,
        trade_from_bar=start_bar,
    )
    expected = [
        (closes.index[f.bar].isoformat(), f.symbol, f.signed_quantity, f.price, f.commission)
        for f in sim.fills
    ]
    got = [
        (f["session"], f["symbol"], f["quantity"], f["price"], f["commission"])
        for f in report["fills"]
    ]
    assert len(got) == len(expected) > 0
    for g, e in zip(got, expected, strict=True):
        assert g[:3] == e[:3]
        assert g[3:] == pytest.approx(e[3:], rel=1e-9)
    equity = [e["equity"] for e in report["equity"]]
    assert equity == pytest.approx(list(sim.values[start_bar:]), rel=1e-9)
    assert report["final_equity"] == pytest.approx(sim.values[-1], rel=1e-9)
    if config.get("initial_cash"):
        assert sim.rejections, "the scenario is meant to exercise margin rejections"
        rejected = [o for o in report["orders"] if o["status"] == "rejected"]
        assert len(rejected) == len({(r.bar, r.symbol) for r in sim.rejections})


def test_replay_from_the_first_session_equals_simulate(tmp_path: Path) -> None:
    _compare(tmp_path, 100, 0)


def test_replay_from_a_go_live_session_equals_simulate_with_warm_up(tmp_path: Path) -> None:
    _compare(tmp_path, 100, 47)


def test_replay_with_margin_rejections_equals_simulate(tmp_path: Path) -> None:
    _compare(tmp_path, 100, 0, initial_cash=2_000.0)
