"""Entries after a split: stored-scale shares become real shares by the split's ratio."""

from __future__ import annotations

from daemon.core.decide import size_entry_in_real_shares
from shared.orders import Leg, OrderIntent, Side
from shared.strategy import Action, Decision, Pair, PairState


def _decision(action: Action, qty_a: int, qty_b: int) -> Decision:
    state = PairState.initial(Pair("DIA", "XLK", 1.9))
    orders = (
        OrderIntent(0, Leg.A, "DIA", Side.SELL, qty_a, 376.0),
        OrderIntent(0, Leg.B, "XLK", Side.BUY, qty_b, 190.0),
    )
    return Decision(state, orders, action, 1.9, 0.0, 2.1)


def test_a_reverse_split_divides_the_entry_and_truncates_toward_zero() -> None:
    sized = size_entry_in_real_shares(_decision(Action.ENTER_SHORT, 204, 50), {"DIA": 0.2})
    assert [(o.symbol, o.quantity) for o in sized.orders] == [("DIA", 40), ("XLK", 50)]


def test_a_forward_split_multiplies_it_exactly() -> None:
    sized = size_entry_in_real_shares(_decision(Action.ENTER_LONG, 35, 50), {"XLK": 10.0})
    assert [(o.symbol, o.quantity) for o in sized.orders] == [("DIA", 35), ("XLK", 500)]
    # binary noise never loses a share: 35 * 0.2 is 7.000000000000001
    assert (
        size_entry_in_real_shares(_decision(Action.ENTER_LONG, 35, 5), {"DIA": 0.2})
        .orders[0]
        .quantity
        == 7
    )


def test_exits_and_legs_without_a_split_are_left_alone() -> None:
    exit_ = _decision(Action.EXIT, 204, 50)
    assert size_entry_in_real_shares(exit_, {"DIA": 0.2}) == exit_
    entry = _decision(Action.ENTER_LONG, 204, 50)
    assert size_entry_in_real_shares(entry, {}) == entry


def test_a_leg_that_truncates_to_nothing_is_not_sent() -> None:
    sized = size_entry_in_real_shares(_decision(Action.ENTER_LONG, 3, 50), {"DIA": 0.25})
    assert [o.symbol for o in sized.orders] == ["XLK"]
