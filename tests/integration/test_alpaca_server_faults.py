"""What real brokers do, seen through AlpacaBroker over real HTTP against the local server:
auctions that fill part of an order and expire the rest, closing orders that expire unfilled,
queued short sales cancelled when a name turns hard to borrow, refusals at submit (buying
power, wash trades), and Alpaca's paper environment (no corporate actions booked, fills at the
quote). Each behaviour is selected on the server's book by the test that needs it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, time

import pytest

from daemon.adapters.alpaca.broker import AlpacaBroker
from daemon.adapters.alpaca.errors import OrderRejectedError
from daemon.adapters.alpaca.factory import build_alpaca_actions
from daemon.core.corporate_actions import ActionKind
from daemon.core.ports import BrokerOrder, OrderRequest, OrderStatus, TimeInForce
from shared.orders import Side
from tests.alpaca_server.harness import Harness, running_harness
from tests.alpaca_server.state import Refusal

D0, D1, D2, D3 = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)


@pytest.fixture
def harness() -> Iterator[Harness]:
    with running_harness() as h:
        h.book.add_bars("AAA", {D0: 100.0})
        h.book.add_bars("BBB", {D0: 50.0})
        yield h


@pytest.fixture
def broker(harness: Harness) -> AlpacaBroker:
    return harness.broker()


def order(cid: str, symbol: str, side: Side, qty: int) -> OrderRequest:
    return OrderRequest(cid, symbol, side, qty, TimeInForce.CLS, reference_price=100.0)


def seen(broker: AlpacaBroker, cid: str) -> BrokerOrder:
    found = broker.order_by_client_id(cid)
    assert found is not None
    return found


def state(found: BrokerOrder) -> tuple[OrderStatus, int, int, float | None]:
    return found.status, found.quantity, found.filled_quantity, found.filled_avg_price


# ---- partial auctions and expiry ----------------------------------------------------------


def test_closing_auction_fills_part_of_a_leg_and_the_rest_expires(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.book.fill_fraction["AAA"] = 0.76
    broker.submit(order("leg-a", "AAA", Side.BUY, 197))
    broker.submit(order("leg-b", "BBB", Side.SELL, 394))
    harness.book.advance_session({"AAA": 100.0, "BBB": 50.0}, D1)
    partial = seen(broker, "leg-a")
    assert state(partial) == (OrderStatus.EXPIRED, 197, 150, 100.0)
    assert partial.status.is_final
    assert state(seen(broker, "leg-b")) == (OrderStatus.FILLED, 394, 394, 50.0)
    assert broker.open_orders() == []
    assert broker.positions() == {"AAA": 150, "BBB": -394}
    assert broker.account().cash == pytest.approx(100_000.0 - 150 * 100.0 + 394 * 50.0)
    raw = harness.book.order_by_client_id("leg-a").json()
    assert (raw["status"], raw["filled_qty"], raw["qty"]) == ("expired", "150", "197")
    assert raw["expired_at"] is not None and raw["canceled_at"] is None
    broker.cancel(partial.broker_order_id)  # already expired: nothing left to cancel


def test_one_order_scripted_to_fill_part_of_its_auction(
    harness: Harness, broker: AlpacaBroker
) -> None:
    broker.submit(order("short-b", "BBB", Side.SELL, 100))
    broker.submit(order("long-a", "AAA", Side.BUY, 50))
    harness.book.auction_fills["short-b"] = 80
    harness.book.advance_session({"AAA": 100.0, "BBB": 50.0}, D1)
    assert state(seen(broker, "short-b")) == (OrderStatus.EXPIRED, 100, 80, 50.0)
    assert state(seen(broker, "long-a")) == (OrderStatus.FILLED, 50, 50, 100.0)
    assert broker.positions() == {"AAA": 50, "BBB": -80}


def test_closing_order_the_auction_does_not_fill_expires_unfilled(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.book.fill_fraction["AAA"] = 0.0
    broker.submit(order("unfilled", "AAA", Side.BUY, 10))
    harness.book.advance_session({"AAA": 100.0}, D1)
    assert state(seen(broker, "unfilled")) == (OrderStatus.EXPIRED, 10, 0, None)
    assert broker.positions() == {} and broker.open_orders() == []
    assert broker.account().cash == 100_000.0


def test_order_whose_symbol_has_no_close_expires_instead_of_waiting(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.book.expire_unfilled = True
    broker.submit(order("halted", "AAA", Side.BUY, 10))
    broker.submit(order("trades", "BBB", Side.SELL, 10))
    harness.book.advance_session({"BBB": 50.0}, D1)  # AAA halted: no closing auction
    assert state(seen(broker, "halted")) == (OrderStatus.EXPIRED, 10, 0, None)
    assert state(seen(broker, "trades")) == (OrderStatus.FILLED, 10, 10, 50.0)
    harness.book.advance_session({"AAA": 101.0, "BBB": 50.0}, D2)
    assert seen(broker, "halted").status is OrderStatus.EXPIRED
    assert broker.positions() == {"BBB": -10}


# ---- hard to borrow -----------------------------------------------------------------------


def test_queued_short_sales_are_cancelled_before_the_open_when_a_name_turns_hard_to_borrow(
    harness: Harness, broker: AlpacaBroker
) -> None:
    broker.submit(order("long-a", "AAA", Side.BUY, 10))
    harness.book.advance_session({"AAA": 100.0, "BBB": 50.0}, D1)
    broker.submit(order("close-a", "AAA", Side.SELL, 10))  # closes the long: kept
    broker.submit(order("flip-a", "AAA", Side.SELL, 5))  # would open a short: cancelled
    broker.submit(order("short-b", "BBB", Side.SELL, 20))
    harness.book.turn_hard_to_borrow("AAA")
    harness.book.turn_hard_to_borrow("BBB")
    asset = broker.asset("BBB")
    assert (asset.tradable, asset.shortable, asset.easy_to_borrow) == (True, True, False)
    assert not asset.can_open_short
    assert len(broker.open_orders()) == 3  # nothing happens before the next open
    harness.book.set_time(D2, time(9, 0))
    assert [o.client_order_id for o in broker.open_orders()] == ["close-a"]
    assert state(seen(broker, "short-b")) == (OrderStatus.CANCELED, 20, 0, None)
    assert state(seen(broker, "flip-a")) == (OrderStatus.CANCELED, 5, 0, None)
    harness.book.advance_session({"AAA": 102.0, "BBB": 51.0}, D2)
    assert state(seen(broker, "close-a")) == (OrderStatus.FILLED, 10, 10, 102.0)
    assert broker.positions() == {}


def test_name_turning_hard_to_borrow_in_the_session_leaves_todays_close_alone(
    harness: Harness, broker: AlpacaBroker
) -> None:
    broker.submit(order("short-b", "BBB", Side.SELL, 20))
    harness.book.set_time(D1, time(12, 0))
    harness.book.turn_hard_to_borrow("BBB")
    harness.book.advance_session({"AAA": 100.0, "BBB": 50.0}, D1)
    assert seen(broker, "short-b").status is OrderStatus.FILLED
    assert broker.positions() == {"BBB": -20}


def test_hard_to_borrow_name_refuses_new_shorts_but_not_closing_sells(
    harness: Harness, broker: AlpacaBroker
) -> None:
    broker.submit(order("long-b", "BBB", Side.BUY, 10))
    harness.book.advance_session({"BBB": 50.0}, D1)
    harness.book.turn_hard_to_borrow("BBB")
    with pytest.raises(OrderRejectedError, match="not easy to borrow"):
        broker.submit(order("short-b", "BBB", Side.SELL, 30))  # refused before sending
    assert harness.book.count("POST", "/v2/orders") == 1
    unchecked = harness.broker(preflight=False)
    with pytest.raises(OrderRejectedError, match="cannot be sold short") as info:
        unchecked.submit(order("short-b", "BBB", Side.SELL, 30))
    assert (info.value.rejected, info.value.status, info.value.code) == (True, 422, 42210000)
    assert seen(broker, "long-b").status is OrderStatus.FILLED
    assert broker.submit(order("close-b", "BBB", Side.SELL, 10)).status is OrderStatus.NEW


# ---- refusals at submit -------------------------------------------------------------------


def test_second_leg_refused_for_buying_power_by_script(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.book.refuse(Refusal(after=1))  # the second order sent from now on
    assert broker.submit(order("leg-a", "AAA", Side.BUY, 10)).status is OrderStatus.NEW
    with pytest.raises(OrderRejectedError, match="insufficient buying power") as info:
        broker.submit(order("leg-b", "BBB", Side.SELL, 20))
    error = info.value
    assert (error.rejected, error.status, error.code) == (True, 403, 40310000)
    assert (error.client_order_id, error.symbol) == ("leg-b", "BBB")
    assert harness.book.orders_with_client_id("leg-b") == []
    assert [o.client_order_id for o in broker.open_orders()] == ["leg-a"]
    # Used up: the same client id goes through when sent again.
    assert broker.submit(order("leg-b", "BBB", Side.SELL, 20)).status is OrderStatus.NEW


def test_refusal_by_symbol_and_side_lasts_its_times(harness: Harness, broker: AlpacaBroker) -> None:
    harness.book.refuse(Refusal(symbol="BBB", side="sell", times=2))
    assert broker.submit(order("buy-b", "BBB", Side.BUY, 5)).status is OrderStatus.NEW
    for _ in range(2):
        with pytest.raises(OrderRejectedError, match="insufficient buying power"):
            broker.submit(order("short-b", "BBB", Side.SELL, 20))
    assert broker.submit(order("short-b", "BBB", Side.SELL, 20)).status is OrderStatus.NEW


def test_pending_first_leg_takes_the_buying_power_the_second_leg_needs(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.book.cash = 10_000.0  # 20,000 of buying power at 2x
    broker.submit(order("leg-a", "AAA", Side.BUY, 150))  # 15,000 of it
    assert broker.account().buying_power == pytest.approx(5_000.0)
    with pytest.raises(OrderRejectedError, match="insufficient buying power") as info:
        broker.submit(order("leg-b", "BBB", Side.SELL, 150))  # 7,500
    assert (info.value.status, info.value.code) == (403, 40310000)
    assert [o.client_order_id for o in broker.open_orders()] == ["leg-a"]


def test_order_opposite_an_open_one_is_refused_as_a_potential_wash_trade(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.book.refuse_wash_trades = True
    broker.submit(order("buy-a", "AAA", Side.BUY, 10))
    with pytest.raises(OrderRejectedError, match="potential wash trade detected") as info:
        broker.submit(order("sell-a", "AAA", Side.SELL, 4))
    assert (info.value.rejected, info.value.status, info.value.code) == (True, 422, 42210000)
    assert info.value.broker_message == "potential wash trade detected. use complex orders"
    assert broker.submit(order("buy-a2", "AAA", Side.BUY, 5)).status is OrderStatus.NEW
    assert broker.submit(order("sell-b", "BBB", Side.SELL, 5)).status is OrderStatus.NEW
    harness.book.advance_session({"AAA": 100.0, "BBB": 50.0}, D1)
    # Nothing opposite is open any more.
    assert broker.submit(order("sell-a", "AAA", Side.SELL, 4)).status is OrderStatus.NEW


# ---- Alpaca's paper environment -----------------------------------------------------------


def _hold_through_a_split_and_a_dividend(harness: Harness, broker: AlpacaBroker) -> None:
    broker.submit(order("long-a", "AAA", Side.BUY, 10))
    broker.submit(order("short-b", "BBB", Side.SELL, 20))
    harness.book.advance_session({"AAA": 100.0, "BBB": 50.0}, D1)
    harness.book.add_split("AAA", D2, 2.0)
    harness.book.add_dividend("BBB", D2, 0.5)
    harness.book.advance_session({"AAA": 51.0, "BBB": 49.5}, D2)


def _market_still_shows_the_events(harness: Harness) -> None:
    closes = harness.bars().daily_closes(["AAA"], D0, D2)
    assert closes["AAA"].tolist() == pytest.approx([50.0, 50.0, 51.0])
    announced = build_alpaca_actions(harness.env, harness.settings, retry=harness.retry)
    found = announced.corporate_actions(["AAA", "BBB"], D1, D3)
    assert sorted((a.symbol, a.kind) for a in found) == [
        ("AAA", ActionKind.SPLIT),
        ("BBB", ActionKind.DIVIDEND),
    ]


def test_alpaca_books_the_split_and_the_dividend(harness: Harness, broker: AlpacaBroker) -> None:
    _hold_through_a_split_and_a_dividend(harness, broker)
    assert broker.positions() == {"AAA": 20, "BBB": -20}
    account = broker.account()
    assert account.cash == pytest.approx(100_000.0 - 1_000.0 + 1_000.0 - 20 * 0.5)
    assert account.equity == pytest.approx(account.cash + 20 * 51.0 - 20 * 49.5)
    _market_still_shows_the_events(harness)


def test_paper_environment_books_no_split_and_pays_no_dividend(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.book.paper_books_actions = False
    _hold_through_a_split_and_a_dividend(harness, broker)
    assert broker.positions() == {"AAA": 10, "BBB": -20}
    account = broker.account()
    assert account.cash == pytest.approx(100_000.0)
    # The price halved and the shares did not double: the long lost half its value.
    assert account.equity == pytest.approx(100_000.0 + 10 * 51.0 - 20 * 49.5)
    _market_still_shows_the_events(harness)


def test_paper_fills_at_the_quote_half_a_spread_from_the_close(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.book.half_spread.update({"AAA": 0.05, "BBB": 0.02})
    broker.submit(order("buy-a", "AAA", Side.BUY, 10))
    broker.submit(order("sell-b", "BBB", Side.SELL, 20))
    harness.book.advance_session({"AAA": 100.0, "BBB": 50.0}, D1)
    assert seen(broker, "buy-a").filled_avg_price == pytest.approx(100.05)
    assert seen(broker, "sell-b").filled_avg_price == pytest.approx(49.98)
    assert broker.account().cash == pytest.approx(100_000.0 - 10 * 100.05 + 20 * 49.98)
