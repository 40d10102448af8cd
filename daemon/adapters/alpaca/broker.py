"""``AlpacaBroker``: the daemon's ``Broker`` port on alpaca-py's ``TradingClient``.

Submitting is the one non-idempotent call, so it never resubmits blindly: when the outcome of
a submit is unknown (timeout, reset, 5xx) the order is looked up by its deterministic
``client_order_id`` first, and Alpaca's own uniqueness check on that id ("client_order_id must
be unique", HTTP 422) turns any resubmission of an order that did land into a lookup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderType, QueryOrderStatus
from alpaca.trading.enums import TimeInForce as AlpacaTif
from alpaca.trading.models import Order, Position
from alpaca.trading.requests import GetCalendarRequest, GetOrdersRequest, MarketOrderRequest

from daemon.adapters.alpaca.errors import (
    AlpacaRequestError,
    AlpacaUnavailableError,
    Failure,
    Kind,
    OrderOutcomeUnknownError,
    OrderRejectedError,
)
from daemon.adapters.alpaca.fractions import close_fraction, fractions_of, is_fraction_order
from daemon.adapters.alpaca.models import (
    AssetInfo,
    MarketClock,
    TradingDay,
    position_parts,
    to_asset,
    to_broker_order,
    to_clock,
    to_trading_day,
)
from daemon.adapters.alpaca.retry import Ok, RetryPolicy, attempt_once, call, fail, with_retry
from daemon.core.ports import Account, BrokerOrder, OrderRequest, OrderStatus
from shared.orders import Side

# Alpaca returns at most 500 orders per page; a pairs daemon has a handful open at a time.
_OPEN_ORDERS_LIMIT = 500


class AlpacaBroker:
    """Paper (or, opted in, live) trading through Alpaca. ``preflight`` checks the asset's
    tradable/shortable flags before each submit so a doomed order is refused with a clear
    reason before it is sent."""

    name = "alpaca"
    # Alpaca changes positions on a split's ex-date and pays dividends in cash.
    books_corporate_actions = True

    def __init__(
        self,
        client: TradingClient,
        *,
        retry: RetryPolicy | None = None,
        preflight: bool = True,
    ) -> None:
        self._client = client
        self._retry = retry or RetryPolicy()
        self._preflight = preflight

    def __repr__(self) -> str:
        return f"AlpacaBroker(client={self._client!r})"

    # ---- reads -------------------------------------------------------------------------

    def account(self) -> Account:
        acct = call(self._client.get_account, what="reading the account", policy=self._retry)
        assert not isinstance(acct, dict)  # raw_data is off: alpaca-py returns models
        return Account(
            cash=float(acct.cash or 0),
            equity=float(acct.equity or 0),
            buying_power=float(acct.buying_power or 0),
            currency=acct.currency or "USD",
        )

    def positions(self) -> dict[str, int]:
        """Whole shares; a reverse split's fractional remainder is in
        :meth:`fractional_remainders` (the daemon closes it)."""
        held = {p.symbol: position_parts(p)[0] for p in self._positions()}
        return {symbol: qty for symbol, qty in held.items() if qty != 0}

    def fractional_remainders(self) -> dict[str, float]:
        return fractions_of(self._positions())

    def close_fraction(self, client_order_id: str, symbol: str, fraction: float) -> str:
        return close_fraction(self._client, self._retry, client_order_id, symbol, fraction)

    def _positions(self) -> list[Position]:
        found = call(self._client.get_all_positions, what="reading positions", policy=self._retry)
        assert isinstance(found, list)
        return found

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        what = f"looking up order {client_order_id}"
        outcome = with_retry(
            lambda: self._client.get_order_by_client_id(client_order_id),
            what=what,
            policy=self._retry,
        )
        if isinstance(outcome, Ok):
            return to_broker_order(_model(outcome.value))
        if outcome.kind is Kind.NOT_FOUND:
            return None
        raise fail(outcome, what)

    def open_orders(self) -> list[BrokerOrder]:
        query = GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=_OPEN_ORDERS_LIMIT)
        found = call(
            lambda: self._client.get_orders(query), what="listing open orders", policy=self._retry
        )
        assert isinstance(found, list)
        return [to_broker_order(o) for o in found if not is_fraction_order(o)]

    def clock(self) -> MarketClock:
        clock = call(self._client.get_clock, what="reading the market clock", policy=self._retry)
        assert not isinstance(clock, dict)
        return to_clock(clock)

    def calendar(self, start: date, end: date) -> list[TradingDay]:
        query = GetCalendarRequest(start=start, end=end)
        days = call(
            lambda: self._client.get_calendar(query),
            what=f"reading the calendar {start}..{end}",
            policy=self._retry,
        )
        assert isinstance(days, list)
        return [to_trading_day(d) for d in days]

    def asset(self, symbol: str) -> AssetInfo:
        found = call(
            lambda: self._client.get_asset(symbol),
            what=f"reading asset {symbol}",
            policy=self._retry,
        )
        assert not isinstance(found, dict)
        return to_asset(found)

    # ---- orders ------------------------------------------------------------------------

    def check_order(self, request: OrderRequest) -> None:
        """Refuse, before sending, an order Alpaca would reject for the asset's flags: not
        tradable, or a sell that opens or extends a short in a name that cannot be shorted."""
        asset = self.asset(request.symbol)
        reason = None
        if not asset.tradable:
            reason = f"{request.symbol} is not tradable at Alpaca"
        elif request.side is Side.SELL and not asset.can_open_short:
            held = self.positions().get(request.symbol, 0)
            if request.quantity > held:
                reason = (
                    f"selling {request.quantity} {request.symbol} with {held} held would short "
                    "it, and Alpaca marks it not shortable or not easy to borrow"
                )
        if reason is not None:
            raise OrderRejectedError(
                f"order {request.client_order_id} not sent: {reason}",
                client_order_id=request.client_order_id,
                symbol=request.symbol,
                broker_message=reason,
            )

    def submit(self, request: OrderRequest) -> BrokerOrder:
        what = (
            f"submitting order {request.client_order_id} "
            f"({request.side.value} {request.quantity} {request.symbol})"
        )
        existing = self.order_by_client_id(request.client_order_id)
        if existing is not None:
            return existing
        if self._preflight:
            self.check_order(request)
        alpaca_request = _market_order(request)
        unknown = False
        last: Failure | None = None
        for number in range(self._retry.attempts):
            outcome = attempt_once(lambda: self._client.submit_order(alpaca_request))
            if isinstance(outcome, Ok):
                return to_broker_order(_model(outcome.value))
            if not outcome.transient:
                return self._settle_refusal(outcome, request, what)
            last = outcome
            if outcome.kind is not Kind.RATE_LIMITED:
                # The order may have been stored before the answer was lost: look, don't guess.
                unknown = True
                found = self._lookup_after_unknown(request.client_order_id, what)
                if found is not None:
                    self._resolved(found, outcome)
                    return found
            if number + 1 < self._retry.attempts:
                delay = self._retry.delay(number)
                self._retry.log.warning(
                    "alpaca_retry", request=what, error=outcome.describe(), sleep_s=delay
                )
                self._retry.sleep(delay)
        assert last is not None  # attempts >= 1
        if unknown:
            raise OrderOutcomeUnknownError(
                f"{what}: Alpaca did not confirm the order after {self._retry.attempts} "
                f"attempt(s) and it was not found by client id ({last.describe()}); the next "
                "run reconciles it by client id",
                client_order_id=request.client_order_id,
            )
        raise AlpacaUnavailableError(
            f"{what}: Alpaca kept refusing with {last.describe()}; the order was not placed "
            "and the next run retries",
            status=last.status,
            code=last.code,
        )

    def _resolved(self, order: BrokerOrder, failure: Failure) -> None:
        self._retry.log.info(
            "order_resolved",
            client_order_id=order.client_order_id,
            broker_order_id=order.broker_order_id,
            status=order.status.value,
            answer=failure.describe(),
            note="the submit's answer was lost or refused as a duplicate; the order is at "
            "Alpaca under our client id and was not sent again",
        )

    def _lookup_after_unknown(self, client_order_id: str, what: str) -> BrokerOrder | None:
        try:
            return self.order_by_client_id(client_order_id)
        except AlpacaUnavailableError as exc:
            message = f"{what}: outcome unknown and the lookup by client id failed: {exc}"
        raise OrderOutcomeUnknownError(message, client_order_id=client_order_id)

    def _settle_refusal(self, failure: Failure, request: OrderRequest, what: str) -> BrokerOrder:
        if failure.kind is Kind.DUPLICATE:
            found = self.order_by_client_id(request.client_order_id)
            if found is not None:
                self._resolved(found, failure)
                return found
            raise AlpacaRequestError(
                f"{what}: Alpaca says the client id is taken but finds no order with it; "
                "look the id up in Alpaca's order history before trading again",
                status=failure.status,
                code=failure.code,
                broker_message=failure.message,
            )
        if failure.kind in (Kind.AUTH, Kind.NOT_FOUND):
            # A 404 on the order endpoint is a wrong URL, not something wrong with the order.
            raise fail(failure, what)
        if failure.kind is Kind.FORBIDDEN:
            # 403 is both "insufficient buying power" and "these keys may not trade": an
            # account read tells them apart (it raises the auth error in the second case).
            self.account()
        raise OrderRejectedError(
            f"Alpaca rejected order {request.client_order_id} ({request.side.value} "
            f"{request.quantity} {request.symbol}): {failure.describe()}",
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            status=failure.status,
            code=failure.code,
            broker_message=failure.message,
        )

    def cancel(self, broker_order_id: str) -> None:
        what = f"cancelling order {broker_order_id}"
        outcome = with_retry(
            lambda: self._client.cancel_order_by_id(broker_order_id),
            what=what,
            policy=self._retry,
        )
        if isinstance(outcome, Ok):
            return
        if outcome.kind is Kind.CLIENT:
            # 422: not cancelable. Already cancelled or expired is what we wanted anyway.
            order = call(
                lambda: self._client.get_order_by_id(broker_order_id),
                what=f"reading order {broker_order_id}",
                policy=self._retry,
            )
            status = to_broker_order(_model(order)).status
            if status in (OrderStatus.CANCELED, OrderStatus.EXPIRED):
                return
            raise AlpacaRequestError(
                f"{what}: Alpaca cannot cancel it, its status is '{status.value}'",
                status=outcome.status,
                broker_message=outcome.message,
            )
        raise fail(outcome, what)

    def settle(
        self,
        session: date,
        closes: Mapping[str, float],
        pairs: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        """Alpaca fills orders itself; nothing to do when a session closes."""


def _model(value: object) -> Order:
    assert isinstance(value, Order), "alpaca-py returned raw data; raw_data must stay off"
    return value


def _market_order(request: OrderRequest) -> MarketOrderRequest:
    if request.quantity <= 0:
        raise ValueError(f"order {request.client_order_id}: quantity must be > 0")
    return MarketOrderRequest(
        symbol=request.symbol,
        qty=request.quantity,
        side=OrderSide.BUY if request.side is Side.BUY else OrderSide.SELL,
        type=OrderType.MARKET,
        time_in_force=AlpacaTif(request.time_in_force.value),
        client_order_id=request.client_order_id,
    )
