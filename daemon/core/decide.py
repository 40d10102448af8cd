"""The strategy side of a session: restore or rebuild per-pair state, step the pairs, gate orders.

Blocked decisions (kill switch, dry run, a risk limit, the entry of a degraded pair under
``[health] on_degraded = "no_new_entries"``) send nothing, so they must not leave the
pair believing it traded: the Kalman filter and the spread window still advance, but the pair's
signal state is put back to what it was before the bar. A blocked entry leaves the pair flat and
free to enter on a later bar; a blocked exit leaves it in its trade, so the next bar tries to exit
again. Either way the signal state stays consistent with the positions actually held. A decision
is blocked as a whole (both legs), never half a pair. Orders that only reduce a position are
never blocked by the risk limits (they reduce risk); the kill switch and dry run block everything.

A pair with a missing leg (a NaN close: no bar for the session) holds: see
:func:`hold_missing_leg`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import pandas as pd

from shared.fill_model import split_closing_opening
from shared.handover import Slot, step_slot
from shared.strategy import (
    ENTRIES,
    Action,
    Decision,
    Pair,
    PairState,
    close_orders,
)

CLIENT_ID_PREFIX = "kp"


def client_order_id(config_id: str, session: date, pair_index: int, leg: str, attempt: int) -> str:
    """Deterministic: the same intent always gets the same id, so it can never be sent twice."""
    return f"{CLIENT_ID_PREFIX}-{config_id}-{session:%Y%m%d}-p{pair_index}-{leg}-{attempt}"


@dataclass(frozen=True, slots=True)
class Limits:
    kill_switch: str | None = None  # why trading is halted, or None
    dry_run: bool = False
    max_order_notional: float | None = None
    max_gross_exposure: float | None = None
    # Pair index -> why its entries are blocked (a degraded pair under [health] on_degraded =
    # "no_new_entries"); exits and other orders still go through.
    no_entry: Mapping[int, str] = field(default_factory=dict)


def step_all(
    slots: Sequence[Slot],
    states: Sequence[PairState],
    closes: Mapping[str, float],
    positions: Mapping[str, int],
    observe: bool | Collection[int],
    split_symbols: Collection[str] = frozenset(),
    real_per_stored: Mapping[str, float] | None = None,
) -> list[Decision]:
    """One bar for every slot, in roster order, reading the actual positions.
    ``observe``: every slot (a warm-up bar) or the indices of the slots that only observe (a
    slot before it joins, one waiting for a leaving slot's ticker: shared/handover.py).
    ``split_symbols``: symbols a split was applied to (see :func:`close_split_residual`).
    ``real_per_stored``: real shares per stored-scale share of each symbol a split moved
    (see :func:`size_entry_in_real_shares`); none for a broker that trades the stored scale."""
    out = []
    for k, slot in enumerate(slots):
        pair = slot.pair
        pa, pb = closes[pair.asset_1], closes[pair.asset_2]
        if math.isnan(pa) or math.isnan(pb):
            out.append(hold_missing_leg(states[k]))
            continue
        observing = observe if isinstance(observe, bool) else k in observe
        pos_a, pos_b = positions.get(pair.asset_1, 0), positions.get(pair.asset_2, 0)
        decision = step_slot(k, slot, states[k], pa, pb, pos_a, pos_b, observing)
        if not observing:
            if {pair.asset_1, pair.asset_2} & set(split_symbols):
                decision = close_split_residual(k, pair, decision, pos_a, pos_b, pa, pb)
            if real_per_stored:
                decision = size_entry_in_real_shares(decision, real_per_stored)
        out.append(decision)
    return out


def size_entry_in_real_shares(decision: Decision, real_per_stored: Mapping[str, float]) -> Decision:
    """An entry's shares, from the stored scale to the broker's real shares.

    The strategy runs on the stored scale (the bars as first consumed), so after a split of a
    leg its entry sizes (``int(beta*stake)`` and ``stake``) are stored-scale shares: one of
    them is ``ratio`` real shares (a 10:1 split makes 10 of one), and the stored-scale close is
    ``ratio`` real closes. Sending ``quantity * ratio`` real shares keeps the dollar exposure and
    the hedge of the backtest on the stored (adjusted) scale, truncated toward zero like the
    seed's ``int()`` (a leg that truncates to 0 is not sent, as a size-0 order is not). Exits
    close the whole real position and need no scaling; without a split nothing changes."""
    if decision.action not in (Action.ENTER_LONG, Action.ENTER_SHORT):
        return decision
    orders = []
    for order in decision.orders:
        ratio = real_per_stored.get(order.symbol, 1.0)
        # The epsilon absorbs binary noise (0.2 * 35 = 7.000000000000001, never 6.99...).
        quantity = order.quantity if ratio == 1.0 else int(order.quantity * ratio + 1e-9)
        if quantity:
            orders.append(replace(order, quantity=quantity))
    return replace(decision, orders=tuple(orders))


def close_split_residual(
    pair_index: int,
    pair: Pair,
    decision: Decision,
    pos_a: int,
    pos_b: int,
    price_a: float,
    price_b: float,
) -> Decision:
    """A flat pair (signal state 0, nothing ordered) that still holds shares of a leg a split
    was applied to closes them. It happens when an order sized on the pre-split share count
    fills on the ex-date (Alpaca adjusts no queued order): the exit leaves ``held * (ratio -
    1)`` behind, and a flat pair would otherwise never enter again (entries need flat legs).
    A backtest on adjusted closes never gets here, so parity is untouched."""
    if decision.state.state != 0 or decision.orders or (pos_a == 0 and pos_b == 0):
        return decision
    orders = close_orders(pair_index, pair, pos_a, pos_b, price_a, price_b)
    return replace(decision, orders=orders, action=Action.CLOSE_RESIDUAL)


def hold_missing_leg(state: PairState) -> Decision:
    """A pair with a leg that has no bar this session: no order (no entry, no half-exit) and
    the state does not step, so the session is skipped for this pair. It resumes on the next
    bar both legs have, exactly as a backtest on the pair's own closes (the research step's
    per-pair dropna + intersection of dates) would go from the bar before the gap to the bar
    after it. The spread is the last one seen (0.0 before any), z is None."""
    spread = state.spreads[-1] if state.spreads else 0.0
    return Decision(state, (), Action.HOLD, state.kalman.beta, spread, None)


def held_symbols(pairs: Sequence[Pair], no_close: Collection[str]) -> set[str]:
    """Both legs of every pair with a leg in ``no_close`` (symbols without a close this
    session). Their orders of earlier sessions wait for the pair's next bar on the local paper
    broker and in the shadow model, as research fills them on the pair's own closes."""
    return {
        s
        for p in pairs
        if p.asset_1 in no_close or p.asset_2 in no_close
        for s in (p.asset_1, p.asset_2)
    }


def rebuild_states(
    slots: Sequence[Slot],
    history: pd.DataFrame,
    go_live: date,
    positions_at: Callable[[date], Mapping[str, int]],
) -> list[PairState]:
    """Replay ``history`` (sessions before today, stored scale) from the initial state
    (residual closes after a split send orders but change no state: no split symbols here).

    Each slot starts on its own first session (``warm_from``). Sessions before ``go_live`` (or
    before the slot joined the account: ``trading_from``) only warm up; later ones step with
    the positions the store's fills imply after that session, so a lost state is rebuilt to
    what the runs decided.
    """
    states = [PairState.initial(s.pair) for s in slots]
    positions_cache: dict[date, Mapping[str, int]] = {}
    for session, row in history.iterrows():
        d = session if isinstance(session, date) else pd.Timestamp(str(session)).date()
        closes = {str(s): float(v) for s, v in row.items()}
        started = [k for k, slot in enumerate(slots) if slot.warm_from <= d]
        if not started:
            continue
        observing = {k for k in started if d < max(go_live, slots[k].trading_from or go_live)}
        if len(observing) < len(started) and d not in positions_cache:
            positions_cache[d] = positions_at(d)
        positions = positions_cache.get(d, {})
        part = [slots[k] for k in started]
        decisions = step_all(
            part,
            [states[k] for k in started],
            closes,
            positions,
            {i for i, k in enumerate(started) if k in observing},
        )
        for k, decision in zip(started, decisions, strict=True):
            states[k] = decision.state
    return states


def _gross(positions: Mapping[str, int], prices: Mapping[str, float]) -> float:
    return sum(abs(q) * prices[s] for s, q in positions.items() if q)


def block_reason(
    decision: Decision,
    positions: dict[str, int],
    prices: Mapping[str, float],
    limits: Limits,
) -> str | None:
    """Why this decision's orders must not be sent, or None. ``positions`` is the running
    projection (updated by the caller for decisions that go through)."""
    if not decision.orders:
        return None
    if limits.kill_switch:
        return f"kill switch: {limits.kill_switch}"
    if limits.dry_run:
        return "dry run"
    if decision.action in ENTRIES and decision.orders[0].pair_index in limits.no_entry:
        return limits.no_entry[decision.orders[0].pair_index]
    projected = dict(positions)
    grows = False
    for order in decision.orders:
        held = projected.get(order.symbol, 0)
        _, opened = split_closing_opening(held, order.signed_quantity)
        notional = abs(opened) * prices[order.symbol]
        if opened:
            grows = True
        if limits.max_order_notional is not None and notional > limits.max_order_notional:
            return (
                f"risk: {order.symbol} order notional {notional:.2f} exceeds "
                f"max_order_notional {limits.max_order_notional:.2f}"
            )
        projected[order.symbol] = held + order.signed_quantity
    gross = _gross(projected, prices)
    if grows and limits.max_gross_exposure is not None and gross > limits.max_gross_exposure:
        return (
            f"risk: gross exposure would be {gross:.2f}, above max_gross_exposure "
            f"{limits.max_gross_exposure:.2f}"
        )
    return None


def gate(
    decisions: Sequence[Decision],
    previous: Sequence[PairState],
    positions: Mapping[str, int],
    prices: Mapping[str, float],
    limits: Limits,
) -> list[tuple[Decision, str | None]]:
    """Apply the limits in pair order. A blocked decision keeps its orders (they are recorded
    as blocked intents, never sent) and its previous signal state."""
    projected = dict(positions)
    out: list[tuple[Decision, str | None]] = []
    for decision, before in zip(decisions, previous, strict=True):
        reason = block_reason(decision, projected, prices, limits)
        if reason is None:
            for order in decision.orders:
                projected[order.symbol] = projected.get(order.symbol, 0) + order.signed_quantity
            out.append((decision, None))
        else:
            kept = replace(decision.state, state=before.state)
            out.append((replace(decision, state=kept), reason))
    return out
