"""What a real broker does besides filling every order at the close, each off until a test
selects it on the book (see the README, "Brokers say no, fill half, or do nothing"):

- **Auctions that fill part of an order.** ``fill_fraction[symbol]`` (share of each order's
  quantity, rounded to whole shares) or ``auction_fills[client_id]`` (shares) is what the
  order's auction fills; the rest expires at once, as Alpaca reports a ``cls``/``opg``/``day``
  order its session did not complete: ``status: "expired"`` with ``filled_qty`` and
  ``filled_avg_price`` of the part that filled and ``expired_at`` set. A share of 0 expires the
  order unfilled (``filled_qty: "0"``, ``filled_avg_price: null``). ``expire_unfilled`` expires
  the orders whose session closes without a close for their symbol (a halt) instead of letting
  them wait for the next session's close.
- **Hard to borrow.** ``turn_hard_to_borrow(symbol)``: the asset reads ``shortable: true``,
  ``easy_to_borrow: false``; opening short sales are refused (422 42210000, as for a name that
  cannot be shorted); queued orders that would sell the symbol short are cancelled before the
  next open (``status: "canceled"``), orders that only close a long are kept.
- **Scripted refusals at submit.** ``refuse(Refusal(...))``: the next matching order (by
  symbol, side, or the ``after``-th one) is refused with Alpaca's 403 "insufficient buying
  power" or any status/code/message given; buying power itself is checked as before.
- **Wash trades.** With ``refuse_wash_trades`` an order on the side opposite an open order of
  the same symbol is refused: 422 ``{"code": 42210000, "message": "potential wash trade
  detected. use complex orders"}`` (every order here is a market order, so any open opposite
  order counts).
- **Paper fills at the quote.** ``half_spread[symbol]`` dollars: buys fill at the close plus
  it, sells at the close minus it (Alpaca's paper environment fills at the quote, not in the
  auction). ``paper_books_actions = False`` (in ``actions.py``) books no split and pays no
  dividend, as Alpaca's paper environment by public reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from tests.alpaca_server.errors import ApiError

if TYPE_CHECKING:
    from tests.alpaca_server.state import AccountBook, ServerOrder

OPEN_STATUSES = {"new", "accepted", "pending_new", "partially_filled"}
NOT_SHORTABLE = 42210000  # Alpaca's code for orders refused on the asset's or account's rules
INSUFFICIENT = 40310000  # 403: insufficient buying power, not allowed to short, ...
WASH_TRADE = "potential wash trade detected. use complex orders"


@dataclass
class Refusal:
    """A scripted refusal of ``POST /v2/orders``, checked after the book's own validation
    (a duplicate client id, a closed window, an unknown quantity are refused first).

    It matches orders of ``symbol`` and ``side`` ("buy"/"sell"; None: any); the first
    ``after`` matching orders pass, the next ``times`` are refused with ``status``, ``code``
    and ``message`` (default: Alpaca's 403 "insufficient buying power"). A refused order is
    not stored, so the same client id may be sent again.
    """

    symbol: str | None = None
    side: str | None = None
    status: int = 403
    code: int | None = INSUFFICIENT
    message: str = "insufficient buying power"
    after: int = 0
    times: int = 1

    def matches(self, symbol: str, side: str) -> bool:
        return self.symbol in (None, symbol) and self.side in (None, side)


# ---- fills ---------------------------------------------------------------------------------


def auction_quantity(book: AccountBook, order: ServerOrder) -> tuple[float | None, bool]:
    """What the order's auction fills and whether its rest then expires: a scripted
    ``auction_fills``/``fill_fraction`` (expires), else None (the book's ``fill_limits`` or
    everything, and the rest stays open)."""
    remaining = order.qty - order.filled_qty
    if order.client_order_id in book.auction_fills:
        return min(remaining, book.auction_fills.pop(order.client_order_id)), True
    if order.symbol in book.fill_fraction:
        share = book.fill_fraction[order.symbol]
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"fill_fraction[{order.symbol!r}] = {share!r}: use 0.0 .. 1.0")
        exact = remaining * share
        if order.qty == int(order.qty):
            return min(remaining, math.floor(exact + 0.5)), True
        return round(exact, 9), True
    return None, False


def expire(book: AccountBook, order: ServerOrder) -> None:
    """Alpaca ending an order its session did not complete: ``expired``, fills kept."""
    order.status = "expired"
    order.expired_at = order.updated_at = book.now


def quote_offset(book: AccountBook, order: ServerOrder) -> float:
    """Dollars a paper fill moves from the close: buys at the ask, sells at the bid."""
    half = book.half_spread.get(order.symbol, 0.0)
    return half if order.side == "buy" else -half


# ---- submit --------------------------------------------------------------------------------


def check_submit(book: AccountBook, symbol: str, side: str, qty: float) -> None:
    """Refusals beyond the book's validation: hard to borrow, wash trades, scripted ones.
    The caller holds the book's lock."""
    held = book.positions.get(symbol, 0)
    if side == "sell" and qty > held and symbol in book.hard_to_borrow:
        raise ApiError(422, NOT_SHORTABLE, f'asset "{symbol}" cannot be sold short')
    if book.refuse_wash_trades and any(
        o.symbol == symbol and o.side != side and o.status in OPEN_STATUSES for o in book.orders
    ):
        raise ApiError(422, NOT_SHORTABLE, WASH_TRADE)
    for refusal in book.refusals:
        if not refusal.matches(symbol, side):
            continue
        if refusal.after > 0:
            refusal.after -= 1
            continue
        refusal.times -= 1
        if refusal.times <= 0:
            book.refusals.remove(refusal)
        raise ApiError(refusal.status, refusal.code, refusal.message)


# ---- hard to borrow ------------------------------------------------------------------------


def sweep_hard_to_borrow(book: AccountBook, today: date) -> None:
    """Before an open the clock has reached: cancel the open orders that would sell a symbol
    turned hard to borrow short (in creation order, a sell keeps its place while the long it
    closes lasts). The caller holds the book's lock."""
    for symbol, day in list(book.htb_sweeps.items()):
        if day > today:
            continue
        del book.htb_sweeps[symbol]
        if symbol not in book.hard_to_borrow:
            continue  # back on the easy-to-borrow list before the open
        long = max(book.positions.get(symbol, 0), 0)
        for order in book.orders:
            if order.symbol != symbol or order.side != "sell":
                continue
            if order.status not in OPEN_STATUSES:
                continue
            remaining = order.qty - order.filled_qty
            if remaining > long:
                order.status = "canceled"
                order.canceled_at = order.updated_at = book.now
            else:
                long -= remaining
