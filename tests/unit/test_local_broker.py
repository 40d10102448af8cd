"""The local paper broker: the research fill model, persisted, idempotent on client ids."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from daemon.adapters.local.broker import LocalPaperBroker
from daemon.core.ports import OrderRequest, OrderStatus, TimeInForce
from daemon.timing.clock import FixedClock
from shared.errors import BrokerError
from shared.fill_model import Book, process_bar
from shared.orders import Leg, OrderIntent, Side

D1, D2, D3 = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)
CLOCK = FixedClock(datetime(2024, 1, 2, 21, 30, tzinfo=UTC))


def _broker(tmp_path: Path, cash: float = 10_000.0, commission: float = 0.001) -> LocalPaperBroker:
    return LocalPaperBroker(
        tmp_path / "book.sqlite", initial_cash=cash, commission=commission, clock=CLOCK
    )


def _req(cid: str, symbol: str, side: Side, qty: int, price: float) -> OrderRequest:
    return OrderRequest(cid, symbol, side, qty, TimeInForce.CLS, price)


def test_an_order_fills_at_the_next_settled_close_with_commission(tmp_path: Path) -> None:
    broker = _broker(tmp_path)
    broker.settle(D1, {"AAA": 10.0})
    order = broker.submit(_req("c1", "AAA", Side.BUY, 100, 10.0))
    assert order.status is OrderStatus.NEW and broker.positions() == {}
    broker.settle(D2, {"AAA": 11.0})
    filled = broker.order_by_client_id("c1")
    assert filled is not None and filled.status is OrderStatus.FILLED
    assert filled.filled_quantity == 100 and filled.filled_avg_price == 11.0
    assert filled.commission == pytest.approx(100 * 11.0 * 0.001)
    account = broker.account()
    assert account.cash == pytest.approx(10_000 - 1100 - 1.1)
    assert account.equity == pytest.approx(account.cash + 1100)


def test_submitting_the_same_client_id_twice_creates_one_order(tmp_path: Path) -> None:
    broker = _broker(tmp_path)
    first = broker.submit(_req("c1", "AAA", Side.BUY, 5, 10.0))
    again = broker.submit(_req("c1", "AAA", Side.BUY, 5, 10.0))
    assert first.broker_order_id == again.broker_order_id
    assert len(broker.open_orders()) == 1


def test_settling_a_session_twice_fills_nothing_new(tmp_path: Path) -> None:
    broker = _broker(tmp_path)
    broker.submit(_req("c1", "AAA", Side.BUY, 5, 10.0))
    broker.settle(D1, {"AAA": 10.0})
    broker.submit(_req("c2", "AAA", Side.BUY, 5, 10.0))  # decided on D1's close
    broker.settle(D1, {"AAA": 10.0})  # a re-run of D1 must not fill D1's own orders
    assert broker.positions() == {"AAA": 5}
    assert broker.order_by_client_id("c2").status is OrderStatus.NEW  # type: ignore[union-attr]
    with pytest.raises(BrokerError, match="earlier"):
        broker.settle(date(2023, 12, 29), {"AAA": 10.0})


def test_the_creation_price_cash_check_rejects_and_cascades(tmp_path: Path) -> None:
    broker = _broker(tmp_path, cash=1_000.0, commission=0.0)
    broker.submit(_req("c1", "AAA", Side.BUY, 90, 10.0))  # run_cash 100
    broker.submit(_req("c2", "BBB", Side.BUY, 20, 10.0))  # run_cash -100: rejected
    broker.submit(_req("c3", "CCC", Side.BUY, 5, 10.0))  # still below 0: rejected too
    broker.settle(D1, {"AAA": 10.0, "BBB": 10.0, "CCC": 10.0})
    statuses = [broker.order_by_client_id(c).status for c in ("c1", "c2", "c3")]  # type: ignore[union-attr]
    assert statuses == [OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.REJECTED]


def test_the_execution_time_margin_check_nullifies_an_opening_buy(tmp_path: Path) -> None:
    broker = _broker(tmp_path, cash=1_000.0, commission=0.0)
    broker.submit(_req("c1", "AAA", Side.BUY, 90, 10.0))  # passes at the creation price
    broker.settle(D1, {"AAA": 20.0})  # but costs 1800 at the fill price
    order = broker.order_by_client_id("c1")
    assert order is not None and order.status is OrderStatus.REJECTED
    assert order.filled_quantity == 0 and broker.positions() == {}


def test_the_book_survives_a_reopen(tmp_path: Path) -> None:
    broker = _broker(tmp_path)
    broker.submit(_req("c1", "AAA", Side.SELL, 7, 10.0))
    broker.settle(D1, {"AAA": 10.0})
    broker.close()
    again = _broker(tmp_path, cash=1.0)  # initial cash only applies to a new book
    assert again.positions() == {"AAA": -7}
    assert again.account().cash == pytest.approx(10_000 + 70 - 0.07)


def test_fills_equal_the_shared_fill_model_on_random_orders(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    broker = _broker(tmp_path, cash=5_000.0, commission=0.0005)
    book = Book(cash=5_000.0, positions={})
    prices = {"AAA": 50.0, "BBB": 20.0}
    pending: list[OrderIntent] = []
    for bar, session in enumerate([date(2024, 2, d) for d in range(1, 29)]):
        book, _, _ = process_bar(book, pending, prices, bar, 0.0005)
        broker.settle(session, prices)
        assert broker.account().cash == pytest.approx(book.cash, rel=0, abs=1e-9)
        assert broker.positions() == {s: q for s, q in book.positions.items() if q}
        pending = []
        for k in range(int(rng.integers(0, 4))):
            symbol = str(rng.choice(["AAA", "BBB"]))
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            qty = int(rng.integers(1, 120))
            pending.append(OrderIntent(0, Leg.A, symbol, side, qty, prices[symbol]))
            broker.submit(_req(f"{session}-{k}", symbol, side, qty, prices[symbol]))
        prices = {s: p * float(np.exp(rng.normal(0, 0.05))) for s, p in prices.items()}


# --- an empty cell (a halt): no invented price, the pair's orders wait ------------------------
PAIRS = (("AAA", "BBB"), ("CCC", "DDD"))


def _paired(tmp_path: Path, cash: float = 10_000.0, commission: float = 0.0) -> LocalPaperBroker:
    return LocalPaperBroker(
        tmp_path / "book.sqlite",
        initial_cash=cash,
        commission=commission,
        clock=CLOCK,
        pairs=PAIRS,
    )


def _status(broker: LocalPaperBroker, cid: str) -> tuple[OrderStatus, float | None]:
    order = broker.order_by_client_id(cid)
    assert order is not None
    return order.status, order.filled_avg_price


@pytest.mark.parametrize("empty", ["absent", "nan"])
def test_an_order_whose_symbol_has_no_close_never_fills_at_an_older_close(
    tmp_path: Path, empty: str
) -> None:
    broker = _paired(tmp_path)
    broker.settle(D1, {"AAA": 10.0, "BBB": 20.0})
    broker.submit(_req("a", "AAA", Side.SELL, 30, 10.0))
    broker.submit(_req("b", "BBB", Side.BUY, 10, 20.0))
    halted = {"AAA": 11.0} if empty == "absent" else {"AAA": 11.0, "BBB": float("nan")}
    broker.settle(D2, halted)  # BBB halted: no close on D2
    # Neither leg fills (never half a pair), nothing at D1's 20.0, the cash is untouched.
    assert _status(broker, "a") == (OrderStatus.NEW, None)
    assert _status(broker, "b") == (OrderStatus.NEW, None)
    assert broker.positions() == {} and broker.account().cash == 10_000.0
    broker.settle(D3, {"AAA": 12.0, "BBB": 21.0})  # the next session both legs trade
    assert _status(broker, "a") == (OrderStatus.FILLED, 12.0)
    assert _status(broker, "b") == (OrderStatus.FILLED, 21.0)
    assert broker.positions() == {"AAA": -30, "BBB": 10}
    assert broker.account().cash == 10_000.0 + 30 * 12.0 - 10 * 21.0


def test_a_pair_waits_for_the_session_both_legs_trade_even_with_one_order(
    tmp_path: Path,
) -> None:
    """A pair that sent one leg only (``int(beta * stake)`` was 0) still has no bar while its
    other leg has no close; a leg halted on one session and the other on the next make it wait
    two sessions."""
    broker = _paired(tmp_path)
    broker.settle(D1, {"AAA": 10.0, "BBB": 20.0})
    broker.submit(_req("b", "BBB", Side.BUY, 10, 20.0))
    broker.settle(D2, {"BBB": 22.0})  # AAA halted
    assert _status(broker, "b") == (OrderStatus.NEW, None)
    broker.settle(D3, {"AAA": 10.5})  # BBB halted
    assert _status(broker, "b") == (OrderStatus.NEW, None)
    broker.settle(date(2024, 1, 5), {"AAA": 10.7, "BBB": 23.0})
    assert _status(broker, "b") == (OrderStatus.FILLED, 23.0)


def test_other_pairs_fill_as_usual_while_one_pair_waits(tmp_path: Path) -> None:
    broker = _paired(tmp_path)
    broker.settle(D1, {"AAA": 10.0, "BBB": 20.0, "CCC": 5.0, "DDD": 8.0})
    broker.submit(_req("a", "AAA", Side.BUY, 10, 10.0))
    broker.submit(_req("c", "CCC", Side.BUY, 10, 5.0))
    broker.submit(_req("d", "DDD", Side.SELL, 5, 8.0))
    broker.settle(D2, {"AAA": 11.0, "CCC": 6.0, "DDD": 9.0})  # BBB halted
    assert _status(broker, "a") == (OrderStatus.NEW, None)
    assert _status(broker, "c") == (OrderStatus.FILLED, 6.0)
    assert _status(broker, "d") == (OrderStatus.FILLED, 9.0)
    assert broker.positions() == {"CCC": 10, "DDD": -5}
    assert [o.client_order_id for o in broker.open_orders()] == ["a"]


def test_a_held_position_in_a_halted_symbol_is_marked_at_its_last_close(tmp_path: Path) -> None:
    broker = _paired(tmp_path)
    broker.submit(_req("b", "BBB", Side.BUY, 10, 20.0))
    broker.settle(D1, {"AAA": 10.0, "BBB": 20.0})
    broker.settle(D2, {"AAA": 11.0, "BBB": float("nan")})
    account = broker.account()
    assert account.equity == account.cash + 10 * 20.0


def test_a_symbol_outside_the_pairs_waits_for_its_own_close_only(tmp_path: Path) -> None:
    broker = _paired(tmp_path)
    broker.submit(_req("x", "XXX", Side.BUY, 1, 10.0))
    broker.settle(D1, {"AAA": 10.0})
    assert _status(broker, "x") == (OrderStatus.NEW, None)
    broker.settle(D2, {"XXX": 10.5})
    assert _status(broker, "x") == (OrderStatus.FILLED, 10.5)


def test_waiting_orders_keep_their_place_in_the_creation_order_of_the_cash_check(
    tmp_path: Path,
) -> None:
    """Shared cash: the waiting orders take no part in the gap session's check, so another
    pair's buy passes it with the whole cash; at the session they fill they are checked first
    (created first), before the orders created after them: the fill model's ``process_bar``
    on the gap session's ready orders, then on the queue in creation order."""
    broker = _paired(tmp_path, cash=1_000.0, commission=0.0005)
    closes = {"AAA": 10.0, "BBB": 20.0, "CCC": 10.0, "DDD": 10.0}
    broker.settle(D1, closes)
    waiting = [
        OrderIntent(0, Leg.A, "AAA", Side.BUY, 60, 10.0),
        OrderIntent(0, Leg.B, "BBB", Side.SELL, 5, 20.0),
    ]
    other = OrderIntent(1, Leg.A, "CCC", Side.BUY, 50, 10.0)  # would fail behind the waiting
    later = OrderIntent(1, Leg.B, "DDD", Side.SELL, 10, 10.0)
    for cid, o in zip(("w0", "w1", "c"), [*waiting, other], strict=True):
        broker.submit(_req(cid, o.symbol, o.side, o.quantity, o.price))
    gap = {s: p for s, p in closes.items() if s != "BBB"}  # BBB halted on D2
    broker.settle(D2, gap)
    broker.submit(_req("l", later.symbol, later.side, later.quantity, later.price))
    broker.settle(D3, closes)

    book, _, _ = process_bar(Book(cash=1_000.0, positions={}), [other], gap, 1, 0.0005)
    book, fills, rejections = process_bar(book, [*waiting, later], closes, 2, 0.0005)
    assert [(f.symbol, f.signed_quantity) for f in fills] == [("DDD", -10)]
    assert [(r.symbol, r.signed_quantity) for r in rejections] == [("AAA", 60), ("BBB", -5)]
    statuses = [_status(broker, c)[0] for c in ("w0", "w1", "c", "l")]
    assert statuses == [OrderStatus.REJECTED, OrderStatus.REJECTED] + [OrderStatus.FILLED] * 2
    assert broker.account().cash == pytest.approx(book.cash, rel=0, abs=1e-9)
    assert broker.positions() == {s: q for s, q in book.positions.items() if q}
