"""``run_once(ctx, session)``: the daemon's unit of work (docs/daemon.md).

Steps, each ending in a committed transaction and a ``ctx.checkpoint(step)`` call:

1. ``started``      config loaded and checked to be one of the store's config generations
                    (generation 1 recorded on the first run), run recorded; a deployment
                    request taken in (daemon/cycle/roster_step.py)
2. ``bars_stored``  corporate actions learnt (a live feed not adjusted for a known split yet is
                    refused); bars through the session validated; new sessions appended
                    (stored scale)
   ``actions_applied`` corporate actions applied on their ex-date (splits
                    change the expected positions, dividends are recorded cash flows):
                    daemon/cycle/apply_actions.py
3. ``settled``      ``broker.settle(session, real closes)`` (the local broker fills here); a
                    symbol without a close is left out: the local broker never fills at an
                    invented price, its pair's orders wait for the pair's next bar
4. ``reconciled``   broker order statuses and fills recorded; positions must match the store
                    (a split the broker did not book is recognised): reconcile_step.py
5. ``decided``      pair states restored or rebuilt, a pending generation handed over to and
                    flat leaving pairs let go (roster_step.py), pairs stepped, health measured,
                    limits applied; intents, decisions, health and new pair states written in
                    ONE transaction before sending (daemon/cycle/decide_step.py); a pair with
                    a missing leg (no bar) holds (daemon/cycle/missing_legs.py); pairs the
                    broker holds unlike the research fill model are repaired by orders of their
                    own (daemon/cycle/pair_integrity.py)
6. ``sent:<id>``    after each order reaches the broker (before it is recorded), then
   ``submitted``    once every intent is recorded as submitted
7. ``completed``    equity, the shadow model's step and tracking row (daemon/monitoring) and
                    run completion written together; alerts updated; one ``session_summary``

Before reading bars, and again before sending, the broker's clock decides (``session_timing``):
a session whose daily bar is not final yet, or whose orders Alpaca would refuse now (``cls``
15:50-19:00 ET), is *deferred*: what is done stays done, nothing is sent, and the result says
when to resume. Orders of earlier sessions still queued at the broker (a late run's ``cls``
orders wait for a later close) count as held when the pairs step.

A crash anywhere resumes on the next call: the intents of step 5 are re-sent only after looking
their ``client_order_id`` up at the broker, so no order is ever duplicated. A completed session
is not run again (``session_already_done``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from daemon.config.research_config import load_config
from daemon.core.decide import held_symbols
from daemon.core.errors import SessionDeferred
from daemon.core.ports import Account, Logger
from daemon.core.roster import SessionRoster
from daemon.core.statuses import RunStatus
from daemon.cycle.apply_actions import (
    apply_corporate_actions,
    books_corporate_actions,
    close_fractions,
    learn_corporate_actions,
    refuse_unadjusted,
)
from daemon.cycle.context import DaemonContext
from daemon.cycle.decide_step import decide
from daemon.cycle.missing_legs import alert_missing_legs
from daemon.cycle.order_sending import send_pending, timing_gate
from daemon.cycle.reconcile_step import reconcile_step
from daemon.cycle.roster_step import (
    backfill_new_symbols,
    check_deployed,
    ensure_first_generation,
    fetch_scope,
    pending_generation,
    previous_roster,
    session_roster,
    take_deploy_request,
)
from daemon.cycle.summary import session_summary
from daemon.feeds.bars import BarUpdate, merge_bars, on_stored_scale
from daemon.feeds.reports import (
    is_feed_problem,
    log_feed_problem,
    log_revisions,
    note_feed_health,
    record_revisions,
)
from daemon.feeds.sanity import exchange_date
from daemon.infra.redaction import redact_text
from daemon.monitoring.alerts import AlertCode, alert_failure, held_alerts, raise_alert
from daemon.monitoring.session import after_completed, track
from daemon.store import Store
from daemon.timing.session_timing import TimingGate
from daemon.timing.sessions import is_session, xnys_sessions
from shared.config import ProdConfig
from shared.errors import ConfigError, PairsError, StateError


@dataclass(frozen=True, slots=True)
class RunResult:
    status: RunStatus  # completed | already_done | skipped | deferred | failed
    session: date
    message: str = ""
    run_id: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    # The feed is stale or delivered a bad print: it heals when the feed is fixed, so the
    # scheduler keeps retrying instead of halting after max_attempts.
    feed_problem: bool = False
    resume_at: datetime | None = None  # deferred: when to run it again (broker time)


def _now(ctx: DaemonContext) -> str:
    return ctx.clock.now().isoformat()


def _fetch_bars(ctx: DaemonContext, scope: SessionRoster, session: date) -> BarUpdate:
    symbols = scope.symbols
    first = scope.first_session
    fresh = ctx.bars.daily_closes(symbols, first, session)
    backfill_new_symbols(ctx.store, fresh, symbols, first, session)
    if ctx.settings.data.check_calendar:
        expected = xnys_sessions(first, session)
    else:  # the feed's own dates are its sessions (synthetic data uses business days)
        expected = sorted(d for d in set(fresh.index) if first <= d <= session)
    stored = ctx.store.bars(symbols)
    # Only the sessions the roster reads: a hand-over to a config fitted on a later window
    # leaves older stored sessions behind (they are kept, not compared with the feed).
    stored = stored.loc[[d >= first for d in stored.index]]
    update = merge_bars(
        stored,
        fresh,
        symbols,
        session,
        expected,
        ctx.settings.data.rescale_tolerance,
        ctx.bars.name,
        max_move=ctx.settings.data.max_daily_move,
        today=exchange_date(ctx.clock.now()),
        known_factors={symbol: factor for _, symbol, factor in ctx.store.rescales()},
    )
    if not books_corporate_actions(ctx.broker):
        return on_stored_scale(update)
    return update


def _check_order(store: Store, update: BarUpdate, session: date) -> None:
    """Sessions run in order: every stored or new session between the last completed one and
    this one must have completed."""
    last = store.last_completed_session()
    if last is None:
        return
    if session < last:
        raise StateError(
            f"session {session} is before the last completed session {last}; "
            "sessions run in order and a completed one is never re-run"
        )
    missed = [d for d in update.strategy_closes.index if last < d < session]
    if missed:
        raise StateError(
            f"sessions {missed[0]}..{missed[-1]} ({len(missed)}) have not run yet; run them "
            f"first in order (`pairs-daemon once --session {missed[0]}`) or let the scheduler "
            "catch up"
        )


def _store_bars(ctx: DaemonContext, update: BarUpdate, session: date, log: Logger) -> None:
    """Append the new sessions; record (and log once) each change of a ticker's factor."""
    store = ctx.store
    tolerance = ctx.settings.data.rescale_tolerance
    current = {symbol: factor for _, symbol, factor in store.rescales()}  # the latest wins
    changed = {
        symbol: update.factors.get(symbol, 1.0)
        for symbol in update.strategy_closes.columns
        if abs(update.factors.get(symbol, 1.0) / current.get(symbol, 1.0) - 1.0) > tolerance
    }
    with store.transaction():
        store.append_bars(update.strategy_closes.loc[update.new_sessions])
        for symbol, factor in changed.items():
            store.record_rescale(session, symbol, factor, _now(ctx))
        revised = record_revisions(store, update, tolerance, _now(ctx))
    log_revisions(log, update, revised)
    for symbol, factor in changed.items():
        log.warning(
            "bars_rescaled",
            symbol=symbol,
            factor=factor,
            note="the feed's bars differ from the stored ones by this factor at the end of the "
            "stored history (dividend or split re-adjustment); new bars are divided by it so "
            "the strategy stays on the stored scale, orders and equity use the real prices",
        )


def _account_at_close(
    ctx: DaemonContext,
    session: date,
    positions: Mapping[str, float],
    update: BarUpdate,
    gate: TimingGate,
) -> Account:
    """The account as of ``session``'s close. A real broker reports its account *now*: for a
    session caught up after downtime (a later session has closed since), that is a later
    close's marks, so its equity is marked here at the session's own real closes instead
    (cash does not move between caught-up sessions: their orders wait for a later close). The
    local paper broker's account is already marked at the session it settled."""
    account = ctx.broker.account()
    if not gate.later_session_closed(session):
        return account
    closes = update.real_closes
    if any(math.isnan(closes.get(s, math.nan)) for s in positions):
        return account  # a leg without a close cannot be marked: keep the broker's figure
    equity = account.cash + sum(q * float(closes[s]) for s, q in positions.items())
    return replace(account, equity=equity)


def _complete(
    ctx: DaemonContext,
    config: SessionRoster,
    session: date,
    run_id: str,
    update: BarUpdate,
    gate: TimingGate,
) -> None:
    positions = {s: q for s, q in sorted(ctx.broker.positions().items()) if q}
    account = _account_at_close(ctx, session, positions, update, gate)
    closes = {str(s): float(v) for s, v in update.strategy_closes.loc[session].items()}
    with ctx.store.transaction():
        ctx.store.record_equity(session, account.cash, account.equity, positions)
        track(ctx.store, config, session, closes, update.real_closes, account)
        ctx.store.finish_run(run_id, RunStatus.COMPLETED, _now(ctx), None)
        note_feed_health(ctx.store, session, None, _now(ctx))


def _cycle(
    ctx: DaemonContext, file_config: ProdConfig, session: date, run_id: str, log: Logger
) -> SessionRoster:
    gate = timing_gate(ctx)
    gate.check_bars_final(session)
    take_deploy_request(ctx.store, log)
    previous = previous_roster(ctx.store, file_config)
    pending = pending_generation(ctx.store)
    scope = fetch_scope(previous, pending)  # previous pairs, and a deployed config's symbols
    update = _fetch_bars(ctx, scope, session)
    _check_order(ctx.store, update, session)
    learn_corporate_actions(ctx, scope, session, log)
    refuse_unadjusted(ctx, scope, update, session)
    _store_bars(ctx, update, session, log)
    ctx.checkpoint("bars_stored")
    apply_corporate_actions(ctx, scope, session, update, log)
    close_fractions(ctx, scope, log)
    ctx.checkpoint("actions_applied")
    # Only the session's own closes: a symbol without one (a halt) has no fill price.
    traded = {s: p for s, p in update.real_closes.items() if s not in update.missing}
    # The pairs that ordered: after a hand-over the broker's own list is the old config's.
    ordered = [(p.asset_1, p.asset_2) for p in previous.pair_list]
    ctx.broker.settle(session, traded, pairs=ordered)
    ctx.checkpoint("settled")
    held = held_symbols(scope.pair_list, update.missing)
    plan = reconcile_step(ctx, scope, session, gate, log, held)
    ctx.checkpoint("reconciled")
    if not ctx.store.decisions(session):
        decide(ctx, previous, pending, update, session, plan, log)
    ctx.checkpoint("decided")
    roster = session_roster(ctx.store, session, previous)
    send_pending(ctx, session, gate, log)
    ctx.checkpoint("submitted")
    _complete(ctx, roster, session, run_id, update, gate)
    ctx.checkpoint("completed")
    return roster


def _fail(
    ctx: DaemonContext,
    run_id: str,
    started: bool,
    session: date,
    config_id: str,
    message: str,
    exc: Exception | None = None,
) -> None:
    with ctx.store.transaction():
        if not started:
            ctx.store.start_run(run_id, session, config_id, _now(ctx))
        ctx.store.finish_run(run_id, RunStatus.FAILED, _now(ctx), redact_text(message))
        if exc is not None:
            note_feed_health(ctx.store, session, exc, _now(ctx))


def _deferred(
    ctx: DaemonContext, run_id: str, session: date, exc: SessionDeferred, log: Logger
) -> RunResult:
    """Record the attempt (the store's run statuses have no 'deferred': 'skipped' with the
    reason; only 'completed' marks a session done) and say when to come back."""
    message = f"deferred until {exc.resume_at.isoformat()}: {exc}"
    with ctx.store.transaction():
        ctx.store.finish_run(run_id, RunStatus.SKIPPED, _now(ctx), message)
    log.info(
        "session_deferred", reason=exc.reason, resume_at=exc.resume_at.isoformat(), detail=str(exc)
    )
    raise_alert(ctx.store, log, AlertCode.SESSION_DEFERRED, message, session=session)
    return RunResult(RunStatus.DEFERRED, session, message, run_id, resume_at=exc.resume_at)


def run_once(ctx: DaemonContext, session: date) -> RunResult:
    """Run one session end to end; see the module docstring. Never raises for a bad session:
    the result (and a log event) says what happened."""
    log = ctx.logger.bind(session=session.isoformat())
    if ctx.store.is_completed(session):
        log.info("session_already_done")
        return RunResult(RunStatus.ALREADY_DONE, session, "session already completed")
    run_id = uuid.uuid4().hex[:16]
    log = log.bind(run_id=run_id)
    started, config_id = False, "unknown"
    try:
        config = load_config(ctx.config_path)
        config_id = config.config_id
        log = log.bind(config_id=config_id)
        if session < config.data.first_session:
            raise ConfigError(
                f"session {session} is before the config's first session "
                f"{config.data.first_session}",
                source=str(ctx.config_path),
            )
        check_deployed(ctx.store, config, ctx.config_path)
        if ctx.settings.data.check_calendar and not is_session(session):
            with ctx.store.transaction():
                ctx.store.start_run(run_id, session, config_id, _now(ctx))
                ctx.store.finish_run(run_id, RunStatus.SKIPPED, _now(ctx), "not an NYSE session")
            log.info("session_skipped", reason="not an NYSE session")
            return RunResult(RunStatus.SKIPPED, session, "not an NYSE session", run_id)
        with ctx.store.transaction():
            if ctx.store.get_meta("config_id") is None:
                ctx.store.set_meta("config_id", config_id)
                ctx.store.set_meta("initial_cash", repr(config.initial_cash))
            ensure_first_generation(ctx.store, config, session, _now(ctx))
            ctx.store.start_run(run_id, session, config_id, _now(ctx))
        started = True
        ctx.checkpoint("started")
        roster = _cycle(ctx, config, session, run_id, log)
    except SessionDeferred as exc:
        return _deferred(ctx, run_id, session, exc, log)
    except PairsError as exc:
        _fail(ctx, run_id, started, session, config_id, str(exc), exc)
        log_feed_problem(log, exc)
        log.error("session_failed", error=str(exc), error_type=type(exc).__name__)
        alert_failure(ctx.store, log, exc, session)
        return RunResult(
            RunStatus.FAILED,
            session,
            redact_text(str(exc)),
            run_id,
            feed_problem=is_feed_problem(exc),
        )
    except Exception as exc:  # a bug or an outage: record it, keep the daemon alive
        message = f"{type(exc).__name__}: {exc}"
        _fail(ctx, run_id, started, session, config_id, message)
        log.exception("session_failed", error=str(exc), error_type=type(exc).__name__)
        alert_failure(ctx.store, log, exc, session, message)
        return RunResult(RunStatus.FAILED, session, redact_text(message), run_id)
    delisted_after = ctx.settings.data.delisted_after_sessions
    holding = alert_missing_legs(ctx.store, roster, session, delisted_after, _now(ctx), log)
    holding = [*holding, *held_alerts(ctx.store, session)]
    after_completed(ctx.store, ctx.settings, session, _now(ctx), log, holding)
    summary = session_summary(ctx.store, roster, session)
    log.info("session_summary", **summary)
    return RunResult(RunStatus.COMPLETED, session, "", run_id, summary)
