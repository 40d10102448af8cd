"""Translation of alpaca-py models into the daemon's types, and the few Alpaca-only records
(market clock, calendar day, asset flags) the daemon may ask the Alpaca broker for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from alpaca.trading.enums import OrderSide
from alpaca.trading.enums import OrderStatus as AlpacaStatus
from alpaca.trading.models import Asset, Calendar, Clock, Order, Position

from daemon.core.ports import BrokerOrder, OrderStatus
from shared.errors import BrokerError
from shared.orders import Side

NEW_YORK = ZoneInfo("America/New_York")

_FINAL = {
    AlpacaStatus.FILLED: OrderStatus.FILLED,
    AlpacaStatus.CANCELED: OrderStatus.CANCELED,
    # We never replace orders; a replaced one is dead, like a cancelled one.
    AlpacaStatus.REPLACED: OrderStatus.CANCELED,
    AlpacaStatus.EXPIRED: OrderStatus.EXPIRED,
    AlpacaStatus.REJECTED: OrderStatus.REJECTED,
}


@dataclass(frozen=True, slots=True)
class MarketClock:
    timestamp: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime


@dataclass(frozen=True, slots=True)
class TradingDay:
    session: date
    open: datetime  # New York time, timezone-aware
    close: datetime


@dataclass(frozen=True, slots=True)
class AssetInfo:
    symbol: str
    tradable: bool
    shortable: bool
    easy_to_borrow: bool

    @property
    def can_open_short(self) -> bool:
        # Alpaca only lets accounts short easy-to-borrow names.
        return self.tradable and self.shortable and self.easy_to_borrow


def whole_shares(value: object, what: str) -> int:
    """Alpaca sends quantities as decimal strings; this project trades whole shares only."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BrokerError(f"Alpaca sent a non-numeric quantity {value!r} for {what}") from None
    if number != number.to_integral_value():
        raise BrokerError(
            f"Alpaca reports a fractional quantity {number} for {what}; the daemon trades whole "
            "shares only: close the fractional part in Alpaca's dashboard, then rerun"
        )
    return int(number)


def fold_status(status: AlpacaStatus, filled_quantity: int) -> OrderStatus:
    """Alpaca's many live states fold to NEW or PARTIALLY_FILLED by whether anything filled."""
    if status in _FINAL:
        return _FINAL[status]
    return OrderStatus.PARTIALLY_FILLED if filled_quantity > 0 else OrderStatus.NEW


def to_broker_order(order: Order) -> BrokerOrder:
    what = f"order {order.client_order_id}"
    if order.side is None or order.symbol is None:
        raise BrokerError(f"Alpaca {what} is not a single-symbol order; it was not placed by us")
    filled = whole_shares(order.filled_qty or 0, what)
    price = order.filled_avg_price
    return BrokerOrder(
        client_order_id=order.client_order_id,
        broker_order_id=str(order.id),
        symbol=order.symbol,
        side=Side.BUY if order.side == OrderSide.BUY else Side.SELL,
        quantity=whole_shares(order.qty or 0, what),
        filled_quantity=filled,
        filled_avg_price=float(price) if price not in (None, "") else None,
        status=fold_status(order.status, filled),
        submitted_at=order.submitted_at,
        filled_at=order.filled_at,
        commission=0.0,  # Alpaca charges no commission on US equities
    )


def position_parts(position: Position) -> tuple[int, Decimal]:
    """Shares held, negative for a short whatever sign convention ``qty`` uses: the whole
    shares (toward zero) and the fractional remainder a reverse split left (Alpaca keeps
    fractions since 2021-08 instead of paying cash in lieu), both signed."""
    try:
        size = abs(Decimal(str(position.qty)))
    except InvalidOperation:
        raise BrokerError(
            f"Alpaca sent a non-numeric quantity {position.qty!r} for the {position.symbol} "
            "position"
        ) from None
    sign = -1 if position.side.value == "short" else 1
    whole = int(size.to_integral_value(rounding=ROUND_DOWN))
    return sign * whole, sign * (size - whole)


def to_clock(clock: Clock) -> MarketClock:
    return MarketClock(clock.timestamp, clock.is_open, clock.next_open, clock.next_close)


def to_trading_day(day: Calendar) -> TradingDay:
    # alpaca-py parses "09:30" into a naive datetime; the times are New York's.
    return TradingDay(
        session=day.date,
        open=day.open.replace(tzinfo=NEW_YORK),
        close=day.close.replace(tzinfo=NEW_YORK),
    )


def to_asset(asset: Asset) -> AssetInfo:
    return AssetInfo(asset.symbol, asset.tradable, asset.shortable, asset.easy_to_borrow)
