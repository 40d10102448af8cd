"""Fractional remainders of a reverse split at Alpaca, and the orders that close them.

Since 2021-08 Alpaca keeps the fraction a reverse split leaves (103 shares at 1:4 become
25.75) instead of paying cash in lieu. The daemon trades whole shares, so the pair's exit would
leave 0.75 behind: the corporate-action step sells (or, for a short, buys back) the fraction
with a DAY market order right away (:func:`daemon.cycle.apply_actions.close_fractions`), which turns
it into cash in lieu at the next open. The order's ``client_order_id`` is deterministic, so a
rerun finds it instead of sending another.
"""

from __future__ import annotations

from decimal import Decimal

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderType, TimeInForce
from alpaca.trading.models import Order, Position
from alpaca.trading.requests import MarketOrderRequest

from daemon.adapters.alpaca.errors import Kind
from daemon.adapters.alpaca.models import position_parts
from daemon.adapters.alpaca.retry import Ok, RetryPolicy, call, fail, with_retry

# A fraction order's client id carries this tag; ``open_orders`` leaves such orders out (their
# quantity is not whole shares) and reconciliation does not count them as unknown orders.
FRACTION_TAG = "-frac-"


def fractions_of(positions: list[Position]) -> dict[str, float]:
    out = {}
    for position in positions:
        _, fraction = position_parts(position)
        if fraction:
            out[position.symbol] = float(fraction)
    return out


def is_fraction_order(order: Order) -> bool:
    return FRACTION_TAG in (order.client_order_id or "")


def close_fraction(
    client: TradingClient, policy: RetryPolicy, client_order_id: str, symbol: str, fraction: float
) -> str:
    """Send (once) the DAY market order that closes ``fraction`` of a ``symbol`` share
    (positive: sell, negative: buy back); returns the order's status."""
    what = f"closing the {fraction:+.6f} {symbol} fraction ({client_order_id})"
    found = with_retry(
        lambda: client.get_order_by_client_id(client_order_id), what=what, policy=policy
    )
    if isinstance(found, Ok):
        return str(found.value.status.value)  # type: ignore[union-attr]
    if found.kind is not Kind.NOT_FOUND:
        raise fail(found, what)
    quantity = abs(Decimal(str(fraction))).quantize(Decimal("0.000000001"))
    request = MarketOrderRequest(
        symbol=symbol,
        qty=float(quantity),
        side=OrderSide.SELL if fraction > 0 else OrderSide.BUY,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.DAY,
        client_order_id=client_order_id,
    )
    order = call(lambda: client.submit_order(request), what=what, policy=policy)
    return str(order.status.value)  # type: ignore[union-attr]
