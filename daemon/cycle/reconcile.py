"""Reconciliation: bring the store up to date with the broker, then check they agree.

For every intent that may still change (pending, submitted, open) the broker is asked for the
order by its ``client_order_id``: a pending intent found at the broker was sent before a crash
and is recorded as submitted; fills are recorded idempotently (one row per order with its
cumulative quantity). Then the broker's positions must equal the positions the recorded fills
imply, for every symbol the config trades; any difference is a mismatch the daemon cannot explain
and trading stops with a message that lists it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from daemon.core.ports import Broker, BrokerOrder
from daemon.core.statuses import IntentStatus
from daemon.store import FillRecord, IntentRecord, Store
from shared.errors import StateError
from shared.orders import Side


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    fills_recorded: list[FillRecord] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)  # client ids not final at the broker
    mismatches: dict[str, tuple[int, int]] = field(default_factory=dict)  # symbol: (store, broker)
    unknown_orders: list[str] = field(default_factory=list)  # open at broker, not in store
    foreign_positions: dict[str, int] = field(default_factory=dict)  # symbols not traded here
    # Pending intents found at the broker: sent before a crash, now recorded as submitted.
    adopted: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.mismatches and not self.unknown_orders

    def describe(self) -> str:
        parts = [
            f"{s}: store expects {exp:+d}, broker has {act:+d}"
            for s, (exp, act) in self.mismatches.items()
        ]
        if self.unknown_orders:
            parts.append(f"open orders the store never sent: {', '.join(self.unknown_orders)}")
        return "; ".join(parts) or "store and broker agree"


def _fill_of(intent: IntentRecord, order: BrokerOrder, session: date) -> FillRecord | None:
    if order.filled_quantity <= 0 or order.filled_avg_price is None:
        return None
    sign = Side(intent.side).sign
    return FillRecord(
        client_order_id=intent.client_order_id,
        session=session,
        symbol=intent.symbol,
        signed_quantity=sign * order.filled_quantity,
        price=float(order.filled_avg_price),
        commission=float(order.commission),
    )


def _refresh_intent(
    store: Store, broker: Broker, intent: IntentRecord, session: date, now: str
) -> tuple[FillRecord | None, bool, bool]:
    """Update one intent from the broker; returns (new fill, still open, adopted): a pending
    intent found at the broker is recorded as submitted (see ``ReconcileReport.adopted``)."""
    order: BrokerOrder | None = broker.order_by_client_id(intent.client_order_id)
    if order is None:
        if intent.status == IntentStatus.PENDING:
            if intent.session < session:  # never reached the broker and its session is over
                store.set_intent_status(
                    intent.client_order_id, IntentStatus.ABANDONED, "never reached the broker"
                )
            return None, False, False
        raise StateError(
            f"order {intent.client_order_id} was recorded as submitted "
            f"(broker id {intent.broker_order_id}) but the broker does not know it; "
            "check the broker's order history before trading again"
        )
    if intent.status == IntentStatus.PENDING:
        store.record_submission(
            intent.client_order_id, order.broker_order_id, IntentStatus.SUBMITTED, now
        )
    store.set_intent_status(
        intent.client_order_id, IntentStatus(order.status.value), order.reject_reason
    )
    fill = _fill_of(intent, order, session)
    if fill is not None:
        filled_at = order.filled_at.isoformat() if order.filled_at else now
        store.record_fill(fill, filled_at)
    return fill, not order.status.is_final, intent.status == IntentStatus.PENDING


def reconcile(
    store: Store,
    broker: Broker,
    session: date,
    symbols: list[str],
    now: str,
    our_prefix: str | tuple[str, ...],
) -> ReconcileReport:
    """Record what the broker did with our orders, then compare positions (see module doc)."""
    fills: list[FillRecord] = []
    still_open: list[str] = []
    adopted: list[str] = []
    with store.transaction():
        for intent in store.intents(unfinished=True):
            fill, is_open, was_adopted = _refresh_intent(store, broker, intent, session, now)
            if was_adopted:
                adopted.append(intent.client_order_id)
            if fill is not None:
                fills.append(fill)
            if is_open:
                still_open.append(intent.client_order_id)
    expected = store.expected_positions()
    actual = {s: q for s, q in broker.positions().items() if q != 0}
    traded = sorted(set(symbols) | set(expected))
    mismatches = {
        s: (expected.get(s, 0), actual.get(s, 0))
        for s in traded
        if expected.get(s, 0) != actual.get(s, 0)
    }
    known = {i.client_order_id for i in store.intents()}
    unknown = [
        o.client_order_id
        for o in broker.open_orders()
        if o.client_order_id not in known
        and (o.symbol in traded or o.client_order_id.startswith(our_prefix))
    ]
    foreign = {s: q for s, q in actual.items() if s not in traded}
    return ReconcileReport(fills, still_open, mismatches, unknown, foreign, adopted)
