"""The pure strategy core (shared/): the seed's decision rules and backtrader's broker rules,
each pinned by a small hand-checkable case. Parity tests check the same code at scale."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from shared.fill_model import Book, check_submitted, execute_order, process_bar
from shared.kalman import KalmanState, kalman_update, process_noise
from shared.metrics import compute_metrics, count_closed_trades, drawdowns, sharpe_ratio
from shared.orders import Fill, Leg, OrderIntent, Side
from shared.strategy import Action, Pair, PairState, StrategyParams, observe_pair, step_pair
from shared.zscore import rolling_zscore

PAIR = Pair("A", "B", 0.5)


def state_with(spreads: tuple[float, ...], signal: int = 0, beta: float = 0.5) -> PairState:
    # P tiny and R huge: the Kalman gain is ~0, so beta stays put and spreads are predictable.
    return PairState(kalman=KalmanState(beta=beta, P=0.0), spreads=spreads, state=signal)


FROZEN = StrategyParams(
    window=3, entry_z=1.0, exit_z=0.5, stop_z=3.0, stake=10, delta=1e-300, R=1e300
)


def test_kalman_update_follows_the_seed_equations() -> None:
    state = kalman_update(KalmanState(beta=0.5, P=1.0), 110.0, 200.0, 1e-5, 0.001)
    q = process_noise(1e-5)
    p_prior = 1.0 + q
    gain = p_prior * 200.0 / (p_prior * 200.0**2 + 0.001)
    assert state.beta == 0.5 + gain * (110.0 - 0.5 * 200.0)
    assert (1 - gain * 200.0) * p_prior == state.P


def test_kalman_update_leaves_beta_and_p_alone_when_price_b_is_zero() -> None:
    assert kalman_update(KalmanState(0.7, 2.0), 5.0, 0.0, 1e-5, 0.001) == KalmanState(0.7, 2.0)


def test_zscore_uses_the_population_std_and_skips_a_flat_window() -> None:
    spreads = [1.0, 2.0, 3.0, 6.0]
    buf = np.array(spreads[-3:])
    assert rolling_zscore(spreads, 3) == pytest.approx((6.0 - buf.mean()) / buf.std(ddof=0))
    assert rolling_zscore([1.0, 2.0], 3) is None
    assert rolling_zscore([4.0, 4.0, 4.0], 3) is None


def test_long_spread_entry_buys_int_beta_stake_of_a_and_sells_stake_of_b() -> None:
    # spread = 50 - 0.5 * 100 = 0, far below the window's mean of 10: z < -entry
    d = step_pair(0, PAIR, state_with((10.0, 11.0)), 50.0, 100.0, 0, 0, FROZEN)
    assert d.action is Action.ENTER_LONG and d.state.state == 1
    assert [(o.leg, o.side, o.quantity) for o in d.orders] == [
        (Leg.A, Side.BUY, 5),
        (Leg.B, Side.SELL, 10),
    ]
    assert [o.price for o in d.orders] == [50.0, 100.0]  # creation prices for the cash check


def test_short_entry_is_skipped_when_long_only() -> None:
    high = state_with((-10.0, -11.0))
    assert step_pair(0, PAIR, high, 50.0, 100.0, 0, 0, FROZEN).action is Action.ENTER_SHORT
    long_only = replace(FROZEN, long_only=True)
    d = step_pair(0, PAIR, high, 50.0, 100.0, 0, 0, long_only)
    assert d.action is Action.HOLD and d.orders == () and d.state.state == 0


def test_an_order_of_size_zero_is_not_sent() -> None:
    tiny = Pair("A", "B", 0.05)  # int(0.05 * 10) == 0: only the B leg goes out
    d = step_pair(0, tiny, state_with((10.0, 11.0), beta=0.05), 5.0, 100.0, 0, 0, FROZEN)
    assert [o.leg for o in d.orders] == [Leg.B]


def test_a_negative_size_is_sent_as_its_absolute_value_in_the_stated_direction() -> None:
    neg = Pair("A", "B", -0.5)
    d = step_pair(0, neg, state_with((200.0, 210.0), beta=-0.5), 50.0, 100.0, 0, 0, FROZEN)
    assert d.action is Action.ENTER_LONG
    a_leg = d.orders[0]
    assert (a_leg.side, a_leg.quantity, a_leg.signed_quantity) == (Side.BUY, 5, 5)


def test_entries_need_flat_actual_positions_even_when_state_is_zero() -> None:
    d = step_pair(0, PAIR, state_with((10.0, 11.0)), 50.0, 100.0, 3, 0, FROZEN)
    assert d.orders == () and d.state.state == 0


def test_exit_closes_each_actual_position_and_a_rejected_entry_just_resets_state() -> None:
    # |z| < exit_z: spread equals the mean of the window.
    spreads = (0.0, 0.0 + 1e-9, -1e-9)
    held = step_pair(0, PAIR, state_with(spreads, signal=1), 50.0, 100.0, 5, -10, FROZEN)
    assert held.action is Action.EXIT and held.state.state == 0
    assert [(o.side, o.quantity) for o in held.orders] == [(Side.SELL, 5), (Side.BUY, 10)]
    rejected = step_pair(0, PAIR, state_with(spreads, signal=1), 50.0, 100.0, 0, 0, FROZEN)
    assert rejected.action is Action.EXIT and rejected.orders == () and rejected.state.state == 0


def test_stop_loss_closes_when_z_exceeds_stop() -> None:
    params = replace(FROZEN, window=30)
    state = PairState(kalman=KalmanState(0.5, 0.0), spreads=tuple([0.0] * 29), state=-1)
    d = step_pair(0, PAIR, state, 150.0, 100.0, -5, 10, params)  # spread 100 vs 29 zeros: z ~ 5.4
    assert d.action is Action.STOP and len(d.orders) == 2


def test_observe_pair_moves_the_filter_but_never_trades() -> None:
    d = observe_pair(0, PAIR, state_with((10.0, 11.0), signal=0), 50.0, 100.0, FROZEN)
    assert d.orders == () and d.state.state == 0 and d.action is Action.WARMING_UP
    assert d.state.spreads[-1] == d.spread


def order(symbol: str, side: Side, qty: int, price: float) -> OrderIntent:
    return OrderIntent(0, Leg.A, symbol, side, qty, price)


def test_cash_check_runs_at_creation_price_and_a_rejection_is_not_restored() -> None:
    orders = [
        order("X", Side.BUY, 10, 100.0),
        order("Y", Side.BUY, 1, 1.0),
        order("Z", Side.SELL, 5, 10.0),
    ]
    accepted, rejected = check_submitted(500.0, orders, commission=0.0)
    # run_cash: 500 - 1000 = -500 (rejected), -501 (rejected: not restored), -451 (still < 0)
    assert accepted == [] and rejected == orders


def test_the_opening_part_of_a_fill_is_nullified_when_cash_would_go_negative_at_the_fill_price() -> (
    None
):
    book = Book(cash=1_000.0, positions={"X": 0})
    after, executed = execute_order(book, "X", 10, 120.0, 0.0)  # 1,200 > 1,000 at the real price
    assert executed == 0 and after.cash == 1_000.0
    book2, fills, rejections = process_bar(
        book, [order("X", Side.BUY, 10, 90.0)], {"X": 120.0}, 1, 0.0
    )
    assert fills == [] and [r.reason for r in rejections] == ["margin"] and book2.cash == 1_000.0


def test_short_sales_add_cash_and_commission_is_a_fraction_of_notional() -> None:
    book, fills, _ = process_bar(
        Book(100.0, {"X": 0}), [order("X", Side.SELL, 10, 50.0)], {"X": 52.0}, 1, 0.0005
    )
    assert fills == [Fill(1, "X", -10, 52.0, 10 * 52.0 * 0.0005)]
    assert book.cash == pytest.approx(100.0 + 520.0 - 0.26)
    assert book.value({"X": 50.0}) == pytest.approx(book.cash - 500.0)


def test_metrics_match_the_seed_analyzers_definitions() -> None:
    values = [100.0, 110.0, 99.0, 120.0]
    m = compute_metrics(values, 100.0, [])
    r = np.array([0.0, 0.1, 99 / 110 - 1, 120 / 99 - 1])
    assert m.sharpe_ratio == pytest.approx(r.mean() / r.std())
    assert m.max_dd_abs == pytest.approx(11.0) and m.max_dd_pct == pytest.approx(100 * 11 / 110)
    assert m.final_value == pytest.approx(120.0) and m.n_days == 4
    assert sharpe_ratio(np.zeros(5)) is None  # never traded: undefined, as backtrader says
    assert drawdowns([]) == (0.0, 0.0)


def test_closed_trades_count_each_leg_returning_to_zero_or_flipping() -> None:
    fills = [
        Fill(0, "A", 5, 1, 0),
        Fill(1, "A", -5, 1, 0),
        Fill(2, "B", -3, 1, 0),
        Fill(3, "B", 6, 1, 0),
    ]
    assert count_closed_trades(fills) == 2
    assert math.isclose(compute_metrics([1.0], 1.0, fills).total_return, 0.0)
