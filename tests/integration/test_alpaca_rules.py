"""Alpaca's real rules, each against the local Alpaca-compatible server over real HTTP:
422 40010001 is a validation error unless the message says the client id is taken, the cls/opg
order windows on the broker's clock, and the free plan's 15-minute SIP delay."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from daemon.adapters.alpaca.errors import AlpacaRequestError, OrderRejectedError
from daemon.adapters.alpaca.factory import build_alpaca_bars
from daemon.core.ports import OrderRequest, OrderStatus, TimeInForce
from shared.orders import Side
from tests.alpaca_server.harness import Harness, running_harness
from tests.alpaca_server.state import Fault

NY = ZoneInfo("America/New_York")
TUE, WED, THU = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)


@pytest.fixture
def harness() -> Iterator[Harness]:
    with running_harness() as h:
        h.book.add_bars("AAA", {TUE: 100.0})
        yield h


def order(cid: str, tif: TimeInForce = TimeInForce.CLS, qty: int = 10) -> OrderRequest:
    return OrderRequest(cid, "AAA", Side.BUY, qty, tif, reference_price=100.0)


# ---- 422 40010001: a validation error, unless the client id is taken --------------------


@pytest.mark.parametrize(
    "message",
    ["us_equity orders not allowed for account", "invalid time_in_force", "qty must be > 0"],
)
def test_a_validation_422_is_a_rejection_with_alpacas_reason_and_is_posted_once(
    harness: Harness, message: str
) -> None:
    harness.server.inject(
        Fault("POST", "/v2/orders", status=422, body={"code": 40010001, "message": message})
    )
    broker = harness.broker()
    with pytest.raises(OrderRejectedError) as info:
        broker.submit(order("v-1"))
    assert info.value.rejected and info.value.broker_message == message
    assert (info.value.status, info.value.code) == (422, 40010001)
    assert harness.book.count("POST", "/v2/orders") == 1
    assert harness.book.orders_with_client_id("v-1") == []


def test_a_duplicate_of_a_cancelled_order_returns_that_order_instead_of_posting_again(
    harness: Harness,
) -> None:
    broker = harness.broker()
    placed = broker.submit(order("dup-1"))
    broker.cancel(placed.broker_order_id)
    # The lookup before posting misses once (a replica lagging): the post is refused as a
    # duplicate, which Alpaca also says for a cancelled order; the adapter looks it up.
    harness.server.inject(Fault("GET", "/v2/orders:by_client_order_id", status=404))
    with capture_logs() as logs:
        again = broker.submit(order("dup-1"))
    assert again.broker_order_id == placed.broker_order_id
    assert again.status is OrderStatus.CANCELED
    assert len(harness.book.orders_with_client_id("dup-1")) == 1
    assert [e["event"] for e in logs if e["event"] == "order_resolved"] == ["order_resolved"]


def test_the_server_answers_40010001_for_several_validation_errors(harness: Harness) -> None:
    broker = harness.broker()
    harness.book.set_time(TUE, time(17, 0))
    with pytest.raises(OrderRejectedError) as info:
        broker.submit(order("w-1"))
    assert info.value.code == 40010001 and "cls orders are not accepted" in str(info.value)


# ---- order windows on the broker's clock ------------------------------------------------


@pytest.mark.parametrize(
    ("tif", "clock", "taken"),
    [
        (TimeInForce.CLS, time(15, 49), True),
        (TimeInForce.CLS, time(15, 50), False),
        (TimeInForce.CLS, time(18, 59), False),
        (TimeInForce.CLS, time(19, 0), True),
        (TimeInForce.OPG, time(9, 27), True),
        (TimeInForce.OPG, time(9, 28), False),
        (TimeInForce.OPG, time(19, 0), True),
        (TimeInForce.DAY, time(17, 0), True),
    ],
)
def test_the_server_follows_alpacas_windows(
    harness: Harness, tif: TimeInForce, clock: time, taken: bool
) -> None:
    harness.book.set_time(WED, clock)
    broker = harness.broker()
    if taken:
        assert broker.submit(order("t-1", tif)).status is OrderStatus.NEW
    else:
        with pytest.raises(OrderRejectedError, match="not accepted between"):
            broker.submit(order("t-1", tif))


def test_a_cls_order_sent_after_19_00_waits_for_the_next_sessions_close(harness: Harness) -> None:
    harness.book.set_time(TUE, time(19, 5))
    broker = harness.broker()
    broker.submit(order("late-1"))
    harness.book.advance_session({"AAA": 101.0}, WED)
    assert broker.order_by_client_id("late-1").status is OrderStatus.FILLED  # type: ignore[union-attr]
    harness.book.set_time(WED, time(19, 5))
    broker.submit(order("late-2"))
    harness.book.advance_session({"AAA": 101.0}, WED)  # same session again: not its close
    assert broker.order_by_client_id("late-2").status is OrderStatus.NEW  # type: ignore[union-attr]
    harness.book.advance_session({"AAA": 102.0}, THU)
    filled = broker.order_by_client_id("late-2")
    assert filled is not None and filled.status is OrderStatus.FILLED
    assert filled.filled_avg_price == 102.0


def test_the_broker_clock_and_calendar_are_the_servers(harness: Harness) -> None:
    harness.book.set_time(WED, time(17, 0))
    broker = harness.broker()
    assert broker.clock().timestamp == datetime.combine(WED, time(17, 0), NY)
    days = broker.calendar(TUE, date(2024, 1, 8))
    assert [d.session for d in days] == [TUE, WED, THU, date(2024, 1, 5), date(2024, 1, 8)]
    assert days[0].close == datetime.combine(TUE, time(16, 0), NY)


# ---- the SIP feed: every request ends 15 minutes before the broker's now -----------------


def test_sip_bars_end_fifteen_minutes_before_the_brokers_clock(harness: Harness) -> None:
    harness.book.add_bars("AAA", {WED: 101.0})
    harness.book.set_time(WED, time(16, 20))
    frame = harness.bars("sip").daily_closes(["AAA"], TUE, WED)
    assert frame["AAA"].tolist() == [100.0, 101.0]
    (params,) = [p for m, path, p in harness.book.requests if path == "/v2/stocks/bars"]
    assert params["feed"] == "sip"
    end = datetime.fromisoformat(params["end"].replace("Z", "+00:00"))
    assert end <= datetime.combine(WED, time(16, 5), NY)


def test_recent_sip_data_is_refused_by_the_free_plan_with_a_clear_error(
    harness: Harness,
) -> None:
    harness.book.set_time(WED, time(16, 20))
    settings = harness.settings.model_copy(update={"feed": "sip", "sip_delay_minutes": 0})
    eager = build_alpaca_bars(harness.env, settings, retry=harness.retry)  # a paid plan's setting
    with pytest.raises(AlpacaRequestError, match="subscription does not permit") as info:
        eager.daily_closes(["AAA"], TUE, WED)
    assert "sip_delay_minutes" in str(info.value) and "refused the API keys" not in str(info.value)


def test_iex_bars_have_no_delay(harness: Harness) -> None:
    harness.book.set_time(WED, time(16, 1))
    harness.book.add_bars("AAA", {WED: 101.0})
    assert harness.bars("iex").daily_closes(["AAA"], TUE, WED)["AAA"].tolist() == [100.0, 101.0]
