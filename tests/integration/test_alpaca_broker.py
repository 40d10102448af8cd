"""AlpacaBroker's contract, over real HTTP, against the local Alpaca-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from daemon.adapters.alpaca.broker import AlpacaBroker
from daemon.adapters.alpaca.errors import AlpacaRequestError, OrderRejectedError
from daemon.core.ports import OrderRequest, OrderStatus, TimeInForce
from shared.orders import Side
from tests.alpaca_server.harness import Harness, running_harness

D1, D2, D3 = date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)


@pytest.fixture
def harness() -> Iterator[Harness]:
    with running_harness() as h:
        h.book.add_bars("AAA", {date(2024, 1, 2): 100.0})
        h.book.add_bars("BBB", {date(2024, 1, 2): 50.0})
        yield h


@pytest.fixture
def broker(harness: Harness) -> AlpacaBroker:
    return harness.broker()


def order(cid: str, symbol: str, side: Side, qty: int, tif: TimeInForce = TimeInForce.CLS):
    return OrderRequest(cid, symbol, side, qty, tif, reference_price=100.0)


def test_fresh_account_reads_cash_equity_and_no_positions(broker: AlpacaBroker) -> None:
    account = broker.account()
    assert (account.cash, account.equity, account.currency) == (100_000.0, 100_000.0, "USD")
    assert account.buying_power == 200_000.0
    assert broker.positions() == {}
    assert broker.open_orders() == []


def test_submit_sends_a_market_order_with_our_client_id_and_time_in_force(
    harness: Harness, broker: AlpacaBroker
) -> None:
    placed = broker.submit(order("cfg1-20240102-p0-A-0", "AAA", Side.BUY, 10, TimeInForce.OPG))
    assert placed.client_order_id == "cfg1-20240102-p0-A-0"
    assert (placed.symbol, placed.side, placed.quantity) == ("AAA", Side.BUY, 10)
    assert (placed.status, placed.filled_quantity, placed.filled_avg_price) == (
        OrderStatus.NEW,
        0,
        None,
    )
    stored = harness.book.orders_with_client_id("cfg1-20240102-p0-A-0")
    assert [(o.time_in_force, o.side, o.qty) for o in stored] == [("opg", "buy", 10)]
    assert placed.submitted_at is not None and placed.submitted_at.tzinfo is not None


def test_second_submit_of_the_same_client_id_returns_the_existing_order(
    harness: Harness, broker: AlpacaBroker
) -> None:
    first = broker.submit(order("c-1", "AAA", Side.BUY, 10))
    second = broker.submit(order("c-1", "AAA", Side.BUY, 10))
    assert second == first
    assert harness.book.count("POST", "/v2/orders") == 1


def test_fills_at_the_session_close_update_orders_positions_and_equity(
    harness: Harness, broker: AlpacaBroker
) -> None:
    broker.submit(order("buy-a", "AAA", Side.BUY, 10))
    broker.submit(order("short-b", "BBB", Side.SELL, 20))
    harness.book.advance_session({"AAA": 101.0, "BBB": 49.0}, D1)
    filled = broker.order_by_client_id("buy-a")
    assert filled is not None
    assert (filled.status, filled.filled_quantity, filled.filled_avg_price) == (
        OrderStatus.FILLED,
        10,
        101.0,
    )
    assert filled.filled_at is not None and filled.filled_at.date() == D1
    assert broker.positions() == {"AAA": 10, "BBB": -20}
    account = broker.account()
    assert account.cash == pytest.approx(100_000.0 - 10 * 101.0 + 20 * 49.0)
    assert account.equity == pytest.approx(100_000.0)
    assert broker.open_orders() == []


def test_unknown_client_id_looks_up_as_none(broker: AlpacaBroker) -> None:
    assert broker.order_by_client_id("never-sent") is None


def test_partial_fill_then_the_rest_arrives_a_session_later(
    harness: Harness, broker: AlpacaBroker
) -> None:
    broker.submit(order("big", "AAA", Side.BUY, 10))
    harness.book.fill_limits["big"] = 4
    harness.book.advance_session({"AAA": 100.0}, D1)
    partial = broker.order_by_client_id("big")
    assert partial is not None
    assert (partial.status, partial.filled_quantity, partial.filled_avg_price) == (
        OrderStatus.PARTIALLY_FILLED,
        4,
        100.0,
    )
    assert [o.client_order_id for o in broker.open_orders()] == ["big"]
    assert broker.positions() == {"AAA": 4}
    harness.book.advance_session({"AAA": 106.0}, D2)
    done = broker.order_by_client_id("big")
    assert done is not None
    assert (done.status, done.filled_quantity) == (OrderStatus.FILLED, 10)
    assert done.filled_avg_price == pytest.approx((4 * 100.0 + 6 * 106.0) / 10)


def test_order_cancelled_by_the_broker_overnight_reads_as_cancelled(
    harness: Harness, broker: AlpacaBroker
) -> None:
    broker.submit(order("cls-unfilled", "AAA", Side.BUY, 5))
    harness.book.cancel_next_session.add("cls-unfilled")
    harness.book.advance_session({"AAA": 100.0}, D1)
    gone = broker.order_by_client_id("cls-unfilled")
    assert gone is not None
    assert (gone.status, gone.filled_quantity, gone.filled_avg_price) == (
        OrderStatus.CANCELED,
        0,
        None,
    )
    assert gone.status.is_final and broker.positions() == {}


def test_partially_filled_order_cancelled_keeps_its_fills(
    harness: Harness, broker: AlpacaBroker
) -> None:
    broker.submit(order("half", "BBB", Side.SELL, 10))
    harness.book.fill_limits["half"] = 5
    harness.book.advance_session({"BBB": 50.0}, D1)
    harness.book.broker_cancel("half")
    seen = broker.order_by_client_id("half")
    assert seen is not None
    assert (seen.status, seen.filled_quantity, seen.quantity) == (OrderStatus.CANCELED, 5, 10)
    assert broker.positions() == {"BBB": -5}


def test_cancel_an_open_order_and_cancelling_again_is_a_no_op(
    harness: Harness, broker: AlpacaBroker
) -> None:
    placed = broker.submit(order("to-cancel", "AAA", Side.BUY, 5))
    broker.cancel(placed.broker_order_id)
    broker.cancel(placed.broker_order_id)
    after = broker.order_by_client_id("to-cancel")
    assert after is not None and after.status is OrderStatus.CANCELED
    assert broker.open_orders() == []


def test_cancelling_a_filled_order_is_an_error_naming_its_status(
    harness: Harness, broker: AlpacaBroker
) -> None:
    placed = broker.submit(order("done", "AAA", Side.BUY, 5))
    harness.book.advance_session({"AAA": 100.0}, D1)
    with pytest.raises(AlpacaRequestError, match="'filled'"):
        broker.cancel(placed.broker_order_id)


def test_open_orders_lists_only_live_orders(harness: Harness, broker: AlpacaBroker) -> None:
    broker.submit(order("o1", "AAA", Side.BUY, 1))
    broker.submit(order("o2", "BBB", Side.BUY, 1))
    harness.book.advance_session({"AAA": 100.0}, D1)  # fills o1 only
    assert [o.client_order_id for o in broker.open_orders()] == ["o2"]


def test_clock_calendar_and_asset_come_back_as_our_types(broker: AlpacaBroker) -> None:
    clock = broker.clock()
    assert clock.timestamp.tzinfo is not None and clock.next_open > clock.timestamp
    days = broker.calendar(D1, D3)
    assert [d.session for d in days] == [D1, D2, D3]
    assert days[0].close.hour == 16 and days[0].close.utcoffset() is not None
    asset = broker.asset("AAA")
    assert (asset.symbol, asset.tradable, asset.can_open_short) == ("AAA", True, True)


def test_preflight_refuses_a_short_in_a_name_alpaca_will_not_lend(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.book.not_shortable.add("BBB")
    with pytest.raises(OrderRejectedError, match="not shortable") as info:
        broker.submit(order("short-bbb", "BBB", Side.SELL, 5))
    assert info.value.rejected and info.value.symbol == "BBB"
    assert harness.book.count("POST", "/v2/orders") == 0


def test_preflight_lets_a_sell_that_only_closes_a_long_through(
    harness: Harness, broker: AlpacaBroker
) -> None:
    broker.submit(order("long-bbb", "BBB", Side.BUY, 5))
    harness.book.advance_session({"BBB": 50.0}, D1)
    harness.book.not_shortable.add("BBB")
    closing = broker.submit(order("close-bbb", "BBB", Side.SELL, 5))
    assert closing.status is OrderStatus.NEW


def test_settle_is_a_no_op_for_a_real_broker(harness: Harness, broker: AlpacaBroker) -> None:
    broker.submit(order("waits", "AAA", Side.BUY, 1))
    broker.settle(D1, {"AAA": 100.0})
    assert [o.client_order_id for o in broker.open_orders()] == ["waits"]
