"""The cycle's reconciliation step: record what the broker did, explain what a split the
broker did not book changed, alert on positions no pair accounts for, refuse to trade on a
mismatch nothing explains, and plan the earlier sessions' orders still queued at the broker."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

from daemon.core.ports import Logger
from daemon.core.roster import SessionRoster
from daemon.core.statuses import IntentStatus
from daemon.cycle.apply_actions import split_hint
from daemon.cycle.context import DaemonContext
from daemon.cycle.reconcile import reconcile
from daemon.cycle.roster_step import our_prefixes
from daemon.cycle.unbooked_splits import explain_unbooked_splits
from daemon.monitoring.alerts import AlertCode, hold_alert, raise_alert
from daemon.timing.session_timing import QueuedPlan, TimingGate, plan_queued
from shared.errors import StateError


def _now(ctx: DaemonContext) -> str:
    return ctx.clock.now().isoformat()


def reconcile_step(
    ctx: DaemonContext,
    config: SessionRoster,
    session: date,
    gate: TimingGate,
    log: Logger,
    held: Collection[str] = frozenset(),
) -> QueuedPlan:
    """``held``: the symbols of the pairs with a leg without a close this session (their
    earlier orders wait for the pair's next bar)."""
    prefix = our_prefixes(ctx.store, config.config)
    report = reconcile(ctx.store, ctx.broker, session, config.symbols, _now(ctx), prefix)
    for fill in report.fills_recorded:
        log.info(
            "order_filled",
            client_order_id=fill.client_order_id,
            symbol=fill.symbol,
            quantity=fill.signed_quantity,
            price=fill.price,
            commission=fill.commission,
        )
    for cid in report.adopted:
        log.info(
            "order_adopted",
            client_order_id=cid,
            note="found at the broker by its client id: it was sent before a crash",
        )
    if report.foreign_positions:
        log.warning("foreign_positions", positions=report.foreign_positions)
        held = ", ".join(f"{s} {q:+d}" for s, q in sorted(report.foreign_positions.items()))
        raise_alert(
            ctx.store,
            log,
            AlertCode.UNACCOUNTED_POSITION,
            f"the broker holds positions no pair of this config trades ({held}); the strategy "
            "does not account for them: close them at the broker or trade them elsewhere",
            session=session,
            positions=report.foreign_positions,
        )
        with ctx.store.transaction():
            hold_alert(ctx.store, session, AlertCode.UNACCOUNTED_POSITION)
    if not report.consistent and explain_unbooked_splits(
        ctx.store, report.mismatches, session, log
    ):
        report = reconcile(ctx.store, ctx.broker, session, config.symbols, _now(ctx), prefix)
    if not report.consistent:
        message = (
            f"broker and store disagree: {report.describe()}; not trading. Find the cause "
            "(manual trades? orders sent by another process?) and fix it at the broker"
        )
        hint = split_hint(report.mismatches)
        if hint:
            message = f"{message}. {hint}"
        raise_alert(ctx.store, log, AlertCode.RECONCILE_MISMATCH, message, session=session)
        raise StateError(message)
    earlier = [
        i
        for i in ctx.store.intents(unfinished=True)
        if i.session < session and i.status != IntentStatus.PENDING
    ]
    for intent in (i for i in earlier if i.symbol in held):
        log.info(
            "order_waiting",
            client_order_id=intent.client_order_id,
            decided_on=intent.session.isoformat(),
            symbol=intent.symbol,
            note="its pair has a leg without a close this session, so the order is not due: "
            "the local paper broker fills it on the next session both legs trade, as research "
            "does on the pair's own closes; the pair holds meanwhile",
        )
    due = [i for i in earlier if i.symbol not in held]
    plan = plan_queued(ctx.broker, gate, due, session)
    for order in plan.orders:
        log.info(
            "order_queued",
            client_order_id=order.client_order_id,
            decided_on=order.decided_on.isoformat(),
            symbol=order.symbol,
            remaining=order.remaining,
            fills_on=order.fills_on.isoformat(),
            note="an earlier session's order waits for a later auction; the pairs step as if "
            "it had filled",
        )
    return plan
