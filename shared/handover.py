"""Handing an account over from one config to the next: the plan and the roster (pure).

A config is traded for a while, research produces a new one, and the account moves to it at a
session boundary without being flattened by hand. What the account trades at any session is a
*roster*: an ordered tuple of :class:`Slot` (a pair with its own parameters, the config it came
from, the session its filter warms up from), some active, some leaving.

The hand-over to a new config (:func:`plan_handover`, :func:`hand_over`), per pair:

- ``keep``: same legs, same hedge ratio, same parameters. The slot continues with its filter,
  signal state and position.
- ``drop``: not in the new config. A flat pair leaves the roster at once. One that holds a
  position follows the hand-over rule: ``drain`` (no new entries, it exits by its old rules and
  leaves when flat) or ``close`` (the hand-over session's decision closes both legs; it leaves
  when flat).
- ``add``: a new pair. It starts flat, its filter warmed on the new config's closes from the
  new config's first session, and trades from the hand-over session.
- ``change``: same legs, different hedge ratio or parameters: a drop and an add.

The same rules run every session (:func:`step_roster`), in the daemon and in research's
lifecycle simulation (:mod:`shared.lifecycle`), which is what lets them decide alike:

1. after the session's fills, a leaving slot that is flat (signal state 0, both legs 0) leaves;
2. an active slot that shares a ticker with a leaving slot only observes (its filter and
   z-window move, it never enters) until that slot has left: positions are per symbol, so two
   slots on one ticker would read each other's shares as their own;
3. a leaving slot steps by its own parameters but never enters; a ``close`` slot that still
   holds shares sends orders that close them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Literal

from shared.strategy import (
    ENTRIES,
    Action,
    Decision,
    Pair,
    PairState,
    StrategyParams,
    close_orders,
    observe_pair,
    step_pair,
)

HandoverRule = Literal["drain", "close"]
HANDOVER_RULES: tuple[HandoverRule, ...] = ("drain", "close")


@dataclass(frozen=True, slots=True)
class Slot:
    """One pair the account trades, with the parameters it trades by."""

    pair: Pair
    params: StrategyParams
    config_id: str  # the config the slot came from
    warm_from: date  # its filter starts on this session (its config's first session)
    half_life: float | None = None  # the formation half-life (pair health)
    leaving: HandoverRule | None = None  # None while active; how it leaves once dropped
    # The session it joined an account already trading (a hand-over): it only observes before
    # it (a state rebuilt from the stored closes warms it up to there). None: from go-live.
    trading_from: date | None = None

    @property
    def name(self) -> str:
        return f"{self.pair.asset_1}/{self.pair.asset_2}"

    @property
    def symbols(self) -> tuple[str, str]:
        return (self.pair.asset_1, self.pair.asset_2)

    def same_strategy(self, other: Slot) -> bool:
        """Same legs, hedge ratio and parameters: a ``keep``."""
        return self.pair == other.pair and self.params == other.params

    def to_json(self) -> dict[str, object]:
        return {
            "asset_1": self.pair.asset_1,
            "asset_2": self.pair.asset_2,
            "hedge_ratio": self.pair.hedge_ratio,
            "params": {name: getattr(self.params, name) for name in _PARAM_FIELDS},
            "config_id": self.config_id,
            "warm_from": self.warm_from.isoformat(),
            "half_life": self.half_life,
            "leaving": self.leaving,
            "trading_from": None if self.trading_from is None else self.trading_from.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Slot:
        params = data["params"]
        assert isinstance(params, dict)
        leaving = data.get("leaving")
        if leaving not in (None, *HANDOVER_RULES):
            raise ValueError(f"unknown leaving rule {leaving!r}")
        half_life = data.get("half_life")
        trading_from = data.get("trading_from")
        return cls(
            pair=Pair(str(data["asset_1"]), str(data["asset_2"]), float(str(data["hedge_ratio"]))),
            params=StrategyParams(**params),
            config_id=str(data["config_id"]),
            warm_from=date.fromisoformat(str(data["warm_from"])),
            half_life=None if half_life is None else float(str(half_life)),
            leaving=leaving,
            trading_from=None if trading_from is None else date.fromisoformat(str(trading_from)),
        )


_PARAM_FIELDS = StrategyParams.__dataclass_fields__.keys()


class PlanAction(StrEnum):
    KEEP = "keep"
    DROP = "drop"
    ADD = "add"
    CHANGE = "change"


@dataclass(frozen=True, slots=True)
class PlanRow:
    """What the hand-over does to one pair. ``old``/``new``: its index in the current roster
    and in the new config (None where it has none); ``detail``: what changed, or how a dropped
    pair with a position leaves."""

    action: PlanAction
    pair: str
    old: int | None
    new: int | None
    detail: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "action": self.action.value,
            "pair": self.pair,
            "old": self.old,
            "new": self.new,
            "detail": self.detail,
        }


def _differences(old: Slot, new: Slot) -> str:
    parts = []
    if old.pair.hedge_ratio != new.pair.hedge_ratio:
        parts.append(f"hedge_ratio {old.pair.hedge_ratio:g} -> {new.pair.hedge_ratio:g}")
    for name in _PARAM_FIELDS:
        before, after = getattr(old.params, name), getattr(new.params, name)
        if before != after:
            parts.append(f"{name} {before} -> {after}")
    return ", ".join(parts)


def plan_handover(
    current: Sequence[Slot],
    incoming: Sequence[Slot],
    holds: Callable[[Slot], bool],
    rule: HandoverRule,
) -> tuple[PlanRow, ...]:
    """One row per pair of the current roster's active slots and of the new config (in the new
    config's order, then the dropped ones). ``holds(slot)``: whether the slot has a position or
    an open signal now. Slots already leaving are not planned again: they keep leaving."""
    active = [(k, s) for k, s in enumerate(current) if s.leaving is None]
    by_legs = {s.symbols: (k, s) for k, s in active}
    rows: list[PlanRow] = []
    matched: set[int] = set()
    for n, slot in enumerate(incoming):
        old = by_legs.get(slot.symbols)
        if old is None:
            rows.append(PlanRow(PlanAction.ADD, slot.name, None, n))
            continue
        k, current_slot = old
        matched.add(k)
        if current_slot.same_strategy(slot):
            rows.append(PlanRow(PlanAction.KEEP, slot.name, k, n))
        else:
            detail = _differences(current_slot, slot)
            if holds(current_slot):
                detail += f"; the old one holds a position: {_leaving(rule)}"
            rows.append(PlanRow(PlanAction.CHANGE, slot.name, k, n, detail))
    for k, slot in active:
        if k not in matched:
            detail = f"holds a position: {_leaving(rule)}" if holds(slot) else "flat: leaves now"
            rows.append(PlanRow(PlanAction.DROP, slot.name, k, None, detail))
    return tuple(rows)


def _leaving(rule: HandoverRule) -> str:
    if rule == "drain":
        return "drains (no new entries, exits by its old rules, leaves when flat)"
    return "closes with the hand-over session's orders, leaves when flat"


@dataclass(frozen=True, slots=True)
class Handover:
    """The roster after a hand-over and, for each of its slots, the index of the current
    roster's slot it continues (its state and position carry over), or None for a new slot."""

    roster: tuple[Slot, ...]
    carried_from: tuple[int | None, ...]
    plan: tuple[PlanRow, ...]


def hand_over(
    current: Sequence[Slot],
    incoming: Sequence[Slot],
    holds: Callable[[Slot], bool],
    rule: HandoverRule,
) -> Handover:
    """The new roster: the new config's pairs in its order (kept ones carried), then the slots
    that leave (those already leaving, then the newly dropped ones that hold a position)."""
    plan = plan_handover(current, incoming, holds, rule)
    roster: list[Slot] = []
    carried: list[int | None] = []
    for row in plan:
        if row.new is None:
            continue
        if row.action is PlanAction.KEEP:
            assert row.old is not None
            roster.append(current[row.old])  # its own warm_from and config: it continues
            carried.append(row.old)
        else:
            roster.append(incoming[row.new])
            carried.append(None)
    leaving = [k for k, s in enumerate(current) if s.leaving is not None]
    leaving += [
        row.old
        for row in plan
        if row.old is not None
        and row.action in (PlanAction.DROP, PlanAction.CHANGE)
        and holds(current[row.old])
    ]
    for k in leaving:
        slot = current[k]
        roster.append(slot if slot.leaving else replace(slot, leaving=rule))
        carried.append(k)
    return Handover(tuple(roster), tuple(carried), plan)


def is_flat(state: PairState, positions: Mapping[str, int], slot: Slot) -> bool:
    return state.state == 0 and all(positions.get(s, 0) == 0 for s in slot.symbols)


def prune(
    roster: Sequence[Slot], states: Sequence[PairState], positions: Mapping[str, int]
) -> list[int]:
    """Indices of the slots that stay this session: rule 1 (a flat leaving slot leaves)."""
    return [
        k
        for k, slot in enumerate(roster)
        if slot.leaving is None or not is_flat(states[k], positions, slot)
    ]


def waiting(roster: Sequence[Slot]) -> set[int]:
    """Rule 2: active slots that share a ticker with a leaving slot (they only observe)."""
    taken = {s for slot in roster if slot.leaving for s in slot.symbols}
    return {
        k
        for k, slot in enumerate(roster)
        if slot.leaving is None and taken.intersection(slot.symbols)
    }


def step_slot(
    k: int,
    slot: Slot,
    state: PairState,
    price_a: float,
    price_b: float,
    pos_a: int,
    pos_b: int,
    observe: bool,
) -> Decision:
    """One bar of one slot (rules 2 and 3; ``observe``: a warm-up bar or a waiting slot)."""
    if observe:
        return observe_pair(k, slot.pair, state, price_a, price_b, slot.params)
    decision = step_pair(k, slot.pair, state, price_a, price_b, pos_a, pos_b, slot.params)
    if slot.leaving is None:
        return decision
    if slot.leaving == "close" and (pos_a or pos_b):
        orders = close_orders(k, slot.pair, pos_a, pos_b, price_a, price_b)
        flat = replace(decision.state, state=0)
        return replace(decision, state=flat, orders=orders, action=Action.CLOSE_DROPPED)
    if decision.action in ENTRIES:  # a draining slot never enters
        kept = replace(decision.state, state=state.state)
        return replace(decision, state=kept, orders=(), action=Action.HOLD)
    return decision


def roster_of(
    pairs: Sequence[Pair],
    params: StrategyParams,
    config_id: str,
    warm_from: date,
    half_lives: Sequence[float | None] | None = None,
) -> tuple[Slot, ...]:
    """A config's pairs as active slots."""
    lives = list(half_lives) if half_lives is not None else [None] * len(pairs)
    return tuple(
        Slot(pair, params, config_id, warm_from, life)
        for pair, life in zip(pairs, lives, strict=True)
    )
