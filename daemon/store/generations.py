"""Config generations (schema migration 7): the configs a state directory has traded, in order.

``generations``: one row per deployment, with the config as deployed (the state directory owns
it: a later edit of the file changes nothing), its gates, whether it was forced, the hand-over
rule, and once applied the session it took over on and its plan. A generation without a
``from_session`` is pending: the next session applies it. ``rosters``: the slots each session
traded, in the order of its decisions' ``pair_index``.

Functions over a :class:`daemon.store.Store`; call the writers inside its ``transaction()``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from shared.config import ProdConfig, dump_config, parse_config
from shared.handover import Slot

if TYPE_CHECKING:
    from daemon.store import Store

GENERATION_TABLES = (
    """CREATE TABLE generations (
        generation INTEGER PRIMARY KEY,
        config_id TEXT NOT NULL,
        config TEXT NOT NULL,
        source TEXT NOT NULL,
        deployed_at TEXT NOT NULL,
        rule TEXT NOT NULL CHECK (rule IN ('drain', 'close')),
        forced INTEGER NOT NULL DEFAULT 0,
        gates TEXT NOT NULL DEFAULT '[]',
        rollback_of INTEGER,
        from_session TEXT,
        plan TEXT,
        request_id TEXT UNIQUE)""",
    """CREATE TABLE rosters (
        session TEXT PRIMARY KEY,
        generation INTEGER NOT NULL REFERENCES generations (generation),
        slots TEXT NOT NULL)""",
)


@dataclass(frozen=True, slots=True)
class Generation:
    generation: int
    config: ProdConfig
    source: str
    deployed_at: str
    rule: str
    forced: bool
    gates: list[dict[str, Any]]
    rollback_of: int | None
    from_session: date | None  # None: pending
    plan: list[dict[str, Any]] | None

    @property
    def config_id(self) -> str:
        return self.config.config_id

    @property
    def pending(self) -> bool:
        return self.from_session is None


_COLUMNS = (
    "generation, config, source, deployed_at, rule, forced, gates, rollback_of, from_session, plan"
)


def _generation(row: tuple[Any, ...]) -> Generation:
    number, config, source, deployed_at, rule, forced, gates, rollback_of, start, plan = row
    return Generation(
        generation=int(number),
        config=parse_config(config, source=f"generation {number} in the state store"),
        source=source,
        deployed_at=deployed_at,
        rule=rule,
        forced=bool(forced),
        gates=json.loads(gates),
        rollback_of=rollback_of,
        from_session=None if start is None else date.fromisoformat(start),
        plan=None if plan is None else json.loads(plan),
    )


def generations(store: Store) -> list[Generation]:
    rows = store.sql(f"SELECT {_COLUMNS} FROM generations ORDER BY generation")
    return [_generation(tuple(r)) for r in rows]


def add_generation(
    store: Store,
    config: ProdConfig,
    *,
    source: str,
    deployed_at: str,
    rule: str,
    forced: bool = False,
    gates: list[dict[str, Any]] | None = None,
    rollback_of: int | None = None,
    from_session: date | None = None,
    request_id: str | None = None,
) -> int:
    """Record a deployment (pending unless ``from_session``); returns its number."""
    number = 1 + max((g.generation for g in generations(store)), default=0)
    store.sql(
        f"INSERT INTO generations ({_COLUMNS}, config_id, request_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            number,
            dump_config(config),
            source,
            deployed_at,
            rule,
            int(forced),
            json.dumps(gates or []),
            rollback_of,
            None if from_session is None else from_session.isoformat(),
            None,
            config.config_id,
            request_id,
        ),
    )
    return number


def has_request(store: Store, request_id: str) -> bool:
    return bool(store.sql("SELECT 1 FROM generations WHERE request_id = ?", (request_id,)))


def withdraw_pending(store: Store) -> list[int]:
    """Remove deployments not applied yet (a newer deploy replaces them); their numbers."""
    pending = [g.generation for g in generations(store) if g.pending]
    store.sql("DELETE FROM generations WHERE from_session IS NULL")
    return pending


def mark_applied(store: Store, generation: int, session: date, plan: list[dict[str, Any]]) -> None:
    store.sql(
        "UPDATE generations SET from_session = ?, plan = ? WHERE generation = ?",
        (session.isoformat(), json.dumps(plan), generation),
    )


def save_roster(store: Store, session: date, generation: int, slots: tuple[Slot, ...]) -> None:
    store.sql(
        "INSERT OR REPLACE INTO rosters (session, generation, slots) VALUES (?, ?, ?)",
        (session.isoformat(), generation, json.dumps([s.to_json() for s in slots])),
    )


def roster_at(store: Store, session: date) -> tuple[int, tuple[Slot, ...]] | None:
    """The generation and slots ``session`` traded, or None (not recorded)."""
    rows = store.sql(
        "SELECT generation, slots FROM rosters WHERE session = ?", (session.isoformat(),)
    )
    if not rows:
        return None
    generation, slots = rows[0]
    return int(generation), tuple(Slot.from_json(s) for s in json.loads(slots))


def symbols_traded(store: Store) -> dict[date, set[str]]:
    """Each session with a stored roster, and the symbols it traded."""
    rows = store.sql("SELECT session, slots FROM rosters")
    return {
        date.fromisoformat(session): {
            symbol for slot in json.loads(slots) for symbol in Slot.from_json(slot).symbols
        }
        for session, slots in rows
    }


def current_config(store: Store, config: ProdConfig) -> ProdConfig:
    """The config the account trades now: the latest applied generation's, else ``config``."""
    applied = [g for g in generations(store) if not g.pending]
    return applied[-1].config if applied else config


def handover_sessions(store: Store) -> list[tuple[date, int]]:
    """Each applied generation after the first: (the session it took over on, its number)."""
    return [
        (g.from_session, g.generation) for g in generations(store)[1:] if g.from_session is not None
    ]
