"""The decision step of the cycle (``decided``): pair states restored or rebuilt, every pair
stepped, its health measured (daemon/monitoring/health.py), limits applied; intents, decisions,
health and the new pair states written in ONE transaction before anything is sent; pairs the
broker holds unlike the research fill model are repaired by orders of their own
(daemon/cycle/pair_integrity.py)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from daemon.core.decide import Limits, client_order_id, gate, rebuild_states, step_all
from daemon.core.ports import Logger
from daemon.core.roster import SessionRoster, slot_key
from daemon.core.statuses import IntentStatus
from daemon.cycle.apply_actions import books_corporate_actions
from daemon.cycle.context import DaemonContext
from daemon.cycle.pair_integrity import (
    alert_unbalanced,
    check_integrity,
    repair_intents,
    save_memory,
)
from daemon.cycle.roster_step import advance, record_roster
from daemon.feeds.bars import BarUpdate
from daemon.feeds.reports import REWARM_META
from daemon.monitoring.alerts import AlertCode, hold_alert
from daemon.monitoring.health import alert_degraded, assess, entry_blocks, finish, pair_name
from daemon.store import DecisionRecord, IntentRecord
from daemon.store.actions import real_per_stored, split_symbols
from daemon.store.generations import Generation
from daemon.store.health import save_health
from daemon.timing.session_timing import QueuedPlan
from shared.handover import waiting
from shared.strategy import PairState


def _history(update: BarUpdate, session: date) -> pd.DataFrame:
    return update.strategy_closes.loc[[d < session for d in update.strategy_closes.index]]


def _restore_states(
    ctx: DaemonContext, config: SessionRoster, update: BarUpdate, session: date, go_live: date
) -> list[PairState]:
    store = ctx.store
    last = store.last_completed_session()
    saved = store.decisions(last) if last is not None else []
    if len(saved) == len(config.slots) and not store.get_meta(REWARM_META):
        return [d.pair_state for d in saved]
    return rebuild_states(
        config.slots,
        _history(update, session),
        go_live,
        lambda d: store.expected_positions(through=d),
    )


def _go_live(ctx: DaemonContext, session: date) -> date:
    stored = ctx.store.get_meta("go_live")
    if stored is not None:
        return date.fromisoformat(stored)
    return ctx.settings.go_live or session


def decide(
    ctx: DaemonContext,
    previous: SessionRoster,
    pending: Generation | None,
    update: BarUpdate,
    session: date,
    plan: QueuedPlan,
    log: Logger,
) -> None:
    """Decide the session on the previous session's roster, handed over to a pending
    generation first (daemon/cycle/roster_step.py)."""
    store = ctx.store
    go_live = _go_live(ctx, session)
    states = _restore_states(ctx, previous, update, session, go_live)
    held = plan.with_queued(ctx.broker.positions())  # what the broker will hold
    scope = {*previous.symbols, *update.strategy_closes.columns}
    positions = {s: held[s] for s in sorted(scope) if held.get(s)}  # ours only
    config, states = advance(
        previous,
        states,
        pending,
        session,
        positions,
        _history(update, session),
        go_live,
        lambda d: store.expected_positions(through=d),
    )
    positions = {s: q for s, q in positions.items() if s in config.symbols}
    closes = {str(s): float(v) for s, v in update.strategy_closes.loc[session].items()}
    split = split_symbols(store)
    # A broker that trades real prices gets entries in real shares (a split moved the scale).
    ratios = real_per_stored(store) if books_corporate_actions(ctx.broker) else {}
    observing = True if session < go_live else waiting(config.slots)
    decisions = step_all(config.slots, states, closes, positions, observing, split, ratios)
    rules = ctx.settings.health
    health = assess(config, rules, update.strategy_closes, session)
    limits = Limits(
        kill_switch=ctx.settings.kill_switch_engaged(),
        dry_run=ctx.settings.dry_run,
        max_order_notional=ctx.settings.risk.max_order_notional,
        max_gross_exposure=ctx.settings.risk.max_gross_exposure,
        no_entry=entry_blocks(config, rules, health),
    )
    gated = gate(decisions, states, positions, update.real_closes, limits)
    states_now = [d.state.state for d, _ in gated]
    keys = [slot_key(slot) for slot in config.slots]
    health = finish(store, rules, health, states_now, session, keys)
    integrity = check_integrity(ctx, config, session, update, positions, gated, go_live)
    intents: list[IntentRecord] = repair_intents(config, session, update, integrity, limits)
    records: list[DecisionRecord] = []
    for k, (decision, blocked) in enumerate(gated):
        pair = config.pair_list[k]
        name = f"{pair.asset_1}/{pair.asset_2}"
        for order in decision.orders:
            cid = client_order_id(config.config_id, session, k, order.leg.value, 1)
            intents.append(
                IntentRecord(
                    cid,
                    session,
                    k,
                    order.leg.value,
                    order.symbol,
                    order.side.value,
                    order.quantity,
                    update.real_closes[order.symbol],
                    status=IntentStatus.BLOCKED if blocked else IntentStatus.PENDING,
                    message=blocked,
                )
            )
        records.append(
            DecisionRecord(
                session,
                k,
                name,
                decision.action.value,
                decision.beta,
                decision.spread,
                decision.z,
                decision.state.state,
                blocked,
                decision.state,
            )
        )
        log.info(
            "decision",
            pair=name,
            action=decision.action.value,
            beta=decision.beta,
            z=decision.z,
            state=decision.state.state,
            orders=len(decision.orders),
            blocked=blocked,
        )
    with store.transaction():
        if store.get_meta("go_live") is None:
            store.set_meta("go_live", go_live.isoformat())
        if store.get_meta(REWARM_META):
            store.set_meta(REWARM_META, "")  # the states were just rebuilt on the new history
        store.add_intents(intents, ctx.clock.now().isoformat())
        store.save_decisions(records)
        record_roster(store, config, session, log)
        save_memory(store, integrity.memory, config.slots)
        if integrity.unbalanced:
            hold_alert(store, session, AlertCode.PAIR_UNBALANCED)
        save_health(store, session, [pair_name(config, k) for k in range(len(health))], health)
        if any(h.degraded for h in health):
            hold_alert(store, session, AlertCode.PAIR_DEGRADED)
    alert_unbalanced(ctx, config, session, integrity, log)
    alert_degraded(store, log, config, session, health, rules.on_degraded)
