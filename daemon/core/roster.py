"""What the account trades at one session: the slots of the config generation in force, with
the pairs an earlier generation left behind until they are flat (shared/handover.py).

A :class:`SessionRoster` stands where a single config stood before configs could be handed
over: the cycle's steps read its pairs, symbols, cash and commission as they read a config's,
and each slot's own parameters where a config's would do for all (a pair that drains trades
by the parameters of the config it came from).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shared.config import PairConfig, ProdConfig
from shared.handover import Handover, Slot, roster_of
from shared.strategy import Pair, PairState


def config_slots(config: ProdConfig, trading_from: date | None = None) -> tuple[Slot, ...]:
    """A config's pairs as active slots (warmed from its first session)."""
    slots = roster_of(
        config.pair_list,
        config.params,
        config.config_id,
        config.data.first_session,
        [p.half_life for p in config.pairs],
    )
    if trading_from is None:
        return slots
    return tuple(
        Slot(s.pair, s.params, s.config_id, s.warm_from, s.half_life, trading_from=trading_from)
        for s in slots
    )


@dataclass(frozen=True, slots=True)
class SessionRoster:
    generation: int
    config: ProdConfig  # the generation's config: cash, commission, client order ids
    slots: tuple[Slot, ...]
    # Set on the session the generation takes over: the plan and where each slot came from.
    handover: Handover | None = None

    @classmethod
    def of_config(cls, config: ProdConfig, generation: int = 1) -> SessionRoster:
        return cls(generation, config, config_slots(config))

    @property
    def config_id(self) -> str:
        return self.config.config_id

    @property
    def initial_cash(self) -> float:
        return self.config.initial_cash

    @property
    def commission(self) -> float:
        return self.config.commission

    @property
    def first_session(self) -> date:
        """The earliest session a slot's filter starts on: bars are kept from here."""
        return min((s.warm_from for s in self.slots), default=self.config.data.first_session)

    @property
    def pair_list(self) -> list[Pair]:
        return [s.pair for s in self.slots]

    @property
    def pairs(self) -> tuple[PairConfig, ...]:
        return tuple(
            PairConfig(
                asset_1=s.pair.asset_1,
                asset_2=s.pair.asset_2,
                hedge_ratio=s.pair.hedge_ratio,
                half_life=s.half_life,
            )
            for s in self.slots
        )

    @property
    def symbols(self) -> list[str]:
        """Every leg of every slot, sorted (the seed's order for one config)."""
        return sorted({symbol for s in self.slots for symbol in s.symbols})


def slot_key(slot: Slot) -> str:
    """A slot's name across sessions and hand-overs: its config and legs (a config trades one
    pair per pair of legs, and a kept slot keeps its config)."""
    return f"{slot.config_id}:{slot.name}"


def _identity(slot: Slot) -> tuple[object, ...]:
    """What makes a slot the same one across sessions (it may start leaving meanwhile)."""
    return (slot.pair, slot.params, slot.config_id, slot.warm_from)


def carry_states(
    before: tuple[Slot, ...], states: list[PairState], after: tuple[Slot, ...]
) -> list[PairState | None]:
    """Each slot of ``after`` with its state in ``before`` (None: a slot that is new)."""
    by_identity = {_identity(s): state for s, state in zip(before, states, strict=True)}
    return [by_identity.get(_identity(s)) for s in after]
