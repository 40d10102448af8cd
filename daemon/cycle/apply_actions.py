"""The cycle's corporate-action step: know the events, apply them, account for them.

Runs after the bars are stored and before the broker is reconciled (``actions_applied``):

1. **Know.** The feed's source (:attr:`DaemonContext.actions`) is asked for the splits and cash
   dividends of the traded symbols from the config's first session through the broker's
   today and the next ``LOOKAHEAD_DAYS``. New events are stored and logged (``corporate_action``, ``status="announced"``). A
   source that cannot answer raises the ``corporate_actions_unavailable`` warning and the
   session goes on with the stored events: a split the daemon does not know of still cannot
   trade on wrong positions, because reconciliation refuses to trade on the difference.
2. **Apply.** Every stored event whose ex-date the broker's today has reached is applied once
   (``status="applied"``), on the position held at the close before its ex-date:
   - a split books ``held * ratio`` at the broker; the store records the change in whole
     shares (toward zero) so the expected positions (fills + adjustments) equal the broker's
     and the next exit closes the whole position; the fraction a reverse split leaves is
     cash in lieu (the estimate here: the fraction at this session's real close);
   - a dividend records ``held * amount`` (longs receive, shorts pay), due on the payable date.
   A broker that trades adjusted closes (the local paper broker: the research fill model)
   books neither: the adjusted prices already contain them. The event is still stored.
3. **Check.** The bars' re-adjustment factor of each symbol (fresh / stored) is compared with
   the splits known since the store's scale was fixed. A known split the bars do not show yet
   (a feed adjusting later than the broker books) refuses the bars before they are stored
   (:class:`FeedNotAdjusted`, retried like a bad print); a factor no known split explains
   raises ``corporate_action_mismatch`` after they are stored (on the stored scale anyway). Dividends move the factor by a few percent, so the check
   only catches splits: the factor over the splits' must lie in ``[0.7, 1.02]``. Only for
   live feeds (Alpaca, yfinance), whose every download is adjusted as of that day.

4. **Fractions.** A broker that keeps a reverse split's fraction of a share (Alpaca since
   2021-08) is asked to close it (:func:`close_fractions`): a DAY market order with a
   deterministic client id turns it into the cash in lieu the store already expects.

The strategy never sees any of it: it runs on the stored scale (:mod:`daemon.feeds.bars`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from daemon.core.corporate_actions import (
    ActionKind,
    CorporateAction,
    format_ratio,
    split_factor,
    split_position,
)
from daemon.core.decide import CLIENT_ID_PREFIX
from daemon.core.errors import EventsFileError, FeedNotAdjusted
from daemon.core.ports import Broker, Logger
from daemon.core.roster import SessionRoster
from daemon.cycle.context import DaemonContext
from daemon.feeds.bars import BarUpdate
from daemon.feeds.sanity import exchange_date
from daemon.monitoring.alerts import AlertCode, raise_alert
from daemon.monitoring.shadow import BOOKS_ACTIONS_META
from daemon.store import Store
from daemon.store.actions import (
    SCALE_META,
    CashFlow,
    PositionAdjustment,
    adjustments,
    cash_flows,
    mark_applied,
    record_action,
    record_adjustment,
    record_cash_flow,
    stored_actions,
)
from shared.errors import PairsError, StateError

# Events are asked for this far past today too: a split announced ahead is logged before it
# happens (applied only once the broker's today reaches its ex-date).
LOOKAHEAD_DAYS = 14
# Bars' factor over the known splits' factor: dividends only lower it (a few % a year).
FACTOR_BAND = (0.7, 1.02)
# Feeds whose every download is adjusted as of that day, so the factor tells what happened
# since the store's scale was fixed. A CSV file's adjustment date is unknown: not checked.
LIVE_FEEDS = ("alpaca", "yfinance")


def books_corporate_actions(broker: Broker) -> bool:
    """Whether the broker changes positions and cash for corporate actions (Alpaca does); the
    local paper broker trades the adjusted closes instead, which already contain them."""
    return bool(getattr(broker, "books_corporate_actions", False))


@dataclass(frozen=True, slots=True)
class Applied:
    action: CorporateAction
    held_before: int
    adjustment: PositionAdjustment | None = None
    flows: tuple[CashFlow, ...] = ()


def action_date(ctx: DaemonContext, session: date) -> date:
    """The date events are applied through. A broker books an event on its ex-date, whatever
    session the daemon is running (a catch-up run sees today's positions); the local broker
    lives on the session it settles."""
    if books_corporate_actions(ctx.broker):
        return max(session, exchange_date(ctx.clock.now()))
    return session


def learn_corporate_actions(
    ctx: DaemonContext, config: SessionRoster, session: date, log: Logger
) -> None:
    """Step 1 of the module doc (before the bars are stored, so step 3 can refuse them)."""
    store, now = ctx.store, ctx.clock.now()
    today = action_date(ctx, session)
    fetched = _fetch(ctx, config, session, today, log)
    with store.transaction():
        if store.get_meta(SCALE_META) is None:
            store.set_meta(SCALE_META, today.isoformat())
        store.set_meta(BOOKS_ACTIONS_META, "1" if books_corporate_actions(ctx.broker) else "0")
        new, restated = [], []
        for action in fetched:
            if action.symbol not in config.symbols:
                continue
            known = record_action(store, action, now.isoformat())
            if known is None:
                new.append(action)
            elif (known.action.ratio, known.action.amount) != (action.ratio, action.amount):
                restated.append((known.action, action))
    for action in new:
        log.info("corporate_action", status="announced", **_fields(action))
    for before, after in restated:
        message = (
            f"{ctx.actions.name} restated {before.describe()} as {after.describe()}; the first "
            "version stays (it may already be applied). Check the event and the positions"
        )
        raise_alert(store, log, AlertCode.CORPORATE_ACTION_MISMATCH, message, session=session)


def refuse_unadjusted(
    ctx: DaemonContext, config: SessionRoster, update: BarUpdate, session: date
) -> None:
    """A live feed whose bars do not show a known split yet (it adjusts later than the broker
    books) would put the split's jump into the stored history: refuse the bars before they are
    stored, as a bad print; the next run retries (:class:`FeedNotAdjusted`)."""
    if ctx.bars.name not in LIVE_FEEDS:
        return
    today = max(session, exchange_date(ctx.clock.now()))
    for symbol, observed, expected in factor_mismatches(ctx.store, config, update.factors, today):
        if expected == 1.0:
            continue  # no known split: a warning after the bars are stored (check_factors)
        raise FeedNotAdjusted(
            f"{ctx.bars.name}: the bars of {symbol} are re-scaled by {observed:.6g} against "
            f"the stored ones, but the known splits explain {expected:.6g}: the feed has not "
            "adjusted for the split yet. Nothing stored or traded; the next run retries",
            symbol=symbol,
            session=session.isoformat(),
        )


def apply_corporate_actions(
    ctx: DaemonContext, config: SessionRoster, session: date, update: BarUpdate, log: Logger
) -> list[Applied]:
    """Steps 2 and 3 of the module doc, after the bars are stored."""
    store = ctx.store
    books = books_corporate_actions(ctx.broker)
    today = action_date(ctx, session)
    with store.transaction():
        pending = [s.action for s in stored_actions(store, unapplied_through=today)]
        applied = [_apply(store, a, books, update, session) for a in pending]
    for done in applied:
        _log_applied(log, done, books)
    if ctx.bars.name in LIVE_FEEDS:
        check_factors(store, config, session, today, log)
    return applied


def _fetch(
    ctx: DaemonContext, config: SessionRoster, session: date, today: date, log: Logger
) -> list[CorporateAction]:
    try:
        end = today + timedelta(days=LOOKAHEAD_DAYS)
        return ctx.actions.corporate_actions(config.symbols, config.first_session, end)
    except EventsFileError:
        raise  # the operator's own file: fix it, never trade without it
    except PairsError as exc:
        message = (
            f"corporate actions from {ctx.actions.name} unavailable ({exc}); the session goes "
            "on with the events already stored. A split the daemon does not know of stops "
            "trading at reconciliation, it cannot trade on wrong positions"
        )
        raise_alert(
            ctx.store, log, AlertCode.CORPORATE_ACTIONS_UNAVAILABLE, message, session=session
        )
        return []


def _price_on_ex_date(action: CorporateAction, update: BarUpdate, session: date) -> float:
    price = float(update.real_closes.get(action.symbol, 0.0))
    return price / action.ratio if session < action.ex_date else price


def _apply(
    store: Store, action: CorporateAction, books: bool, update: BarUpdate, session: date
) -> Applied:
    before = action.ex_date - timedelta(days=1)
    held = store.expected_positions(through=before).get(action.symbol, 0)
    mark_applied(store, action.key, session)
    if not books or held == 0:
        return Applied(action, held)
    if action.kind is ActionKind.DIVIDEND:
        flow = CashFlow(
            action.key,
            "dividend",
            action.symbol,
            action.ex_date,
            action.pays_on,
            held,
            held * action.amount,
        )
        record_cash_flow(store, flow)
        return Applied(action, held, flows=(flow,))
    whole, fraction = split_position(held, action.ratio)
    adjustment = PositionAdjustment(
        action.key, action.ex_date, action.symbol, held, whole - held, fraction
    )
    record_adjustment(store, adjustment)
    flows: tuple[CashFlow, ...] = ()
    if fraction:
        price = _price_on_ex_date(action, update, session)
        flow = CashFlow(
            action.key,
            "cash_in_lieu",
            action.symbol,
            action.ex_date,
            action.ex_date,
            fraction,
            fraction * price,
        )
        record_cash_flow(store, flow)
        flows = (flow,)
    return Applied(action, held, adjustment, flows)


def _fields(action: CorporateAction) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "symbol": action.symbol,
        "kind": action.kind.value,
        "ex_date": action.ex_date.isoformat(),
        "source": action.source,
    }
    if action.kind is ActionKind.SPLIT:
        fields["ratio"] = format_ratio(action.ratio)
    else:
        fields["amount_per_share"] = action.amount
        fields["payable_date"] = action.pays_on.isoformat()
    return fields


def _log_applied(log: Logger, done: Applied, books: bool) -> None:
    fields = _fields(done.action) | {"held_before": done.held_before}
    if not books:
        fields["note"] = "the broker trades adjusted closes: nothing to book"
    if done.adjustment is not None:
        fields["held_after"] = done.held_before + done.adjustment.quantity
    for flow in done.flows:
        fields[f"{flow.kind}_amount"] = round(flow.amount, 6)
        if flow.kind == "cash_in_lieu":
            fields["fraction"] = flow.shares
    log.info("corporate_action", status="applied", **fields)


def factor_mismatches(
    store: Store, config: SessionRoster, factors: Mapping[str, float], today: date
) -> list[tuple[str, float, float]]:
    """(symbol, observed factor, factor the known splits explain) for each symbol whose feed
    factor (fresh / stored) is outside ``FACTOR_BAND`` of what the splits since the store's
    scale was fixed explain."""
    scale_from = date.fromisoformat(store.get_meta(SCALE_META) or today.isoformat())
    known = [s.action for s in stored_actions(store)]
    low, high = FACTOR_BAND
    out = []
    for symbol in config.symbols:
        expected = split_factor(known, symbol, scale_from, today)
        observed = factors.get(symbol, 1.0)
        if not low <= observed / expected <= high:
            out.append((symbol, observed, expected))
    return out


def check_factors(
    store: Store, config: SessionRoster, session: date, today: date, log: Logger
) -> None:
    """Warn about a re-adjustment no known split explains (the bars are on the stored scale
    already; the broker's position, if the split was real, stops the next reconciliation)."""
    factors = {symbol: factor for _, symbol, factor in store.rescales()}  # the latest wins
    for symbol, observed, expected in factor_mismatches(store, config, factors, today):
        message = (
            f"{symbol}: the feed's bars are re-scaled by {observed:.6g} against the stored "
            f"ones, but the known splits explain {expected:.6g}. A split the source has not "
            "published (add it to data.events_csv)? The strategy stays on its stored scale; "
            "check the broker's position in it"
        )
        raise_alert(
            store, log, AlertCode.CORPORATE_ACTION_MISMATCH, message, session=session, symbol=symbol
        )


# Ratios (new:old) a mismatch is tested against: forward and reverse splits seen in practice.
_COMMON_RATIOS = tuple(
    sorted(
        {n / 1 for n in (*range(2, 21), 25, 30, 40, 50, 100)}
        | {1 / n for n in (*range(2, 21), 25, 30, 40, 50, 100)}
        | {3 / 2}
    )
)


def split_hint(mismatches: dict[str, tuple[int, int]]) -> str:
    """A reconciliation mismatch that looks like an unknown split (the broker holds the store's
    position times a common split ratio, in whole shares toward zero as a broker paying cash
    in lieu books it): say so, and how to tell the daemon."""
    hints = []
    for symbol, (expected, actual) in mismatches.items():
        if not expected or expected * actual < 0:
            continue
        ratios = [r for r in _COMMON_RATIOS if split_position(expected, r)[0] == actual]
        if ratios:
            labels = [format_ratio(r) for r in ratios]
            which = labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"
            hints.append(
                f"{symbol} looks like a split the daemon does not know of ({which}): check "
                "the feed's corporate actions, add it to data.events_csv (any feed) and rerun"
            )
    return "; ".join(hints)


def fraction_order_id(config_id: str, ex_date: date, symbol: str) -> str:
    """Deterministic: the order closing one split's fraction is sent once."""
    return f"{CLIENT_ID_PREFIX}-{config_id}-{ex_date:%Y%m%d}-frac-{symbol}"


def _crossed_zero(split_fraction: float, broker_fraction: float) -> bool:
    """The broker's fraction is the split's on the other side of zero (they differ by a whole
    share): an order sized before the split filled on the ex-date and took the position
    through zero (short -197 at 1:5 is -39.4; buying 197 makes +157.6, fraction +0.6)."""
    gap = broker_fraction - split_fraction
    return abs(gap) > 1e-6 and abs(gap - round(gap)) < 1e-6 and abs(round(gap)) == 1


def _rebook_across_zero(store: Store, flow: CashFlow, fraction: float, log: Logger) -> CashFlow:
    """Book the split's whole shares one share further from zero and its fraction on the
    broker's side (-39.4 as -40 + 0.6 instead of -39 - 0.4): the same split, now in the terms
    of what the broker holds, so the whole shares reconcile and closing the broker's fraction
    is closing the split's. Once: the flow then matches the broker's fraction."""
    shift = round(fraction - flow.shares)  # +1 or -1: whole shares move the other way
    moved = next(a for a in adjustments(store) if a.action_key == flow.action_key)
    price = flow.amount / flow.shares
    rebooked = replace(flow, shares=fraction, amount=fraction * price)
    with store.transaction():
        record_adjustment(store, replace(moved, quantity=moved.quantity - shift, fraction=fraction))
        record_cash_flow(store, rebooked)
    log.info(
        "corporate_action",
        status="fraction_rebooked",
        symbol=flow.symbol,
        split_fraction=flow.shares,
        broker_fraction=fraction,
        note="an order sized before the split filled on the ex-date through zero: the split's "
        "fraction is booked on the broker's side of zero",
    )
    return rebooked


def close_fractions(ctx: DaemonContext, config: SessionRoster, log: Logger) -> None:
    """Close the fraction of a share a reverse split left at a broker that keeps fractions
    (Alpaca since 2021-08; :mod:`daemon.adapters.alpaca.fractions`), so that a flat pair holds none of
    its symbols. A fraction no applied split explains stops the session: it is not ours."""
    remainders = getattr(ctx.broker, "fractional_remainders", None)
    closer = getattr(ctx.broker, "close_fraction", None)
    if remainders is None or closer is None:
        return
    fractions = {s: f for s, f in remainders().items() if s in config.symbols}
    if not fractions:
        return
    lieu = {f.symbol: f for f in cash_flows(ctx.store) if f.kind == "cash_in_lieu"}
    for symbol, fraction in sorted(fractions.items()):
        flow = lieu.get(symbol)
        if flow is not None and _crossed_zero(flow.shares, fraction):
            flow = _rebook_across_zero(ctx.store, flow, fraction, log)
        if flow is None or abs(flow.shares - fraction) > 1e-6:
            raise StateError(
                f"the broker holds {fraction:+.6f} of a {symbol} share that no applied split "
                f"explains. A reverse split of {symbol} the feed has not published? Add it to "
                "data.events_csv (any feed) and rerun. Otherwise close the fraction at the "
                "broker (Alpaca's dashboard: close position, quantity = the fraction) and rerun"
            )
        cid = fraction_order_id(config.config_id, flow.ex_date, symbol)
        status = closer(cid, symbol, fraction)
        log.info(
            "corporate_action",
            status="fraction_closing",
            symbol=symbol,
            fraction=fraction,
            client_order_id=cid,
            order_status=status,
            note="a reverse split left a fraction of a share; a DAY market order closes it",
        )
