"""The server's account book: orders, positions, cash, bars, assets and queued faults.

Orders follow Alpaca's time windows on the book's clock (``now``, New York time; every weekday
is a session, 9:30-16:00): ``cls`` is refused 15:50-19:00 and otherwise queues for the first
close after the cut-off (after 19:00: the next session's), ``opg`` is refused 9:28-19:00,
``day`` trades in the session or queues for the next one. ``advance_session`` fills only the
orders whose session it is. Validation errors answer 422 with Alpaca's generic code 40010001,
and only a reused client id says "client_order_id must be unique". Splits and dividends
(``add_split``/``add_dividend``) are booked as the clock passes their dates: see ``actions.py``.
Partial auctions, expiry, hard-to-borrow sweeps, scripted refusals, wash trades and paper quotes
are selected per test on the book: see ``broker_rules.py``.

Every public method takes the lock, because the HTTP server answers on several threads while
the test thread advances sessions and queues faults.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.alpaca_server import actions, broker_rules
from tests.alpaca_server.actions import BookAction, FractionBooking
from tests.alpaca_server.broker_rules import OPEN_STATUSES, Refusal
from tests.alpaca_server.errors import VALIDATION, ApiError, order_quantity, quantity

__all__ = ["OPEN_STATUSES", "AccountBook", "ApiError", "Fault", "Refusal", "ServerOrder"]

NEW_YORK = ZoneInfo("America/New_York")
# Tuesday 2024-01-02, 19:30 New York: after that session's close, when the daily run happens.
START = datetime(2024, 1, 3, 0, 30, tzinfo=UTC)
EVENING = time(19, 30)  # where advance_session leaves the clock


def next_weekday(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def fill_session_or_refuse(tif: str, now: datetime) -> date:
    """The session an order taken at ``now`` fills in, or the 422 Alpaca answers."""
    local = now.astimezone(NEW_YORK)
    today, clock = local.date(), local.time()
    is_session = today.weekday() < 5
    if tif == "cls":
        if is_session and time(15, 50) <= clock < time(19, 0):
            raise ApiError(
                422, VALIDATION, "cls orders are not accepted between 3:50pm and 7:00pm ET"
            )
        return today if is_session and clock < time(15, 50) else next_weekday(today)
    if tif == "opg":
        if is_session and time(9, 28) <= clock < time(19, 0):
            raise ApiError(
                422, VALIDATION, "opg orders are not accepted between 9:28am and 7:00pm ET"
            )
        return today if is_session and clock < time(9, 28) else next_weekday(today)
    if tif == "day":
        return today if is_session and clock < time(16, 0) else next_weekday(today)
    raise ApiError(422, VALIDATION, "invalid time_in_force")


@dataclass
class Fault:
    """One injected misbehaviour for requests matching ``method`` and ``path``.

    ``path`` matches itself and everything below it (``/v2/orders`` matches ``/v2/orders/<id>``
    but not ``/v2/orders:by_client_order_id``); ``"*"`` matches every path. With ``process``
    the request is carried out first (the order is stored) and then the answer misbehaves:
    ``status``/``body`` replace it, ``delay_s`` holds it back, ``drop`` closes the connection
    without an answer. The first ``after`` matching requests pass untouched.
    """

    method: str
    path: str
    status: int | None = None
    body: dict[str, Any] | None = None
    delay_s: float = 0.0
    drop: bool = False
    process: bool = False
    times: int = 1
    after: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method):
            return False
        return self.path in ("*", path) or path.startswith(self.path + "/")


@dataclass
class ServerOrder:
    id: str
    client_order_id: str
    symbol: str
    side: str
    qty: float  # whole shares, or a fraction in a day order
    time_in_force: str
    created_at: datetime
    fill_session: date | None = None
    status: str = "accepted"
    filled_qty: float = 0
    filled_notional: float = 0.0
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    expired_at: datetime | None = None
    updated_at: datetime | None = None

    def json(self) -> dict[str, Any]:
        avg = self.filled_notional / self.filled_qty if self.filled_qty else None
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at or self.created_at),
            "submitted_at": iso(self.created_at),
            "filled_at": iso(self.filled_at),
            "expired_at": iso(self.expired_at),
            "canceled_at": iso(self.canceled_at),
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.symbol)),
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": None,
            "qty": quantity(self.qty),
            "filled_qty": quantity(self.filled_qty),
            "filled_avg_price": None if avg is None else f"{avg:.6f}",
            "order_class": "",
            "order_type": "market",
            "type": "market",
            "side": self.side,
            "position_intent": None,
            "time_in_force": self.time_in_force,
            "limit_price": None,
            "stop_price": None,
            "status": self.status,
            "extended_hours": False,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
        }


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class AccountBook:
    """An Alpaca paper account. ``margin_multiplier`` scales equity into buying power (Alpaca's
    Reg T accounts: 2); market orders are checked against the last close (``marks``)."""

    key_id: str = "PKTEST0000000000KEY1"
    secret_key: str = "test-secret-0000000000000000000000000000"
    # A misbehaving proxy: error bodies (4xx/5xx, 401 too) repeat the request's key headers,
    # in every form of echo.py (exact, other case, cut short, base64, percent-encoded).
    echo_keys: bool = False
    cash: float = 100_000.0
    margin_multiplier: float = 2.0
    now: datetime = START
    # Whole shares, except the remainders of splits booked "fractional" (see actions.py).
    positions: dict[str, float] = field(default_factory=dict)
    avg_entry: dict[str, float] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=dict)
    orders: list[ServerOrder] = field(default_factory=list)
    bars: dict[str, dict[date, float]] = field(default_factory=dict)
    not_shortable: set[str] = field(default_factory=set)
    not_tradable: set[str] = field(default_factory=set)
    closed_for: set[str] = field(default_factory=set)  # time-in-force values refused now
    fill_limits: dict[str, int] = field(default_factory=dict)  # client id -> shares next fill
    cancel_next_session: set[str] = field(default_factory=set)  # client ids
    # Client ids whose unfilled remainder Alpaca cancels at the close (a CLS order the
    # closing auction only partly filled).
    cancel_remainder: set[str] = field(default_factory=set)
    faults: list[Fault] = field(default_factory=list)
    # Client id -> dollars the closing auction fills that order away from the close.
    fill_offsets: dict[str, float] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    # Splits and cash dividends (add_split/add_dividend), applied as the clock reaches them.
    actions: list[BookAction] = field(default_factory=list)
    fraction_booking: FractionBooking = "cash"  # or "fractional": how split remainders book
    # False: Alpaca's paper environment, which books no split and pays no dividend (bars and
    # /v1/corporate-actions still show them).
    paper_books_actions: bool = True
    # ---- what real brokers do (broker_rules.py), each off until a test selects it ----------
    # Symbol -> share of each order's quantity its auction fills (rounded to whole shares);
    # the rest expires. 0.0: the order expires unfilled.
    fill_fraction: dict[str, float] = field(default_factory=dict)
    # Client id -> shares its auction fills; the rest expires (0: expires unfilled).
    auction_fills: dict[str, float] = field(default_factory=dict)
    # Orders whose session closes without a close for their symbol expire (else they wait).
    expire_unfilled: bool = False
    # Shortable but not easy to borrow: opening shorts refused (turn_hard_to_borrow).
    hard_to_borrow: set[str] = field(default_factory=set)
    htb_sweeps: dict[str, date] = field(default_factory=dict)  # symbol -> open swept before
    refusals: list[Refusal] = field(default_factory=list)  # refuse(): scripted 403s and more
    refuse_wash_trades: bool = False  # 422 42210000 for an order opposite an open one
    half_spread: dict[str, float] = field(default_factory=dict)  # symbol -> $ from the close
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # ---- test controls -----------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
            return None

    def record(self, method: str, path: str, params: dict[str, str]) -> None:
        with self.lock:
            self.requests.append((method, path, dict(params)))

    def count(self, method: str, path: str) -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.requests if m == method and p == path)

    def orders_with_client_id(self, client_order_id: str) -> list[ServerOrder]:
        with self.lock:
            return [o for o in self.orders if o.client_order_id == client_order_id]

    def add_bars(self, symbol: str, closes: dict[date, float]) -> None:
        with self.lock:
            self.bars.setdefault(symbol, {}).update(closes)
            last = max(self.bars[symbol])
            self.marks.setdefault(symbol, self.bars[symbol][last])

    def broker_cancel(self, client_order_id: str) -> None:
        """Alpaca cancelling an order on its own (e.g. an unfilled CLS order at the close)."""
        with self.lock:
            for order in self.orders_with_client_id(client_order_id):
                if order.status in OPEN_STATUSES:
                    order.status = "canceled"
                    order.canceled_at = order.updated_at = self.now

    def refuse(self, refusal: Refusal) -> None:
        """Refuse the next order(s) matching ``refusal`` at submit (403 insufficient buying
        power unless it says otherwise)."""
        with self.lock:
            self.refusals.append(refusal)

    def turn_hard_to_borrow(self, symbol: str) -> None:
        """Alpaca moving ``symbol`` to its hard-to-borrow list: the asset reads shortable but
        not easy to borrow, opening shorts are refused, and the open orders that would sell it
        short are cancelled before the next open (at once when the clock is before today's)."""
        with self.lock:
            self.hard_to_borrow.add(symbol)
            local = self.now.astimezone(NEW_YORK)
            before_open = local.weekday() < 5 and local.time() < time(9, 30)
            self.htb_sweeps[symbol] = local.date() if before_open else next_weekday(local.date())
            self._clock_moved()

    def _clock_moved(self) -> None:
        """What happens as the clock reaches a day: corporate actions booked, hard-to-borrow
        short orders cancelled before the open."""
        actions.apply_due(self, self.today())
        broker_rules.sweep_hard_to_borrow(self, self.today())

    def add_split(self, symbol: str, ex_date: date, ratio: float) -> None:
        """A split of ``ratio`` new shares per old share (2.0 for 2:1, 0.25 for 1:4). Booked
        when the clock reaches ``ex_date``; at once if it already has."""
        self._add_action(actions.new_split(symbol, ex_date, ratio))

    def add_dividend(
        self, symbol: str, ex_date: date, amount: float, payable_date: date | None = None
    ) -> None:
        """A cash dividend of ``amount`` dollars per share held before ``ex_date``, paid on
        ``payable_date`` (default: the ex-date)."""
        self._add_action(actions.new_dividend(symbol, ex_date, amount, payable_date))

    def _add_action(self, action: BookAction) -> None:
        with self.lock:
            if self.fraction_booking not in actions.FRACTION_BOOKINGS:
                raise ValueError(
                    f"fraction_booking {self.fraction_booking!r}: use one of "
                    f"{', '.join(actions.FRACTION_BOOKINGS)}"
                )
            if any(known.id == action.id for known in self.actions):
                raise ValueError(f"{action.kind} of {action.symbol} on {action.ex_date} is known")
            self.actions.append(action)
            actions.apply_due(self, self.today())

    def today(self) -> date:
        """The New York date of the book's clock."""
        return self.now.astimezone(NEW_YORK).date()

    def set_time(self, session: date, clock: time) -> None:
        with self.lock:
            self.now = datetime.combine(session, clock, NEW_YORK).astimezone(UTC)
            self._clock_moved()

    def advance_session(self, closes: dict[str, float], session: date | None = None) -> None:
        """Close a session: record its bars, mark positions and fill the orders queued for
        this session's auction in creation order at ``closes``, honouring partial-fill limits,
        scripted partial auctions and expiry (``broker_rules.py``) and broker-side
        cancellations queued for this session. The clock is left at 19:30 that evening.
        Without ``session`` every open order fills (the interactive tool). Corporate actions
        whose ex-date is ``session`` or earlier, and hard-to-borrow sweeps, come first;
        ``closes`` are raw."""
        with self.lock:
            if session is not None:
                self.now = datetime.combine(session, time(16, 0), NEW_YORK).astimezone(UTC)
            self._clock_moved()
            if session is not None:
                for symbol, close in closes.items():
                    self.bars.setdefault(symbol, {})[session] = close
            self.marks.update(closes)
            for order in self.orders:
                if order.status not in OPEN_STATUSES:
                    continue
                if session is not None and (order.fill_session or session) > session:
                    continue  # queued for a later auction
                if order.client_order_id in self.cancel_next_session:
                    self.cancel_next_session.discard(order.client_order_id)
                    order.status = "canceled"
                    order.canceled_at = order.updated_at = self.now
                elif order.symbol in closes:
                    qty, rest_expires = broker_rules.auction_quantity(self, order)
                    self._fill(order, self.auction_price(order, closes[order.symbol]), qty)
                    if order.status not in OPEN_STATUSES:
                        continue
                    if rest_expires:
                        broker_rules.expire(self, order)
                    elif order.client_order_id in self.cancel_remainder:
                        order.status = "canceled"
                        order.canceled_at = order.updated_at = self.now
                elif session is not None and self.expire_unfilled:
                    broker_rules.expire(self, order)
            if session is not None:
                self.set_time(session, EVENING)

    def _fill(self, order: ServerOrder, price: float, qty: float | None = None) -> None:
        """Fill ``qty`` of the order (default: what ``fill_limits`` allows, else the rest)."""
        remaining = order.qty - order.filled_qty
        if qty is None:
            qty = self.fill_limits.pop(order.client_order_id, remaining)
        qty = min(remaining, qty)
        if qty <= 0:
            return
        signed = qty if order.side == "buy" else -qty
        self.cash -= signed * price
        held = self.positions.get(order.symbol, 0)
        new = round(held + signed, 9)  # fractional positions: 2.5 - 2.5 is flat
        if held * signed >= 0:  # opening or growing: the entry price averages in
            old = self.avg_entry.get(order.symbol, 0.0)
            self.avg_entry[order.symbol] = (abs(held) * old + qty * price) / abs(new)
        elif held * new < 0:  # flipped through zero: the remainder entered at this price
            self.avg_entry[order.symbol] = price
        if new == 0:
            self.positions.pop(order.symbol, None)
            self.avg_entry.pop(order.symbol, None)
        else:
            self.positions[order.symbol] = new
        order.filled_qty += qty
        order.filled_notional += qty * price
        order.status = "filled" if order.filled_qty == order.qty else "partially_filled"
        order.filled_at = order.updated_at = self.now

    def auction_price(self, order: ServerOrder, close: float) -> float:
        """The price an order fills at: the close, moved by an injected ``fill_offsets`` and
        by the paper quote's ``half_spread``."""
        offset = self.fill_offsets.get(order.client_order_id, 0.0)
        return close + offset + broker_rules.quote_offset(self, order)

    def pay_dividend(self, symbol: str, per_share: float) -> float:
        """Credit longs and debit shorts ``per_share`` (the payable date); returns the cash."""
        with self.lock:
            amount = self.positions.get(symbol, 0) * per_share
            self.cash += amount
            return amount

    # ---- what the endpoints read and do ------------------------------------------------

    def equity(self) -> float:
        with self.lock:
            return self.cash + sum(q * self.marks.get(s, 0.0) for s, q in self.positions.items())

    def buying_power(self) -> float:
        with self.lock:
            pending = sum(
                self._opening_notional(o.symbol, o.side, o.qty - o.filled_qty)
                for o in self.orders
                if o.status in OPEN_STATUSES
            )
            return max(0.0, self.margin_multiplier * self.equity() - pending)

    def _opening_notional(self, symbol: str, side: str, qty: float) -> float:
        """Notional of the part of an order that opens or grows a position."""
        held = self.positions.get(symbol, 0)
        signed = qty if side == "buy" else -qty
        closing = min(qty, abs(held)) if held * signed < 0 else 0
        return (qty - closing) * self.marks.get(symbol, 0.0)

    def submit(self, body: dict[str, Any]) -> ServerOrder:
        with self.lock:
            client_id = str(body.get("client_order_id") or uuid.uuid4())
            symbol, side, tif = str(body["symbol"]), str(body["side"]), str(body["time_in_force"])
            if self.orders_with_client_id(client_id):  # also when that order was cancelled
                raise ApiError(422, VALIDATION, "client_order_id must be unique")
            qty = order_quantity(body.get("qty"), tif)
            fills_on = fill_session_or_refuse(tif, self.now)
            if symbol in self.not_tradable:
                raise ApiError(422, 42210000, f"asset {symbol} is not tradable")
            if tif in self.closed_for:
                raise ApiError(422, 42210000, f"market is closed for {tif} orders")
            held = self.positions.get(symbol, 0)
            if side == "sell" and qty > held and symbol in self.not_shortable:
                raise ApiError(422, 42210000, f'asset "{symbol}" cannot be sold short')
            if side == "sell" and qty > held and qty != int(qty):
                raise ApiError(403, 40310000, "fractional orders cannot be sold short")
            broker_rules.check_submit(self, symbol, side, qty)
            if self._opening_notional(symbol, side, qty) > self.buying_power():
                raise ApiError(403, 40310000, "insufficient buying power")
            order = ServerOrder(
                id=str(uuid.UUID(int=len(self.orders) + 1)),
                client_order_id=client_id,
                symbol=symbol,
                side=side,
                qty=qty,
                time_in_force=tif,
                created_at=self.now,
                fill_session=fills_on,
            )
            self.orders.append(order)
            return order

    def cancel(self, order_id: str) -> None:
        with self.lock:
            order = self.order(order_id)
            if order.status not in OPEN_STATUSES:
                raise ApiError(422, 42210000, f'order is already in "{order.status}" state')
            order.status = "canceled"
            order.canceled_at = order.updated_at = self.now

    def order(self, order_id: str) -> ServerOrder:
        with self.lock:
            for order in self.orders:
                if order.id == order_id:
                    return order
            raise ApiError(404, 40410000, "order not found")

    def order_by_client_id(self, client_order_id: str) -> ServerOrder:
        with self.lock:
            found = self.orders_with_client_id(client_order_id)
            if not found:
                raise ApiError(404, 40410000, "order not found")
            return found[0]
