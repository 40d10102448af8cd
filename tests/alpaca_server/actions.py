"""Corporate actions on the server's book, applied the way Alpaca applies them.

Conventions (the daemon's, see ``daemon.core.corporate_actions``): a split's ``ratio`` is new shares
per old share (2.0 for 2:1, 0.25 for 1:4); a dividend's ``amount`` is dollars per share held at
the close before the ex-date.

- The book's bars stay *raw*; fills happen at raw closes. ``adjustment=all`` bars are adjusted
  as of the book's clock: only events whose ex-date the clock has reached re-scale the history
  before them (``raw / ratio`` for a split, ``* (1 - amount / previous raw close)`` for a
  dividend, the CRSP convention Alpaca follows).
- On the ex-date (when the clock passes into it, before that session's fills) a split changes
  each position's quantity by the ratio, the average entry price and the mark inversely. A
  fractional remainder (a reverse split, or a 3:2 split of an odd lot) is booked by the book's
  ``fraction_booking``: ``"cash"`` keeps the whole shares toward zero and pays (long) or
  charges (short) the fraction at the pre-split close / ratio; ``"fractional"`` keeps it, as
  Alpaca does since 2021-08.
- Open orders across an ex-date are left as they are: Alpaca documents no adjustment of
  queued orders that a client could rely on, so the daemon must not expect one.
- A dividend's entitlement (position before the ex-date's fills * amount; longs receive,
  shorts pay) is fixed on the ex-date and moves cash when the clock reaches the payable date.
- ``book.paper_books_actions = False`` is Alpaca's paper environment by public reports
  (Alpaca-API issue 181): positions, average prices and cash are left as they are on the
  ex-date and the payable date, while bars re-adjust and the endpoint announces the events.
"""

from __future__ import annotations

import base64
import math
import uuid
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from tests.alpaca_server.errors import ApiError

if TYPE_CHECKING:
    from tests.alpaca_server.state import AccountBook

FractionBooking = Literal["cash", "fractional"]
FRACTION_BOOKINGS = ("cash", "fractional")
# Alpaca's corporate-action types the server knows, by the response's group name.
GROUP_OF_TYPE = {
    "forward_split": "forward_splits",
    "reverse_split": "reverse_splits",
    "cash_dividend": "cash_dividends",
}


@dataclass
class BookAction:
    """One split or cash dividend the book knows, and how far it has been applied."""

    symbol: str
    kind: Literal["split", "dividend"]
    ex_date: date
    ratio: float = 1.0
    amount: float = 0.0
    payable_date: date | None = None
    applied: bool = False  # the ex-date's changes are booked
    entitlement: float | None = None  # dividend cash fixed on the ex-date, paid on payable
    paid: bool = False

    @property
    def id(self) -> str:
        key = f"{self.symbol}:{self.kind}:{self.ex_date.isoformat()}"
        return str(uuid.uuid5(uuid.NAMESPACE_URL, key))

    @property
    def pays_on(self) -> date:
        return self.payable_date or self.ex_date

    @property
    def alpaca_type(self) -> str:
        if self.kind == "dividend":
            return "cash_dividend"
        return "forward_split" if self.ratio > 1.0 else "reverse_split"


def new_split(symbol: str, ex_date: date, ratio: float) -> BookAction:
    if not (math.isfinite(ratio) and ratio > 0) or ratio == 1.0:
        raise ValueError(f"split of {symbol} on {ex_date}: ratio {ratio!r} must be > 0 and != 1")
    return BookAction(symbol, "split", ex_date, ratio=ratio)


def new_dividend(
    symbol: str, ex_date: date, amount: float, payable_date: date | None
) -> BookAction:
    if not (math.isfinite(amount) and amount > 0):
        raise ValueError(f"dividend of {symbol} on {ex_date}: amount {amount!r} must be > 0")
    if payable_date is not None and payable_date < ex_date:
        raise ValueError(f"dividend of {symbol}: payable {payable_date} before ex-date {ex_date}")
    return BookAction(symbol, "dividend", ex_date, amount=amount, payable_date=payable_date)


# ---- applying events to the book ---------------------------------------------------------


def apply_due(book: AccountBook, today: date) -> None:
    """Book every event whose ex-date is ``today`` or earlier (once each, in ex-date order,
    a dividend before a split of the same day since its amount is in pre-split shares), then
    pay every entitlement whose payable date has come. An event announced after its ex-date
    is booked with the positions held when it is announced. The caller holds the book's lock."""
    order = sorted(book.actions, key=lambda a: (a.ex_date, a.kind != "dividend"))
    for action in order:
        if action.applied or action.ex_date > today:
            continue
        if action.kind == "split":
            _split_positions(book, action)
        elif book.paper_books_actions:
            action.entitlement = book.positions.get(action.symbol, 0) * action.amount
        else:
            action.entitlement = 0.0  # the paper environment pays nothing
        action.applied = True
    for action in order:
        if action.entitlement is not None and not action.paid and action.pays_on <= today:
            book.cash += action.entitlement
            action.paid = True


def _split_positions(book: AccountBook, split: BookAction) -> None:
    symbol, ratio = split.symbol, split.ratio
    pre_close = _close_before(book, symbol, split.ex_date)
    if symbol in book.marks and not any(d >= split.ex_date for d in book.bars.get(symbol, {})):
        book.marks[symbol] /= ratio  # else the mark is already a raw post-split close
    held = book.positions.get(symbol)
    if not held or not book.paper_books_actions:
        return  # the market's price moves; a paper account's shares do not
    exact = round(held * ratio, 9)  # 8 * 0.25 stays 2.0, not 1.9999999
    if book.fraction_booking == "fractional" or exact == int(exact):
        book.positions[symbol] = int(exact) if exact == int(exact) else exact
    else:
        whole = math.trunc(exact)  # toward zero: a short's remainder is bought in too
        book.cash += (exact - whole) * (pre_close or 0.0) / ratio
        if whole:
            book.positions[symbol] = whole
        else:
            book.positions.pop(symbol)
    if symbol in book.avg_entry:
        book.avg_entry[symbol] /= ratio
        if symbol not in book.positions:
            book.avg_entry.pop(symbol)


def _close_before(book: AccountBook, symbol: str, day: date) -> float | None:
    """The raw close of the last session before ``day``, else the last mark."""
    earlier = [d for d in book.bars.get(symbol, {}) if d < day]
    if earlier:
        return book.bars[symbol][max(earlier)]
    return book.marks.get(symbol)


# ---- adjusted bars -----------------------------------------------------------------------


def price_factors(
    book: AccountBook, symbol: str, adjustment: str, today: date
) -> tuple[dict[date, float], dict[date, float]]:
    """Per-bar price and volume factors for ``adjustment`` (raw, split, dividend, all) as of
    ``today``: events the clock has not reached adjust nothing yet. Bars missing from the
    answer have factor 1."""
    prices: dict[date, float] = {}
    volumes: dict[date, float] = {}
    if adjustment == "raw":
        return prices, volumes
    raw = book.bars.get(symbol, {})
    for action in book.actions:
        if action.symbol != symbol or action.ex_date > today:
            continue
        before = [d for d in raw if d < action.ex_date]
        if action.kind == "split" and adjustment in ("split", "all"):
            for day in before:
                prices[day] = prices.get(day, 1.0) / action.ratio
                volumes[day] = volumes.get(day, 1.0) * action.ratio
        elif action.kind == "dividend" and adjustment in ("dividend", "all") and before:
            factor = 1.0 - action.amount / raw[max(before)]
            for day in before:
                prices[day] = prices.get(day, 1.0) * factor
    return prices, volumes


# ---- the corporate-actions endpoint ------------------------------------------------------


def corporate_actions(book: AccountBook, params: dict[str, str], page_size: int) -> dict[str, Any]:
    """``GET /v1/corporate-actions``: the book's events with an ex-date in ``start..end``
    (default: the clock's date, as Alpaca), filtered by ``symbols``/``types``/``cusips`` or
    picked by ``ids``, sorted by ex-date (``sort``), ``limit`` per page across groups."""
    start, end = _day(params, "start", book.today()), _day(params, "end", book.today())
    symbols, types = _listed(params, "symbols"), _listed(params, "types")
    cusips, ids = _listed(params, "cusips"), _listed(params, "ids")
    with book.lock:
        chosen = [a for a in book.actions if not ids or a.id in ids]
        if not ids:
            chosen = [
                a
                for a in chosen
                if start <= a.ex_date <= end
                and (not symbols or a.symbol in symbols)
                and (not types or a.alpaca_type in types)
                and (not cusips or cusip(a.symbol) in cusips)
            ]
    chosen.sort(key=lambda a: (a.ex_date, a.symbol, a.kind), reverse=params.get("sort") == "desc")
    offset = int(base64.b64decode(params["page_token"])) if params.get("page_token") else 0
    size = min(page_size, int(params.get("limit") or page_size))
    groups: dict[str, list[dict[str, Any]]] = {}
    for action in chosen[offset : offset + size]:
        groups.setdefault(GROUP_OF_TYPE[action.alpaca_type], []).append(_record(action))
    more = offset + size < len(chosen)
    token = base64.b64encode(str(offset + size).encode()).decode() if more else None
    return {"corporate_actions": groups, "next_page_token": token}


def _day(params: dict[str, str], name: str, default: date) -> date:
    try:
        return date.fromisoformat(params[name]) if params.get(name) else default
    except ValueError:
        raise ApiError(400, None, f"invalid {name}: {params[name]!r}, use YYYY-MM-DD") from None


def _listed(params: dict[str, str], name: str) -> set[str]:
    return {part for part in params.get(name, "").split(",") if part}


def cusip(symbol: str, generation: int = 0) -> str:
    """A synthetic, stable 9-character CUSIP (a reverse split issues a new one)."""
    return uuid.uuid5(uuid.NAMESPACE_OID, f"{symbol}:{generation}").hex[:9].upper()


def rates(ratio: float) -> tuple[float, float]:
    """2.0 -> (2, 1), 0.25 -> (1, 4), 1.5 -> (3, 2): Alpaca's new_rate and old_rate."""
    for old in range(1, 101):
        if abs(ratio * old - round(ratio * old)) < 1e-9:
            return float(round(ratio * old)), float(old)
    return ratio, 1.0


def _record(action: BookAction) -> dict[str, Any]:
    common = {
        "id": action.id,
        "symbol": action.symbol,
        "process_date": action.ex_date.isoformat(),
        "ex_date": action.ex_date.isoformat(),
        "record_date": action.ex_date.isoformat(),  # T+1 settlement: record date = ex-date
        "payable_date": action.pays_on.isoformat(),
    }
    if action.kind == "dividend":
        return common | {
            "cusip": cusip(action.symbol),
            "rate": action.amount,
            "special": False,
            "foreign": False,
        }
    new_rate, old_rate = rates(action.ratio)
    if action.ratio > 1.0:
        return common | {"cusip": cusip(action.symbol), "new_rate": new_rate, "old_rate": old_rate}
    return common | {
        "old_cusip": cusip(action.symbol),
        "new_cusip": cusip(action.symbol, 1),
        "new_rate": new_rate,
        "old_rate": old_rate,
    }
