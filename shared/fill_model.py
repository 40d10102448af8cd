"""Backtrader's ``BackBroker`` fill model, reproduced as pure functions (docs/strategy.md).

Measured semantics (backtrader 1.9.78.123, ``BackBroker`` defaults, ``shortcash=True``, stock-like
commission given as an absolute fraction of notional):

* **Submission check** (``check_submitted``): orders created on bar t are checked at the start
  of bar t+1 in creation order. A running copy of cash starts at the current cash and each order
  is pseudo-executed at its *creation* price: ``run_cash -= signed_size*price +
  |size|*price*commission``. An order that leaves ``run_cash < 0`` is rejected (margin) and the
  running copy is *not* restored, so one rejection can cascade to later buys.
* **Execution**: accepted market orders fill at bar t+1's open (= its close for close-only
  data). The part of an order that closes an existing position always executes; the part that
  opens or grows a position is nullified (margin) when it would leave cash below 0 at the real
  fill price. This second check is backtrader's, not in the seed's notes: it only matters when the
  price moved against a buy between creation and fill.
* Short sales add cash; portfolio value is ``cash + sum(position * close)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from shared.orders import Fill, OrderIntent, Rejection

MARGIN = "margin"


@dataclass(frozen=True, slots=True)
class Book:
    """Cash and share positions of one account (pairs share one cash balance)."""

    cash: float
    positions: Mapping[str, int] = field(default_factory=dict)

    def position(self, symbol: str) -> int:
        return self.positions.get(symbol, 0)

    def value(self, closes: Mapping[str, float]) -> float:
        """cash + Σ position × close, summed in symbol order of ``positions`` like backtrader."""
        value = self.cash
        for symbol, size in self.positions.items():
            if size:
                value += size * closes[symbol]
        return value


def split_closing_opening(position: int, signed_size: int) -> tuple[int, int]:
    """Split an order into the part that closes ``position`` and the part that opens/grows."""
    if position == 0 or (position > 0) == (signed_size > 0):
        return 0, signed_size
    if abs(signed_size) <= abs(position):
        return signed_size, 0
    closed = -position
    return closed, signed_size - closed


def check_submitted(
    cash: float, orders: Sequence[OrderIntent], commission: float
) -> tuple[list[OrderIntent], list[OrderIntent]]:
    """Backtrader's creation-price cash check: returns (accepted, rejected) in order."""
    run_cash = cash
    accepted: list[OrderIntent] = []
    rejected: list[OrderIntent] = []
    for order in orders:
        signed = order.signed_quantity
        run_cash -= signed * order.price
        run_cash -= abs(signed) * order.price * commission
        (accepted if run_cash >= 0.0 else rejected).append(order)
    return accepted, rejected


def execute_order(
    book: Book, symbol: str, signed_size: int, price: float, commission: float
) -> tuple[Book, int]:
    """Fill one accepted market order at ``price``; returns the new book and the executed size.

    The executed size is smaller than requested (possibly 0) only when the opening part was
    nullified for lack of cash at the real fill price.
    """
    position = book.position(symbol)
    closed, opened = split_closing_opening(position, signed_size)
    cash = book.cash
    if closed:
        cash -= closed * price
        cash -= abs(closed) * price * commission
    if opened:
        cash_after_open = cash - opened * price - abs(opened) * price * commission
        if cash_after_open < 0.0:
            opened = 0
        else:
            cash = cash_after_open
    executed = closed + opened
    positions = dict(book.positions)
    positions[symbol] = position + executed
    return Book(cash=cash, positions=positions), executed


def process_bar(
    book: Book,
    pending: Iterable[OrderIntent],
    prices: Mapping[str, float],
    bar: int,
    commission: float,
) -> tuple[Book, list[Fill], list[Rejection]]:
    """Start of bar ``bar``: check the previous bar's orders, then fill the accepted ones."""
    accepted, rejected = check_submitted(book.cash, list(pending), commission)
    rejections = [Rejection(bar, o.symbol, o.signed_quantity, MARGIN) for o in rejected]
    fills: list[Fill] = []
    for order in accepted:
        price = prices[order.symbol]
        book, executed = execute_order(book, order.symbol, order.signed_quantity, price, commission)
        if executed:
            fills.append(
                Fill(bar, order.symbol, executed, price, abs(executed) * price * commission)
            )
        if executed != order.signed_quantity:
            rejections.append(
                Rejection(bar, order.symbol, order.signed_quantity - executed, MARGIN)
            )
    return book, fills, rejections
