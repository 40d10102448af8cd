"""The account across configs: the reference backtest of a strategy that is re-researched and
handed over (shared/handover.py), bar by bar through the shared fill model.

One generation is traded from its hand-over bar until the next one's. With one generation it is
:func:`shared.simulation.simulate` with ``trade_from_bar`` = its start (tested). Research's
``walkforward --rescreen`` runs it, and a daemon replay that deploys each fold's config at the
same sessions decides alike (tests/parity).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from shared.fill_model import Book, process_bar
from shared.handover import (
    Handover,
    HandoverRule,
    PlanRow,
    Slot,
    hand_over,
    is_flat,
    prune,
    step_slot,
    waiting,
)
from shared.metrics import Metrics, compute_metrics
from shared.orders import Fill, OrderIntent, Rejection
from shared.schema import DEFAULT_ACCOUNT
from shared.strategy import Decision, PairState


@dataclass(frozen=True, slots=True)
class Generation:
    """A config's pairs (as active slots) and the bars it starts on."""

    start_bar: int  # the hand-over bar: its first decision
    slots: tuple[Slot, ...]
    warm_from_bar: int  # the bar of its first session: its added pairs' filters start here


@dataclass(frozen=True, slots=True)
class LifecycleResult:
    metrics: Metrics
    fills: list[Fill]
    rejections: list[Rejection]
    values: np.ndarray
    # [bar] -> the roster's (slot, decision) in roster order; empty before the first generation
    decisions: list[list[tuple[Slot, Decision]]] = field(repr=False)
    handovers: list[tuple[int, tuple[PlanRow, ...]]] = field(default_factory=list)


def warm_state(
    slot: Slot, closes: np.ndarray, index: dict[str, int], start: int, stop: int
) -> PairState:
    """A new slot's state after observing bars ``start..stop-1`` (no trading)."""
    state = PairState.initial(slot.pair)
    a, b = index[slot.pair.asset_1], index[slot.pair.asset_2]
    for bar in range(start, stop):
        decision = step_slot(
            0, slot, state, float(closes[bar, a]), float(closes[bar, b]), 0, 0, True
        )
        state = decision.state
    return state


def simulate_lifecycle(
    closes: np.ndarray,
    symbols: Sequence[str],
    generations: Sequence[Generation],
    rule: HandoverRule,
    initial_cash: float = DEFAULT_ACCOUNT.initial_cash,
    commission: float = DEFAULT_ACCOUNT.commission,
) -> LifecycleResult:
    """Run every generation over ``closes`` (bars × symbols, no NaN), handing over at each
    generation's start bar after that bar's fills (``rule`` for dropped pairs that hold)."""
    closes = np.asarray(closes, dtype=np.float64)
    index = {s: i for i, s in enumerate(symbols)}
    starts = [g.start_bar for g in generations]
    if starts != sorted(set(starts)):
        raise ValueError(f"generations must start on increasing bars, got {starts}")
    by_start = {g.start_bar: g for g in generations}
    book = Book(cash=float(initial_cash), positions={s: 0 for s in symbols})
    roster: tuple[Slot, ...] = ()
    states: list[PairState] = []
    pending: list[OrderIntent] = []
    fills: list[Fill] = []
    rejections: list[Rejection] = []
    values = np.empty(closes.shape[0])
    decisions: list[list[tuple[Slot, Decision]]] = []
    handovers: list[tuple[int, tuple[PlanRow, ...]]] = []
    for bar in range(closes.shape[0]):
        prices = {s: float(closes[bar, i]) for s, i in index.items()}
        book, bar_fills, bar_rejections = process_bar(book, pending, prices, bar, commission)
        fills += bar_fills
        rejections += bar_rejections
        pending = []
        generation = by_start.get(bar)
        if generation is not None:
            handover = _hand_over(roster, states, book, generation, rule)
            states = [
                states[old]
                if old is not None
                else warm_state(slot, closes, index, generation.warm_from_bar, bar)
                for slot, old in zip(handover.roster, handover.carried_from, strict=True)
            ]
            roster = handover.roster
            handovers.append((bar, handover.plan))
        stay = prune(roster, states, book.positions)
        roster, states = tuple(roster[k] for k in stay), [states[k] for k in stay]
        observing = waiting(roster)
        bar_decisions = []
        for k, slot in enumerate(roster):
            decision = step_slot(
                k,
                slot,
                states[k],
                prices[slot.pair.asset_1],
                prices[slot.pair.asset_2],
                book.position(slot.pair.asset_1),
                book.position(slot.pair.asset_2),
                k in observing,
            )
            states[k] = decision.state
            pending.extend(decision.orders)
            bar_decisions.append((slot, decision))
        decisions.append(bar_decisions)
        values[bar] = book.value(prices)
    metrics = compute_metrics(values, initial_cash, fills)
    return LifecycleResult(metrics, fills, rejections, values, decisions, handovers)


def _hand_over(
    roster: Sequence[Slot],
    states: Sequence[PairState],
    book: Book,
    generation: Generation,
    rule: HandoverRule,
) -> Handover:
    held = {
        id(slot) for k, slot in enumerate(roster) if not is_flat(states[k], book.positions, slot)
    }
    return hand_over(roster, generation.slots, lambda slot: id(slot) in held, rule)
