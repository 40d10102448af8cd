"""The store's pair-health table (schema migration 6): each pair's health at each session,
written with the session's decisions. Functions over a :class:`daemon.store.Store`; call the
writer inside its ``transaction()``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from daemon.core.roster import slot_key
from daemon.store.generations import roster_at
from shared.health import PairHealth

if TYPE_CHECKING:
    from daemon.store import Store

PAIR_HEALTH_TABLE = """CREATE TABLE pair_health (
    session TEXT NOT NULL,
    pair_index INTEGER NOT NULL,
    pair TEXT NOT NULL,
    degraded INTEGER NOT NULL,
    health TEXT NOT NULL,
    PRIMARY KEY (session, pair_index))"""


def save_health(
    store: Store, session: date, pairs: Sequence[str], health: Sequence[PairHealth]
) -> None:
    """One row per pair, in config order (the pairs' names and their health)."""
    for k, (pair, h) in enumerate(zip(pairs, health, strict=True)):
        store.sql(
            "INSERT OR REPLACE INTO pair_health (session, pair_index, pair, degraded, health) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                session.isoformat(),
                k,
                pair,
                int(h.degraded),
                json.dumps(h.as_dict(), sort_keys=True),
            ),
        )


def health_at(store: Store, session: date | None = None) -> dict[int, PairHealth]:
    """Each pair's health at ``session`` (default: the last session with any), by pair index;
    empty for a store from before pair health."""
    if not store.has_table("pair_health"):
        return {}
    if session is None:
        last = store.sql("SELECT MAX(session) FROM pair_health")
        if not last or last[0][0] is None:
            return {}
        session = date.fromisoformat(last[0][0])
    rows = store.sql(
        "SELECT pair_index, health FROM pair_health WHERE session = ? ORDER BY pair_index",
        (session.isoformat(),),
    )
    return {int(k): PairHealth.from_dict(json.loads(text)) for k, text in rows}


def days_in_trade(
    store: Store, pair_index: int, session: date, state: int, key: str | None = None
) -> int | None:
    """Sessions since the entry decision of the trade the pair is in after ``session``'s
    decision (``state`` its signal state then; None when flat): the stored decisions before
    ``session`` since its last flat one, each a session in the trade. ``key``: the pair's slot
    key (daemon/core/roster.py), which finds it in each earlier session's roster where a
    hand-over moved its index; without a stored roster a session is read by ``pair_index``."""
    if state == 0:
        return None
    sessions = store.sql(
        "SELECT DISTINCT session FROM decisions WHERE session < ? ORDER BY session DESC",
        (session.isoformat(),),
    )
    count = 0
    for (day,) in sessions:
        k: int | None = pair_index
        recorded = roster_at(store, date.fromisoformat(day)) if key is not None else None
        if recorded is not None:
            k = next((i for i, slot in enumerate(recorded[1]) if slot_key(slot) == key), None)
        if k is None:  # the pair was not in the roster yet: its trade started after
            break
        rows = store.sql(
            "SELECT state FROM decisions WHERE session = ? AND pair_index = ?", (day, k)
        )
        if not rows or rows[0][0] == 0:
            break
        count += 1
    return count
