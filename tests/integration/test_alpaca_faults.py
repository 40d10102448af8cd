"""Faults between AlpacaBroker and Alpaca: every submit ends with exactly one order per client
id on the server, unknown outcomes are settled by looking the order up, rejections are typed,
auth failures stop at once and transient failures back off within bounds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from daemon.adapters.alpaca.broker import AlpacaBroker
from daemon.adapters.alpaca.errors import (
    AlpacaAuthError,
    AlpacaRequestError,
    AlpacaUnavailableError,
    OrderOutcomeUnknownError,
    OrderRejectedError,
)
from daemon.core.ports import OrderRequest, OrderStatus, TimeInForce
from shared.errors import BrokerError
from shared.orders import Side
from tests.alpaca_server.harness import SLOW_ANSWER_S, Harness, running_harness
from tests.alpaca_server.state import Fault

CID = "cfg9-20240102-p0-A-0"
ORDER = OrderRequest(CID, "AAA", Side.BUY, 10, TimeInForce.CLS, reference_price=100.0)
SHORT = OrderRequest(CID, "AAA", Side.SELL, 10, TimeInForce.CLS, reference_price=100.0)


@pytest.fixture
def harness() -> Iterator[Harness]:
    with running_harness() as h:
        h.book.add_bars("AAA", {date(2024, 1, 2): 100.0})
        yield h


@pytest.fixture
def broker(harness: Harness) -> AlpacaBroker:
    return harness.broker()


def one_order(harness: Harness) -> None:
    assert len(harness.book.orders_with_client_id(CID)) == 1


# ---- unknown outcomes: look the order up, never resubmit blindly ------------------------


def test_answer_slower_than_the_timeout_is_resolved_by_lookup(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.server.inject(Fault("POST", "/v2/orders", delay_s=SLOW_ANSWER_S, process=True))
    placed = broker.submit(ORDER)
    assert placed.client_order_id == CID and placed.status is OrderStatus.NEW
    one_order(harness)
    assert harness.book.count("POST", "/v2/orders") == 1


def test_connection_dropped_after_the_order_was_stored_is_resolved_by_lookup(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.server.inject(Fault("POST", "/v2/orders", drop=True, process=True))
    assert broker.submit(ORDER).client_order_id == CID
    one_order(harness)
    assert harness.book.count("POST", "/v2/orders") == 1


def test_connection_dropped_before_storing_resubmits_after_the_lookup_misses(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.server.inject(Fault("POST", "/v2/orders", drop=True))
    assert broker.submit(ORDER).client_order_id == CID
    one_order(harness)
    assert harness.book.count("POST", "/v2/orders") == 2
    assert harness.sleeps == [0.5]


@pytest.mark.parametrize("status", [500, 503, 504])
def test_server_error_after_storing_is_resolved_by_lookup(
    harness: Harness, broker: AlpacaBroker, status: int
) -> None:
    harness.server.inject(Fault("POST", "/v2/orders", status=status, process=True))
    assert broker.submit(ORDER).client_order_id == CID
    one_order(harness)
    assert harness.book.count("POST", "/v2/orders") == 1


@pytest.mark.parametrize("status", [500, 503, 504])
def test_server_error_before_storing_is_retried_with_backoff(
    harness: Harness, broker: AlpacaBroker, status: int
) -> None:
    harness.server.inject(Fault("POST", "/v2/orders", status=status, times=2))
    assert broker.submit(ORDER).client_order_id == CID
    one_order(harness)
    assert harness.book.count("POST", "/v2/orders") == 3
    assert harness.sleeps == [0.5, 1.0]


def test_duplicate_client_id_answer_means_the_order_exists(
    harness: Harness, broker: AlpacaBroker
) -> None:
    # The first submit landed but its answer was lost; Alpaca refuses the retry as a duplicate.
    harness.server.inject(Fault("POST", "/v2/orders", status=422, process=True))
    placed = broker.submit(ORDER)
    assert placed.client_order_id == CID and placed.quantity == 10
    one_order(harness)


def test_outage_through_every_attempt_is_an_unknown_outcome_not_a_duplicate(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.server.inject(Fault("POST", "/v2/orders", status=503, times=99))
    with pytest.raises(OrderOutcomeUnknownError, match=CID) as info:
        broker.submit(ORDER)
    assert info.value.client_order_id == CID and info.value.retryable
    assert harness.book.orders_with_client_id(CID) == []
    assert harness.book.count("POST", "/v2/orders") == 4
    assert harness.sleeps == [0.5, 1.0, 2.0]


def test_lookup_failing_too_leaves_the_outcome_unknown(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.server.inject(Fault("POST", "/v2/orders", drop=True, process=True))
    # The lookup before the submit answers; the one after the dropped answer does not.
    lookup = "/v2/orders:by_client_order_id"
    harness.server.inject(Fault("GET", lookup, status=503, times=99, after=1))
    with pytest.raises(OrderOutcomeUnknownError, match="lookup by client id failed"):
        broker.submit(ORDER)
    assert harness.book.count("POST", "/v2/orders") == 1
    one_order(harness)  # it did land: the next run's reconciliation will find it


def test_next_run_finds_an_order_whose_submit_answer_was_lost(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.server.inject(Fault("POST", "/v2/orders", status=503, times=99, process=True))
    placed = broker.submit(ORDER)  # stored on the first attempt; found by the lookup
    again = harness.broker().submit(ORDER)  # a restarted daemon asks again
    assert again == placed
    one_order(harness)


# ---- rate limits and read timeouts ------------------------------------------------------


def test_rate_limited_submit_backs_off_and_is_placed_once(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.server.inject(Fault("POST", "/v2/orders", status=429, times=3))
    assert broker.submit(ORDER).client_order_id == CID
    one_order(harness)
    assert harness.sleeps == [0.5, 1.0, 2.0]
    # A 429 is answered before Alpaca looks at the order: no lookup is needed in between.
    assert harness.book.count("GET", "/v2/orders:by_client_order_id") == 1


def test_rate_limit_that_never_lifts_is_unavailable_and_places_nothing(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.server.inject(Fault("POST", "/v2/orders", status=429, times=99))
    with pytest.raises(AlpacaUnavailableError, match="not placed") as info:
        broker.submit(ORDER)
    assert not isinstance(info.value, OrderOutcomeUnknownError)
    assert harness.book.orders_with_client_id(CID) == []


def test_alpaca_py_does_not_retry_on_its_own(harness: Harness, broker: AlpacaBroker) -> None:
    # alpaca-py would retry a 429/504 three times with 3 s sleeps; ours counts every request.
    harness.server.inject(Fault("GET", "/v2/account", status=504, times=99))
    with pytest.raises(AlpacaUnavailableError, match="reading the account after 4 attempt"):
        broker.account()
    assert harness.book.count("GET", "/v2/account") == 4
    assert harness.sleeps == [0.5, 1.0, 2.0]


def test_read_slower_than_the_timeout_is_retried(harness: Harness, broker: AlpacaBroker) -> None:
    harness.server.inject(Fault("GET", "/v2/positions", delay_s=SLOW_ANSWER_S, process=True))
    assert broker.positions() == {}
    assert harness.book.count("GET", "/v2/positions") == 2
    assert harness.sleeps == [0.5]


# ---- rejections: typed, recorded against the intent, never retried ----------------------


def test_insufficient_buying_power_is_a_typed_rejection(
    harness: Harness, broker: AlpacaBroker
) -> None:
    big = OrderRequest(CID, "AAA", Side.BUY, 5_000, TimeInForce.CLS, reference_price=100.0)
    with pytest.raises(OrderRejectedError, match="insufficient buying power") as info:
        broker.submit(big)
    error = info.value
    assert isinstance(error, BrokerError)
    assert (error.rejected, error.status, error.client_order_id) == (True, 403, CID)
    assert error.broker_message == "insufficient buying power"
    assert harness.book.orders_with_client_id(CID) == []
    assert harness.book.count("POST", "/v2/orders") == 1 and harness.sleeps == []


def test_not_shortable_answer_from_alpaca_is_a_typed_rejection(harness: Harness) -> None:
    harness.book.not_shortable.add("AAA")
    broker = harness.broker(preflight=False)
    with pytest.raises(OrderRejectedError, match="cannot be sold short") as info:
        broker.submit(SHORT)
    assert (info.value.rejected, info.value.status, info.value.code) == (True, 422, 42210000)
    assert harness.book.orders_with_client_id(CID) == []


def test_not_allowed_to_short_injected_as_403_is_a_rejection_when_keys_work(
    harness: Harness, broker: AlpacaBroker
) -> None:
    body = {"code": 40310000, "message": "account is not allowed to short"}
    harness.server.inject(Fault("POST", "/v2/orders", status=403, body=body))
    with pytest.raises(OrderRejectedError, match="not allowed to short"):
        broker.submit(SHORT)
    assert harness.book.orders_with_client_id(CID) == []


def test_market_closed_for_the_time_in_force_is_a_typed_rejection(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.book.closed_for.add("cls")
    with pytest.raises(OrderRejectedError, match="market is closed for cls orders") as info:
        broker.submit(ORDER)
    assert info.value.rejected
    assert harness.book.orders_with_client_id(CID) == []


# ---- authentication: stop at once with a clear message ----------------------------------


def test_wrong_keys_stop_at_once_without_retries(harness: Harness) -> None:
    broker = harness.broker()
    harness.book.secret_key = "rotated-secret"
    with pytest.raises(AlpacaAuthError, match="APCA_API_KEY_ID") as info:
        broker.account()
    assert (info.value.status, info.value.rejected, info.value.retryable) == (401, False, False)
    assert harness.book.count("GET", "/v2/account") == 1 and harness.sleeps == []


def test_keys_forbidden_everywhere_make_a_submit_an_auth_error_not_a_rejection(
    harness: Harness, broker: AlpacaBroker
) -> None:
    harness.server.inject(Fault("*", "*", status=403, times=99))
    with pytest.raises(AlpacaAuthError, match="refused the API keys") as info:
        broker.submit(ORDER)
    assert not info.value.rejected and info.value.status == 403
    assert harness.sleeps == []
    assert harness.book.orders_with_client_id(CID) == []


def test_not_found_on_the_order_endpoint_is_a_request_error_not_a_rejection(
    harness: Harness, broker: AlpacaBroker
) -> None:
    body = {"code": 40410000, "message": "endpoint not found"}
    harness.server.inject(Fault("POST", "/v2/orders", status=404, body=body))
    with pytest.raises(AlpacaRequestError, match="endpoint not found") as info:
        broker.submit(ORDER)
    assert not info.value.rejected
