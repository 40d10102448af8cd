"""Alpaca's JSON shapes for the account, positions, clock, calendar, assets and bars: money
as strings, UUID ids, New York session times, ``t/o/h/l/c/v/n/vw`` bars."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tests.alpaca_server.actions import price_factors
from tests.alpaca_server.errors import VALIDATION, ApiError, quantity
from tests.alpaca_server.state import NEW_YORK, AccountBook, iso

# The free plan's SIP delay: requests must end at least this long before now.
SIP_DELAY = timedelta(minutes=15)

ACCOUNT_ID = "00000000-0000-4000-8000-00000000acc7"


def _money(value: float) -> str:
    return f"{value:.2f}"


def account(book: AccountBook) -> dict[str, Any]:
    with book.lock:
        long_value = sum(q * book.marks.get(s, 0.0) for s, q in book.positions.items() if q > 0)
        short_value = sum(q * book.marks.get(s, 0.0) for s, q in book.positions.items() if q < 0)
        equity, power = book.equity(), book.buying_power()
        return {
            "id": ACCOUNT_ID,
            "account_number": "PA00TESTSERVER",
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": _money(power),
            "regt_buying_power": _money(power),
            "daytrading_buying_power": "0",
            "non_marginable_buying_power": _money(max(book.cash, 0.0)),
            "cash": _money(book.cash),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pending_transfer_out": "0",
            "portfolio_value": _money(equity),
            "pattern_day_trader": False,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "created_at": "2023-01-03T14:00:00Z",
            "trade_suspended_by_user": False,
            "multiplier": str(int(book.margin_multiplier)),
            "shorting_enabled": True,
            "equity": _money(equity),
            "last_equity": _money(equity),
            "long_market_value": _money(long_value),
            "short_market_value": _money(short_value),
            "initial_margin": "0",
            "maintenance_margin": "0",
            "last_maintenance_margin": "0",
            "sma": "0",
            "daytrade_count": 0,
        }


def positions(book: AccountBook) -> list[dict[str, Any]]:
    with book.lock:
        return [_position(book, s, q) for s, q in sorted(book.positions.items())]


def position(book: AccountBook, symbol: str) -> dict[str, Any]:
    with book.lock:
        if not book.positions.get(symbol):
            raise ApiError(404, 40410000, "position does not exist")
        return _position(book, symbol, book.positions[symbol])


def _position(book: AccountBook, symbol: str, qty: float) -> dict[str, Any]:
    mark = book.marks.get(symbol, 0.0)
    entry = book.avg_entry.get(symbol, mark)
    basis, value = qty * entry, qty * mark
    return {
        "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
        "symbol": symbol,
        "exchange": "NASDAQ",
        "asset_class": "us_equity",
        "asset_marginable": True,
        "avg_entry_price": f"{entry:.6f}",
        "qty": quantity(qty),  # Alpaca signs short quantities
        "qty_available": quantity(qty),
        "side": "long" if qty > 0 else "short",
        "market_value": _money(value),
        "cost_basis": _money(basis),
        "unrealized_pl": _money(value - basis),
        "unrealized_plpc": "0",
        "unrealized_intraday_pl": "0",
        "unrealized_intraday_plpc": "0",
        "current_price": f"{mark:.4f}",
        "lastday_price": f"{mark:.4f}",
        "change_today": "0",
    }


def _next_weekday(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def clock(book: AccountBook) -> dict[str, Any]:
    now = book.now.astimezone(NEW_YORK)
    opens = datetime.combine(now.date(), time(9, 30), NEW_YORK)
    closes = datetime.combine(now.date(), time(16, 0), NEW_YORK)
    is_open = now.weekday() < 5 and opens <= now < closes
    if now >= opens or now.weekday() >= 5:
        day = _next_weekday(now.date())
        opens = datetime.combine(day, time(9, 30), NEW_YORK)
        if not is_open:
            closes = datetime.combine(day, time(16, 0), NEW_YORK)
    return {
        "timestamp": now.isoformat(),
        "is_open": is_open,
        "next_open": opens.isoformat(),
        "next_close": closes.isoformat(),
    }


def calendar(params: dict[str, str]) -> list[dict[str, Any]]:
    """Every weekday is a session here; tests that need holidays pass explicit bars."""
    start = date.fromisoformat(params.get("start", "2024-01-01")[:10])
    end = date.fromisoformat(params.get("end", "2024-12-31")[:10])
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(
                {
                    "date": day.isoformat(),
                    "open": "09:30",
                    "close": "16:00",
                    "session_open": "0400",
                    "session_close": "2000",
                    "settlement_date": _next_weekday(day).isoformat(),
                }
            )
        day += timedelta(days=1)
    return days


def asset(book: AccountBook, symbol: str) -> dict[str, Any]:
    with book.lock:
        shortable = symbol not in book.not_shortable
        # Alpaca's hard-to-borrow names stay shortable but are not easy to borrow.
        easy = shortable and symbol not in book.hard_to_borrow
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
            "class": "us_equity",
            "exchange": "NASDAQ",
            "symbol": symbol,
            "name": f"{symbol} Test Corp",
            "status": "active",
            "tradable": symbol not in book.not_tradable,
            "marginable": True,
            "shortable": shortable,
            "easy_to_borrow": easy,
            "fractionable": True,
            "attributes": [],
        }


def _when(text: str | None, default: datetime) -> datetime:
    if not text:
        return default
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def bars(book: AccountBook, params: dict[str, str], page_size: int) -> dict[str, Any]:
    """Daily bars, symbols in alphabetical order, ``limit`` bars per page across symbols.
    ``adjustment`` (Alpaca's default: raw) re-scales history as of the book's clock."""
    symbols = sorted(s for s in params.get("symbols", "").split(",") if s)
    start = _when(params.get("start"), datetime(1970, 1, 1, tzinfo=UTC))
    end = _when(params.get("end"), book.now)
    if params.get("feed", "sip") == "sip" and end > book.now - SIP_DELAY:
        raise ApiError(403, None, "subscription does not permit querying recent SIP data")
    adjustment = params.get("adjustment", "raw")
    if adjustment not in ("raw", "split", "dividend", "all"):
        raise ApiError(422, VALIDATION, f"invalid adjustment: {adjustment}")
    with book.lock:
        items = []
        for symbol in symbols:
            prices, volumes = price_factors(book, symbol, adjustment, book.today())
            for day, close in sorted(book.bars.get(symbol, {}).items()):
                stamp = datetime.combine(day, time.min, NEW_YORK)
                if start <= stamp <= end:
                    volume = round(100_000 * volumes.get(day, 1.0))
                    items.append((symbol, stamp, close * prices.get(day, 1.0), volume))
    offset = int(base64.b64decode(params["page_token"])) if params.get("page_token") else 0
    size = min(page_size, int(params.get("limit") or page_size))
    page = items[offset : offset + size]
    out: dict[str, list[dict[str, Any]]] = {}
    for symbol, stamp, close, volume in page:
        out.setdefault(symbol, []).append(
            {"t": iso(stamp), "o": close, "h": close, "l": close, "c": close}
            | {"v": volume, "n": 1_000, "vw": close}
        )
    more = offset + size < len(items)
    token = base64.b64encode(str(offset + size).encode()).decode() if more else None
    return {"bars": out, "next_page_token": token, "currency": "USD"}
