"""Sending a session's pending order intents, one event per order action.

Each intent is looked up at the broker by its deterministic ``client_order_id`` before it is
sent, so a resend after a crash adopts the order instead of placing it twice. Events:
``order_submitted`` (placed now), ``order_adopted`` (found at the broker: sent before a crash),
``order_resolved`` (the submit's answer was lost, the order had landed), ``order_rejected``
(refused on its merits, with the broker's reason), and ``orders_fill_late`` when the broker's
time windows make the orders fill later than the backtest's next-session close.
"""

from __future__ import annotations

from datetime import date

from daemon.core.errors import OrderRejected
from daemon.core.ports import Logger, OrderRequest, OrderStatus, TimeInForce
from daemon.core.statuses import IntentStatus
from daemon.cycle.context import DaemonContext
from daemon.infra.redaction import redact_text
from daemon.store import IntentRecord
from daemon.timing.session_timing import TimingGate, describe_late, gate_for
from shared.errors import BrokerError
from shared.orders import Side


def timing_gate(ctx: DaemonContext) -> TimingGate:
    s = ctx.settings
    return gate_for(
        ctx.broker,
        TimeInForce(s.broker.time_in_force),
        s.data.feed,
        s.alpaca.feed,
        s.alpaca.sip_delay_minutes,
    )


def send_pending(ctx: DaemonContext, session: date, gate: TimingGate, log: Logger) -> None:
    pending = [i for i in ctx.store.intents(session) if i.status == IntentStatus.PENDING]
    if not pending:
        return
    late = describe_late(gate.check_window(session))  # raises SessionDeferred when closed
    if late is not None:
        log.warning("orders_fill_late", decided_on=session.isoformat(), **late)
    for intent in pending:
        send_one(ctx, intent, log)


def send_one(ctx: DaemonContext, intent: IntentRecord, log: Logger) -> None:
    broker, store = ctx.broker, ctx.store
    order = broker.order_by_client_id(intent.client_order_id)
    event = "order_submitted"
    if order is not None:
        event = "order_adopted"  # sent before a crash, its answer never recorded
    else:
        request = OrderRequest(
            intent.client_order_id,
            intent.symbol,
            Side(intent.side),
            intent.quantity,
            TimeInForce(ctx.settings.broker.time_in_force),
            intent.reference_price,
        )
        try:
            order = broker.submit(request)
        except OrderRejected as exc:
            # Refused on its merits (buying power, not shortable): a final answer, like a
            # margin rejection in the backtest. Record it and trade the rest of the session.
            reason = redact_text(str(exc))
            with store.transaction():
                store.set_intent_status(intent.client_order_id, IntentStatus.REJECTED, reason)
            log.warning(
                "order_rejected",
                client_order_id=intent.client_order_id,
                symbol=intent.symbol,
                side=intent.side,
                quantity=intent.quantity,
                reason=reason,
                broker_reason=getattr(exc, "broker_message", None),
                http_status=getattr(exc, "status", None),
                code=getattr(exc, "code", None),
            )
            return
        except Exception as exc:
            # Unknown outcome: look the id up instead of sending again.
            order = broker.order_by_client_id(intent.client_order_id)
            if order is None:
                reason = redact_text(str(exc))
                with store.transaction():
                    store.set_intent_status(
                        intent.client_order_id, IntentStatus.PENDING, f"submit failed: {reason}"
                    )
                raise BrokerError(
                    f"order {intent.client_order_id} could not be submitted ({reason}); it is "
                    "not at the broker, and the next run of this session sends it again"
                ) from None
            event = "order_resolved"  # the answer was lost; the order had landed
    ctx.checkpoint(f"sent:{intent.client_order_id}")
    new = order.status is OrderStatus.NEW
    status = IntentStatus.SUBMITTED if new else IntentStatus(order.status.value)
    with store.transaction():
        store.record_submission(
            intent.client_order_id, order.broker_order_id, status, ctx.clock.now().isoformat()
        )
    log.info(
        event,
        client_order_id=intent.client_order_id,
        symbol=intent.symbol,
        side=intent.side,
        quantity=intent.quantity,
        broker_order_id=order.broker_order_id,
        status=order.status.value,
    )
