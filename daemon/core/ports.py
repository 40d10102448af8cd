"""The daemon's ports: what ``run_once`` needs from the outside world, as Protocols.

Adapters translate vendor types (alpaca-py models, yfinance frames) into these types at the edge;
nothing vendor-specific crosses into the cycle or the strategy core.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol

import pandas as pd

from shared.orders import Side


class TimeInForce(StrEnum):
    CLS = "cls"  # market-on-close: fills at the session's closing auction
    OPG = "opg"  # market-on-open
    DAY = "day"


class OrderStatus(StrEnum):
    """Alpaca's order statuses, folded to what the daemon acts on."""

    NEW = "new"  # accepted by the broker, not filled yet (includes accepted/pending_new)
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self in (
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.EXPIRED,
            OrderStatus.REJECTED,
        )


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What the daemon asks a broker to do. ``client_order_id`` is deterministic, so asking
    twice for the same intent can never create two orders."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: int
    time_in_force: TimeInForce
    # The close the decision was made on (the local broker's cash check uses it).
    reference_price: float


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    client_order_id: str
    broker_order_id: str
    symbol: str
    side: Side
    quantity: int
    filled_quantity: int
    filled_avg_price: float | None
    status: OrderStatus
    submitted_at: datetime | None = None
    filled_at: datetime | None = None
    commission: float = 0.0
    reject_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Account:
    cash: float
    equity: float
    buying_power: float
    currency: str = "USD"


class EventLog(Protocol):
    """A structlog-style logger: one event name plus key/value fields."""

    def info(self, event: str, **fields: Any) -> Any: ...

    def warning(self, event: str, **fields: Any) -> Any: ...

    def error(self, event: str, **fields: Any) -> Any: ...

    def critical(self, event: str, **fields: Any) -> Any: ...


class Logger(EventLog, Protocol):
    """The daemon's logger (structlog's bound logger): an :class:`EventLog` that can also bind
    context (run_id, session, config_id, ...) onto every later event."""

    def exception(self, event: str, **fields: Any) -> Any: ...

    def bind(self, **fields: Any) -> Logger: ...


class Broker(Protocol):
    """An account that takes market orders. Implementations: ``LocalPaperBroker``,
    ``AlpacaBroker``."""

    name: str

    def account(self) -> Account: ...

    def positions(self) -> dict[str, int]:
        """Signed share positions by symbol (shorts negative); flat symbols may be omitted."""
        ...

    def submit(self, request: OrderRequest) -> BrokerOrder:
        """Place an order. Must be idempotent on ``client_order_id``: a second submit of the
        same id returns the existing order instead of creating another. Raises
        :class:`OrderRejected` when the broker refuses the order on its merits; any other
        exception leaves the outcome unknown (the caller looks the id up)."""
        ...

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None: ...

    def open_orders(self) -> list[BrokerOrder]: ...

    def cancel(self, broker_order_id: str) -> None: ...

    def settle(
        self,
        session: date,
        closes: Mapping[str, float],
        pairs: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        """Tell the broker that ``session`` has closed at ``closes``. The local paper broker
        fills its queued orders here with the research fill model (``pairs``: the pairs that
        ordered them, whose legs wait for each other; None keeps the ones it was built with);
        a real broker ignores it."""
        ...


class BarSource(Protocol):
    """Daily adjusted closes. Implementations: local CSV, yfinance, Alpaca."""

    name: str

    def daily_closes(self, symbols: Sequence[str], start: date, end: date) -> pd.DataFrame:
        """Closes for ``symbols`` on sessions ``start..end`` inclusive: a DataFrame indexed by
        session date (``datetime.date``-like, ascending), one float column per symbol, as the
        source delivered them (validation is the caller's job, so it can name what is wrong)."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...
