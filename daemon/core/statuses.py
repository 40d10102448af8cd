"""The statuses the store records for runs and order intents.

Both are ``StrEnum``s, so they are written to SQLite and logged as their plain values and compare
equal to them.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """What became of one attempt at a session (``runs.status``, ``RunResult.status``)."""

    STARTED = "started"  # recorded, not finished (a crash leaves it so)
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"  # not an NYSE session
    ALREADY_DONE = "already_done"  # a completed session asked again (never stored)
    # outside the broker's order window or before the bar is final; stored as SKIPPED with
    # "deferred until ..." (only COMPLETED marks a session done)
    DEFERRED = "deferred"


class IntentStatus(StrEnum):
    """Where an order intent stands (``intents.status``). After submission it follows the
    broker's order status (``daemon.core.ports.OrderStatus``), whose values it shares. The shadow
    model's orders (``model_orders.status``) use the same values."""

    PENDING = "pending"  # written, not (known to be) at the broker yet
    BLOCKED = "blocked"  # held back by a risk limit, dry run or the kill switch: never sent
    ABANDONED = "abandoned"  # never reached the broker, and its session is over
    SUBMITTED = "submitted"  # at the broker, not filled yet
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"


# Intent statuses that may still change at the broker.
UNFINISHED: tuple[IntentStatus, ...] = (
    IntentStatus.PENDING,
    IntentStatus.SUBMITTED,
    IntentStatus.NEW,
    IntentStatus.PARTIALLY_FILLED,
)
