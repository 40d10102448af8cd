"""Pair integrity: the pair is the unit at the broker, not the leg.

The daemon decides per pair but the broker executes per leg, and a leg can be refused (buying
power), cancelled before the open (a short that turned hard to borrow), expire unfilled (a
``cls`` order the auction did not fill) or fill in part. So after each session's fills are
recorded, what the broker holds for each pair is compared with what the decisions intended.

*Intended* is what the research fill model (the shadow model, :mod:`daemon.monitoring.shadow`)
holds on the same decisions once this session's fills are in. Where that model itself refuses a
leg for cash, as backtrader does, the backtest holds the same half pair, so nothing is repaired
and parity with the backtest stays exact; on the local paper broker (the same fill model) the
two never differ.

A pair whose legs differ from the intended ones is *unbalanced*: a critical ``pair_unbalanced``
alert names the pair, its legs and both quantities, ``check`` is CRITICAL while it lasts, and
the pair is repaired with this session's orders (``[integrity]`` settings):

- the model is flat in the pair (an exit that did not complete, or shares the model never
  bought): close what the broker holds, every session until the pair is flat;
- otherwise, ``on_unbalanced = "complete"``: send the missing part of each leg, for at most
  ``max_repair_sessions`` sessions; then unwind (close the filled part) and treat the pair as
  flat until the model's pair is flat again (its next exit), so it is not repaired back in;
- ``on_unbalanced = "unwind"``: unwind at once;
- ``on_unbalanced = "alert"``: send nothing (an operator repairs by hand; the alert and
  ``check`` stay CRITICAL until the broker holds the pair as intended).

A decision the daemon held back itself (kill switch, dry run, a risk limit) is no imbalance:
a blocked entry leaves the pair flat on purpose, so the pair counts as unwound (intended flat
until the model's pair is flat again).

A pair whose decision trades this session is judged (and alerted) but not repaired: its orders
already act on what the broker holds (an exit closes each leg's whole position; an entry needs both legs flat), so a
repair and a decision never meet in one symbol and Alpaca's wash-trade rule (opposite sides of
one symbol, 422 42210000) cannot refuse them. Pairs with a leg without a close, or with an
order still open at the broker, are judged at a later session.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from daemon.core.decide import Limits, client_order_id
from daemon.core.ports import Logger
from daemon.core.roster import SessionRoster, slot_key
from daemon.core.statuses import IntentStatus
from daemon.cycle.context import DaemonContext
from daemon.feeds.bars import BarUpdate
from daemon.monitoring.alerts import AlertCode, raise_alert
from daemon.monitoring.shadow import positions_after_fills
from daemon.store import IntentRecord, Store
from daemon.store.generations import roster_at
from shared.handover import Slot
from shared.orders import Leg
from shared.strategy import Action, Decision, Pair

# Repairs are intents of their own: attempt 2 of the (session, pair, leg) client id, so they
# never collide with the decision's attempt 1 nor with the model's orders in attribution.
REPAIR_ATTEMPT = 2
MEMORY_META = "pair_integrity"
Policy = Literal["complete", "unwind", "alert"]


@dataclass(frozen=True, slots=True)
class PairMemory:
    """What integrity remembers of a pair between sessions."""

    tries: int = 0  # sessions a "complete" repair was sent for the current imbalance
    unwound: bool = False  # unwound: intended flat until the model's pair is flat again


@dataclass(frozen=True, slots=True)
class RepairOrder:
    pair_index: int
    leg: Leg
    symbol: str
    signed_quantity: int


@dataclass(frozen=True, slots=True)
class PairCheck:
    pair_index: int
    name: str
    held: tuple[int, int]
    intended: tuple[int, int]
    # balanced | decided | exit_incomplete | complete | unwind | alert
    outcome: str
    repairs: tuple[RepairOrder, ...] = ()
    tries: int = 0

    @property
    def balanced(self) -> bool:
        return self.outcome == "balanced"

    def describe(self, pair: Pair) -> str:
        (ha, hb), (ia, ib) = self.held, self.intended
        what = {
            "exit_incomplete": "the model is flat: closing what the broker holds",
            "complete": f"sending the missing part (repair {self.tries})",
            "unwind": "unwinding the filled part",
            "alert": "nothing sent (integrity.on_unbalanced = alert): repair it at the broker",
            "decided": "this session's decision trades the pair on what the broker holds",
        }[self.outcome]
        return (
            f"pair {self.name} unbalanced: broker holds {pair.asset_1} {ha:+d}, "
            f"{pair.asset_2} {hb:+d}; the decisions intended {pair.asset_1} {ia:+d}, "
            f"{pair.asset_2} {ib:+d}; {what}"
        )


@dataclass(frozen=True, slots=True)
class IntegrityPlan:
    checks: list[PairCheck] = field(default_factory=list)
    memory: dict[int, PairMemory] = field(default_factory=dict)

    @property
    def unbalanced(self) -> list[PairCheck]:
        return [c for c in self.checks if not c.balanced]

    @property
    def repairs(self) -> list[RepairOrder]:
        return [r for c in self.checks for r in c.repairs]


def _orders(k: int, pair: Pair, deltas: tuple[int, int]) -> tuple[RepairOrder, ...]:
    legs = ((Leg.A, pair.asset_1, deltas[0]), (Leg.B, pair.asset_2, deltas[1]))
    return tuple(RepairOrder(k, leg, symbol, q) for leg, symbol, q in legs if q)


def plan_integrity(
    pairs: Sequence[Pair],
    held: Mapping[str, int],
    intended: Mapping[str, int],
    memory: Mapping[int, PairMemory],
    policy: Policy,
    max_repair_sessions: int,
    skip: Collection[int] = (),
    held_back: Collection[int] = (),
    trading: Collection[int] = (),
) -> IntegrityPlan:
    """Compare each pair's legs at the broker (``held``, with queued orders) with the
    ``intended`` ones and plan the repairs (see the module doc). ``skip``: pairs not judged
    this session; ``held_back``: pairs whose entry the daemon blocked this session;
    ``trading``: pairs whose decision sends orders this session (judged, never repaired: the
    decision's orders act on what the broker holds). Pure."""
    checks: list[PairCheck] = []
    new_memory = dict(memory)
    for k, pair in enumerate(pairs):
        if k in held_back:
            new_memory[k] = PairMemory(unwound=True)
            continue
        if k in skip:
            continue
        mem = memory.get(k, PairMemory())
        ia, ib = intended.get(pair.asset_1, 0), intended.get(pair.asset_2, 0)
        if mem.unwound:
            if ia == 0 and ib == 0:
                mem = PairMemory()  # the model's pair is flat again: back to normal
            else:
                ia, ib = 0, 0
        ha, hb = held.get(pair.asset_1, 0), held.get(pair.asset_2, 0)
        name = f"{pair.asset_1}/{pair.asset_2}"

        def check(outcome: str, deltas: tuple[int, int] = (0, 0), tries: int = 0) -> PairCheck:
            repairs = _orders(k, pair, deltas)  # noqa: B023 - used at once, in this iteration
            return PairCheck(k, name, (ha, hb), (ia, ib), outcome, repairs, tries)  # noqa: B023

        if (ha, hb) == (ia, ib):
            new_memory[k] = PairMemory(unwound=mem.unwound)
            checks.append(check("balanced"))
        elif k in trading:
            new_memory[k] = mem
            checks.append(check("decided"))
        elif policy == "alert":
            new_memory[k] = mem
            checks.append(check("alert"))
        elif ia == 0 and ib == 0:
            new_memory[k] = mem
            checks.append(check("exit_incomplete", (-ha, -hb)))
        elif policy == "unwind" or mem.tries >= max_repair_sessions:
            new_memory[k] = PairMemory(unwound=True)
            checks.append(check("unwind", (-ha, -hb)))
        else:
            new_memory[k] = PairMemory(tries=mem.tries + 1)
            checks.append(check("complete", (ia - ha, ib - hb), mem.tries + 1))
    return IntegrityPlan(checks, new_memory)


def load_memory(store: Store, slots: Sequence[Slot]) -> dict[int, PairMemory]:
    """The memory by the index of ``slots`` (it is stored by slot key, so a hand-over or a
    leaving pair that shifts the indices does not move it to another pair; a store from before
    keys were used has indices)."""
    raw = store.get_meta(MEMORY_META)
    if not raw:
        return {}
    index = {slot_key(slot): k for k, slot in enumerate(slots)}
    memory = {}
    for key, value in json.loads(raw).items():
        k = int(key) if key.isdigit() else index.get(key)
        if k is not None:
            memory[k] = PairMemory(**value)
    return memory


def save_memory(store: Store, memory: Mapping[int, PairMemory], slots: Sequence[Slot]) -> None:
    """Call inside the decision transaction: the memory moves with the intents it explains."""
    data = {slot_key(slots[k]): {"tries": m.tries, "unwound": m.unwound} for k, m in memory.items()}
    store.set_meta(MEMORY_META, json.dumps(data, sort_keys=True))


def _open_pairs(store: Store, slots: Sequence[Slot]) -> set[int]:
    """The indices of ``slots`` with orders still open; an order's ``pair_index`` is the index
    in the roster of the session that decided it."""
    index = {slot_key(slot): k for k, slot in enumerate(slots)}
    out = set()
    for intent in store.intents(unfinished=True):
        recorded = roster_at(store, intent.session)
        if recorded is None or intent.pair_index >= len(recorded[1]):
            out.add(intent.pair_index)
        elif (k := index.get(slot_key(recorded[1][intent.pair_index]))) is not None:
            out.add(k)
    return out


# --- the cycle's side: what the decision step calls ------------------------------------


def check_integrity(
    ctx: DaemonContext,
    config: SessionRoster,
    session: date,
    update: BarUpdate,
    held: Mapping[str, int],
    gated: Sequence[tuple[Decision, str | None]],
    go_live: date,
) -> IntegrityPlan:
    """Each pair's legs at the broker against the research fill model's (see
    :mod:`daemon.cycle.pair_integrity`); nothing to judge before go-live."""
    if session < go_live:
        return IntegrityPlan()
    intended = positions_after_fills(ctx.store, config, session, update.real_closes)
    if intended is None:
        return IntegrityPlan()
    open_pairs = _open_pairs(ctx.store, config.slots)
    closes = update.real_closes
    trading = {k for k, (decision, blocked) in enumerate(gated) if decision.orders and not blocked}
    skip = {
        k
        for k, (decision, blocked) in enumerate(gated)
        if (decision.orders and blocked)
        or k in open_pairs
        or math.isnan(closes[config.pair_list[k].asset_1])
        or math.isnan(closes[config.pair_list[k].asset_2])
    }
    held_back = {
        k
        for k, (decision, blocked) in enumerate(gated)
        if blocked and decision.action in (Action.ENTER_LONG, Action.ENTER_SHORT)
    }
    settings = ctx.settings.integrity
    return plan_integrity(
        config.pair_list,
        held,
        intended,
        load_memory(ctx.store, config.slots),
        settings.on_unbalanced,
        settings.max_repair_sessions,
        skip,
        held_back,
        trading,
    )


def repair_intents(
    config: SessionRoster,
    session: date,
    update: BarUpdate,
    integrity: IntegrityPlan,
    limits: Limits,
) -> list[IntentRecord]:
    """The repairs as intents of their own (attempt ``REPAIR_ATTEMPT``). The kill switch and
    dry run hold them back like any order; risk limits do not (a repair restores the hedge
    the decisions already took, or reduces the position)."""
    blocked = f"kill switch: {limits.kill_switch}" if limits.kill_switch else None
    blocked = blocked or ("dry run" if limits.dry_run else None)
    return [
        IntentRecord(
            client_order_id(config.config_id, session, r.pair_index, r.leg.value, REPAIR_ATTEMPT),
            session,
            r.pair_index,
            r.leg.value,
            r.symbol,
            "buy" if r.signed_quantity > 0 else "sell",
            abs(r.signed_quantity),
            update.real_closes[r.symbol],
            attempt=REPAIR_ATTEMPT,
            status=IntentStatus.BLOCKED if blocked else IntentStatus.PENDING,
            message=blocked,
        )
        for r in integrity.repairs
    ]


def alert_unbalanced(
    ctx: DaemonContext, config: SessionRoster, session: date, integrity: IntegrityPlan, log: Logger
) -> None:
    for check in integrity.unbalanced:
        pair = config.pair_list[check.pair_index]
        raise_alert(
            ctx.store,
            log,
            AlertCode.PAIR_UNBALANCED,
            check.describe(pair),
            session=session,
            pair=check.name,
            held={pair.asset_1: check.held[0], pair.asset_2: check.held[1]},
            intended={pair.asset_1: check.intended[0], pair.asset_2: check.intended[1]},
            repair=check.outcome,
            orders={r.symbol: r.signed_quantity for r in check.repairs},
        )
