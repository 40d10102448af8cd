"""The hand-over rules (shared/handover.py) and the lifecycle reference backtest
(shared/lifecycle.py): one generation is the plain reference backtest; a kept pair continues;
a dropped pair drains or closes; an added pair trades as a backtest from the hand-over would."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from shared.handover import (
    PlanAction,
    Slot,
    hand_over,
    plan_handover,
    roster_of,
    step_slot,
    waiting,
)
from shared.lifecycle import Generation, simulate_lifecycle
from shared.simulation import simulate
from shared.strategy import Action, Pair, PairState, StrategyParams

SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"]
START = date(2020, 1, 2)
PARAMS = StrategyParams(window=20, entry_z=1.5, exit_z=0.3, stop_z=3.5, stake=40)


def _closes(n: int = 400, seed: int = 3) -> np.ndarray:
    """Three mean-reverting pairs: (AAA, BBB), (CCC, DDD), (EEE, FFF)."""
    rng = np.random.default_rng(seed)
    cols = []
    for level in (100.0, 60.0, 30.0):
        base = level * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        ou = np.zeros(n)
        for t in range(1, n):
            ou[t] = 0.85 * ou[t - 1] + rng.normal(0, 0.6)
        cols += [0.8 * base + ou + 5, base]
    return np.column_stack(cols)


def _slots(pairs: list[Pair], params: StrategyParams = PARAMS, cid: str = "c1") -> tuple[Slot, ...]:
    return roster_of(pairs, params, cid, START)


AB = Pair("AAA", "BBB", 0.8)
CD = Pair("CCC", "DDD", 0.8)
EF = Pair("EEE", "FFF", 0.8)


def test_one_generation_is_the_reference_backtest_from_its_start() -> None:
    closes = _closes()
    pairs = [AB, CD]
    ref = simulate(closes, SYMBOLS, pairs, PARAMS, trade_from_bar=50)
    life = simulate_lifecycle(closes, SYMBOLS, [Generation(50, _slots(pairs), 0)], "drain")
    assert life.fills == ref.fills and life.rejections == ref.rejections
    assert np.array_equal(life.values, ref.values)
    assert life.metrics == ref.metrics
    assert len(ref.fills) > 8  # it traded


def test_the_plan_names_keep_change_add_and_drop() -> None:
    current = _slots([AB, CD, EF])
    incoming = (
        *_slots([AB]),  # keep
        *_slots([Pair("CCC", "DDD", 0.9)]),  # change: hedge ratio
        *_slots([Pair("AAA", "FFF", 1.0)], cid="c2"),  # add (shares legs with dropped pairs)
    )
    plan = plan_handover(current, incoming, lambda s: s.pair == EF, "drain")
    got = [(r.action, r.pair, r.old, r.new) for r in plan]
    assert got == [
        (PlanAction.KEEP, "AAA/BBB", 0, 0),
        (PlanAction.CHANGE, "CCC/DDD", 1, 1),
        (PlanAction.ADD, "AAA/FFF", None, 2),
        (PlanAction.DROP, "EEE/FFF", 2, None),
    ]
    assert "hedge_ratio 0.8 -> 0.9" in plan[1].detail
    assert "drains" in plan[3].detail
    changed = plan_handover(
        current, _slots([AB], replace(PARAMS, stake=41)), lambda s: False, "close"
    )
    assert changed[0].action is PlanAction.CHANGE and "stake 40 -> 41" in changed[0].detail


def test_the_roster_keeps_carries_and_makes_the_overlapping_added_pair_wait() -> None:
    current = _slots([AB, CD, EF])
    incoming = (*_slots([AB]), *_slots([Pair("CCC", "FFF", 1.0)], cid="c2"))
    handover = hand_over(current, incoming, lambda s: s.pair == EF, "close")
    names = [(s.name, s.leaving) for s in handover.roster]
    assert names == [("AAA/BBB", None), ("CCC/FFF", None), ("EEE/FFF", "close")]
    assert handover.carried_from == (0, None, 2)  # CD was flat: it left at once
    assert waiting(handover.roster) == {1}  # CCC/FFF shares FFF with the closing pair


def test_a_closing_slot_closes_and_a_draining_slot_never_enters() -> None:
    slot = replace(_slots([AB])[0], leaving="close")
    state = PairState.initial(AB)
    decision = step_slot(0, slot, state, 90.0, 100.0, 5, -3, False)
    assert decision.action is Action.CLOSE_DROPPED and decision.state.state == 0
    assert [(o.symbol, o.side.value, o.quantity) for o in decision.orders] == [
        ("AAA", "sell", 5),
        ("BBB", "buy", 3),
    ]
    drain = replace(slot, leaving="drain", params=replace(PARAMS, window=2, entry_z=0.1))
    warm = step_slot(0, drain, state, 90.0, 100.0, 0, 0, False).state
    after = step_slot(0, drain, warm, 95.0, 100.0, 0, 0, False)
    assert after.orders == () and after.state.state == 0 and after.z is not None


@pytest.mark.parametrize("rule", ["drain", "close"])
def test_a_dropped_pair_leaves_by_its_rule_and_an_added_pair_trades_like_a_late_backtest(
    rule: str,
) -> None:
    closes = _closes()
    first = Generation(30, _slots([AB, CD]), 0)
    # The second config keeps AB, drops CD, adds EF warmed from bar 150 and trading from 250.
    second = Generation(250, (*_slots([AB]), *_slots([EF], cid="c2")), 150)
    life = simulate_lifecycle(closes, SYMBOLS, [first, second], rule)  # type: ignore[arg-type]
    (bar, plan), *_ = life.handovers[1:]
    assert bar == 250 and [r.action for r in plan] == [
        PlanAction.KEEP,
        PlanAction.ADD,
        PlanAction.DROP,
    ]
    # Added EF: its orders are those of a backtest of EF alone on bars 150.. trading from 250
    # (cash never binds here: the account is large).
    alone = simulate(closes[150:], SYMBOLS, [EF], PARAMS, trade_from_bar=100)
    ef = [(f.bar, f.symbol, f.signed_quantity) for f in life.fills if f.symbol in ("EEE", "FFF")]
    assert ef == [(f.bar + 150, f.symbol, f.signed_quantity) for f in alone.fills] and ef
    # Kept AB: the same orders as a backtest of AB alone from bar 30 (it never stopped).
    ab_alone = simulate(closes, SYMBOLS, [AB], PARAMS, trade_from_bar=30)
    ab = [(f.bar, f.symbol, f.signed_quantity) for f in life.fills if f.symbol in ("AAA", "BBB")]
    assert ab == [(f.bar, f.symbol, f.signed_quantity) for f in ab_alone.fills]
    # Dropped CD: same as alone until the hand-over; then it closes at once or drains.
    cd_alone = simulate(closes, SYMBOLS, [CD], PARAMS, trade_from_bar=30)
    cd = [(f.bar, f.symbol, f.signed_quantity) for f in life.fills if f.symbol in ("CCC", "DDD")]
    before = [(f.bar, f.symbol, f.signed_quantity) for f in cd_alone.fills if f.bar <= 250]
    assert cd[: len(before)] == before
    held_at_handover = sum(s for _, sym, s in before if sym == "CCC") != 0
    assert held_at_handover  # the seed of _closes makes CD hold at bar 250
    after = cd[len(before) :]
    if rule == "close":
        assert [b for b, _, _ in after] == [251, 251]  # closed with the hand-over's orders
    else:
        alone_after = [(f.bar, f.symbol, f.signed_quantity) for f in cd_alone.fills if f.bar > 250]
        assert after == alone_after[:2]  # its own exit, then no entry
    assert all(s.name != "CCC/DDD" for s, _ in life.decisions[-1])  # it left the roster
