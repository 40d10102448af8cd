"""Pair integrity, the pure planning: what a half pair becomes at the next session."""

from __future__ import annotations

from daemon.cycle.pair_integrity import PairMemory, plan_integrity
from shared.strategy import Pair

PAIRS = [Pair("DIA", "XLK", 1.9), Pair("KO", "PEP", 0.4)]


def test_a_pair_held_as_intended_is_balanced_and_forgets_its_repairs() -> None:
    plan = plan_integrity(
        PAIRS,
        {"DIA": 95, "XLK": -50},
        {"DIA": 95, "XLK": -50},
        {0: PairMemory(tries=1)},
        "complete",
        2,
    )
    assert [c.outcome for c in plan.checks] == ["balanced", "balanced"]
    assert plan.repairs == [] and plan.memory[0] == PairMemory()


def test_a_refused_entry_leg_is_completed_then_unwound_after_the_last_try() -> None:
    held, intended = {"DIA": 95}, {"DIA": 95, "XLK": -50}
    first = plan_integrity(PAIRS, held, intended, {}, "complete", 2)
    [check] = first.unbalanced
    assert check.outcome == "complete" and check.tries == 1
    assert [(r.symbol, r.signed_quantity) for r in first.repairs] == [("XLK", -50)]
    assert "broker holds DIA +95, XLK +0" in check.describe(PAIRS[0])
    second = plan_integrity(PAIRS, held, intended, first.memory, "complete", 2)
    assert second.unbalanced[0].tries == 2
    third = plan_integrity(PAIRS, held, intended, second.memory, "complete", 2)
    assert third.unbalanced[0].outcome == "unwind"
    assert [(r.symbol, r.signed_quantity) for r in third.repairs] == [("DIA", -95)]
    # Unwound: intended flat while the model still holds the pair; then back to normal.
    flat = plan_integrity(PAIRS, {}, intended, third.memory, "complete", 2)
    assert flat.unbalanced == [] and flat.memory[0].unwound
    after_exit = plan_integrity(PAIRS, {}, {}, flat.memory, "complete", 2)
    assert after_exit.memory[0] == PairMemory()


def test_the_unwind_policy_closes_the_filled_leg_at_once() -> None:
    plan = plan_integrity(PAIRS, {"DIA": 95}, {"DIA": 95, "XLK": -50}, {}, "unwind", 2)
    assert [(r.symbol, r.signed_quantity) for r in plan.repairs] == [("DIA", -95)]


def test_an_exit_short_filled_is_retried_every_session_until_flat() -> None:
    memory: dict[int, PairMemory] = {}
    for _ in range(5):  # no limit: an exit is retried until the pair is flat
        plan = plan_integrity(PAIRS, {"DIA": -47}, {}, memory, "complete", 0)
        assert [(r.symbol, r.signed_quantity) for r in plan.repairs] == [("DIA", 47)]
        assert plan.unbalanced[0].outcome == "exit_incomplete"
        memory = plan.memory


def test_pairs_that_trade_this_session_are_alerted_but_not_repaired() -> None:
    held, intended = {"DIA": 95}, {"DIA": 95, "XLK": -50}
    plan = plan_integrity(PAIRS, held, intended, {}, "complete", 2, trading={0})
    assert plan.repairs == []
    [check] = plan.unbalanced
    assert check.outcome == "decided" and "decision trades the pair" in check.describe(PAIRS[0])
    skipped = plan_integrity(PAIRS, held, intended, {}, "complete", 2, skip={0})
    assert skipped.repairs == [] and [c.pair_index for c in skipped.checks] == [1]


def test_a_blocked_entry_is_no_imbalance_until_the_model_is_flat_again() -> None:
    intended = {"DIA": 95, "XLK": -50}  # the model entered, the daemon's entry was blocked
    plan = plan_integrity(PAIRS, {}, intended, {}, "complete", 2, held_back={0})
    assert plan.checks[0].pair_index == 1 and plan.memory[0].unwound
    later = plan_integrity(PAIRS, {}, intended, plan.memory, "complete", 2)
    assert later.unbalanced == []
