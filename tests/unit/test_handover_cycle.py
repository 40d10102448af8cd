"""The daemon's cycle across a hand-over equals the lifecycle reference backtest
(shared/lifecycle.py): pairs re-formed across the same tickers (each new pair shares a leg with
a dropped one), a dropped pair that holds draining or closing, the added pairs waiting for its
tickers, the local paper broker told which pairs ordered."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from daemon.core.roster import config_slots
from daemon.store import Store
from daemon.store.deploy_request import DeployRequest, write_request
from daemon.store.generations import generations
from daemon.store.health import days_in_trade, health_at
from shared.config import dump_config
from shared.lifecycle import Generation, simulate_lifecycle
from tests.unit.daemon_helpers import (
    make_closes,
    make_config,
    run_sessions,
    settings_for,
    write_inputs,
)

N_BARS = 220
GO_LIVE = 40


def _reformed(closes, first_bar: int):  # type: ignore[no-untyped-def]
    return make_config(
        closes.loc[closes.index[first_bar] :],
        pairs=[
            {"asset_1": "AAA", "asset_2": "DDD", "hedge_ratio": 0.6},
            {"asset_1": "BBB", "asset_2": "EEE", "hedge_ratio": 0.4},
        ],
        entry_z=1.2,
        window=15,
    )


@pytest.mark.parametrize("rule", ["drain", "close"])
def test_a_hand_over_across_shared_tickers_equals_the_lifecycle_backtest(
    tmp_path: pytest.TempPathFactory, rule: str
) -> None:
    closes = make_closes(N_BARS, seed=11)
    # A fifth ticker only the new config trades: CCC leaves the account with its pair, so the
    # broker must not make DDD's orders (now AAA/DDD's) wait for a CCC close that never comes.
    closes["EEE"] = closes["CCC"] * 1.1 + np.sin(np.arange(N_BARS) / 3.0)
    first = make_config(closes)
    second = _reformed(closes, 30)
    prices, cfg = write_inputs(tmp_path, closes, first)  # type: ignore[arg-type]
    settings = settings_for(tmp_path, prices, cfg)  # type: ignore[arg-type]
    sessions: list[date] = list(closes.index)
    symbols = list(closes.columns)
    generation_1 = Generation(GO_LIVE, config_slots(first), 0)
    # Hand over on a session the first config holds a position (per the reference).
    alone = simulate_lifecycle(closes.to_numpy(), symbols, [generation_1], rule)  # type: ignore[arg-type]
    holding = _holding_bars(alone.fills, len(sessions))
    handover = next(b for b in holding if b > GO_LIVE + 30)
    run_sessions(settings, sessions[GO_LIVE:handover])
    write_request(
        settings.state_dir,
        DeployRequest("req", dump_config(second), "candidate.json", "now", rule, forced=True),
    )
    results = run_sessions(settings, sessions[handover:])
    assert {r.status for r in results} == {"completed"}, [r.message for r in results]

    generation_2 = Generation(handover, config_slots(second), 30)
    life = simulate_lifecycle(closes.to_numpy(), symbols, [generation_1, generation_2], rule)  # type: ignore[arg-type]
    (_, plan) = life.handovers[1]
    assert [r.action.value for r in plan] == ["add", "add", "drop", "drop"]
    assert "CCC" not in {s for slot, _ in life.decisions[-1] for s in slot.symbols}
    assert any("holds" in r.detail for r in plan)
    store = Store.open(settings.state_dir, read_only=True)
    try:
        fills = [(f.session, f.symbol, f.signed_quantity) for f in store.fills()]
        equity = store.equity_series()
        applied = generations(store)
        # A draining pair moved to the end of the roster keeps counting its days in trade.
        at = sessions[handover]
        old = {d.pair: d.pair_index for d in store.decisions(sessions[handover - 1]) if d.state}
        moved = [d for d in store.decisions(at) if d.pair in old and d.state and rule == "drain"]
        assert moved or rule == "close"
        for d in moved:
            want_days = days_in_trade(store, old[d.pair], at, d.state)
            assert health_at(store, at)[d.pair_index].days_in_trade == want_days
            assert d.pair_index != old[d.pair] and want_days
    finally:
        store.close()
    want = [(sessions[f.bar], f.symbol, f.signed_quantity) for f in life.fills]
    assert fills == want
    assert any(f[0] > sessions[handover] and f[1] in ("AAA", "DDD") for f in fills)
    assert equity[-1].equity == pytest.approx(float(life.values[-1]), rel=1e-9)
    assert [(g.generation, g.from_session) for g in applied] == [
        (1, sessions[GO_LIVE]),
        (2, sessions[handover]),
    ]


def _holding_bars(fills, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    held: dict[str, int] = {}
    out = []
    for bar in range(n):
        for f in fills:
            if f.bar == bar:
                held[f.symbol] = held.get(f.symbol, 0) + f.signed_quantity
        if any(held.values()):
            out.append(bar + 1)  # the next session finds it holding
    return out


def test_the_repair_memory_follows_a_pair_whose_index_a_hand_over_moves(
    tmp_path: pytest.TempPathFactory,
) -> None:
    from daemon.cycle.pair_integrity import PairMemory, load_memory, save_memory

    closes = make_closes(60, seed=3)
    first, second = make_config(closes), _reformed(closes, 10)
    before = config_slots(first)
    after = (*config_slots(second), before[1])  # CCC/DDD kept, now last
    store = Store.open(tmp_path / "state")  # type: ignore[operator]
    try:
        with store.transaction():
            save_memory(store, {1: PairMemory(tries=1)}, before)
        assert load_memory(store, after) == {2: PairMemory(tries=1)}
        assert load_memory(store, config_slots(second)) == {}  # the pair left: forgotten
    finally:
        store.close()
