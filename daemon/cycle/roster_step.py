"""Which config generation a session trades, and the hand-over to a deployed one.

The state directory belongs to its generations (daemon/store/generations.py), not to one
config: the first run records the settings' config as generation 1; ``pairs-daemon deploy``
records a pending one; the first session run after it applies it (shared/handover.py) in the
decision step, after that session's fills, so a pair's position is known when the plan says
whether it holds one. Every session's slots are stored with its decisions (``rosters``), so a
restart continues with the same roster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd

from daemon.core.decide import CLIENT_ID_PREFIX, rebuild_states
from daemon.core.ports import Logger
from daemon.core.roster import SessionRoster, config_slots
from daemon.store import Store
from daemon.store.deploy_request import REQUEST_NAME, read_request, remove_request
from daemon.store.generations import (
    Generation,
    add_generation,
    generations,
    has_request,
    mark_applied,
    roster_at,
    save_roster,
    symbols_traded,
    withdraw_pending,
)
from shared.config import ProdConfig, parse_config
from shared.errors import StateError
from shared.handover import HandoverRule, hand_over, is_flat, prune
from shared.strategy import PairState


def check_deployed(store: Store, config: ProdConfig, path: Path) -> None:
    """The settings' config must be one this state directory has traded or been deployed."""
    known = [g.config_id for g in generations(store)]
    if not known:
        legacy = store.get_meta("config_id")  # a store from before generations existed
        known = [legacy] if legacy else []
    if not known or config.config_id in known:
        return
    raise StateError(
        f"config {path} (config_id {config.config_id}) is not a config this state directory "
        f"trades (generations: {', '.join(known)}); refusing to mix them. To move the account "
        f"to it, run `pairs-daemon deploy {path}` (it checks the promotion gates and plans the "
        "hand-over); to go back, restore the previous config file"
    )


def take_deploy_request(store: Store, log: Logger) -> None:
    """Take a ``pairs-daemon deploy`` request into the store as the pending generation (it
    replaces one not applied yet), then remove the file (daemon/store/deploy_request.py)."""
    state_dir = store.path.parent
    request = read_request(state_dir)
    if request is None:
        return
    if request.withdraw:
        with store.transaction():
            withdrawn = withdraw_pending(store)
        log.warning("deployment_withdrawn", generations=withdrawn)
    elif not has_request(store, request.request_id):
        config = parse_config(request.config, source=f"{state_dir / REQUEST_NAME}")
        with store.transaction():
            replaced = withdraw_pending(store)
            number = add_generation(
                store,
                config,
                source=request.source,
                deployed_at=request.requested_at,
                rule=request.rule,
                forced=request.forced,
                gates=request.gates,
                rollback_of=request.rollback_of,
                request_id=request.request_id,
            )
        log.warning(
            "config_deployed",
            generation=number,
            config_id=config.config_id,
            source=request.source,
            forced=request.forced,
            rollback_of=request.rollback_of,
            replaces_pending=replaced,
            note="applied at the start of this session's decision",
        )
    remove_request(state_dir)


def ensure_first_generation(store: Store, config: ProdConfig, session: date, now: str) -> None:
    """Record the settings' config as generation 1 on the first run (inside a transaction); a
    store that traded before generations existed dates it from its first completed session."""
    if generations(store):
        return
    first = next(iter(store.completed_sessions()), session)
    add_generation(
        store, config, source="settings", deployed_at=now, rule="drain", from_session=first
    )


def _applied(store: Store) -> list[Generation]:
    return [g for g in generations(store) if not g.pending]


def pending_generation(store: Store) -> Generation | None:
    pending = [g for g in generations(store) if g.pending]
    return pending[-1] if pending else None


def previous_roster(store: Store, config: ProdConfig) -> SessionRoster:
    """The roster of the last completed session, or (first session, or a store from before
    rosters were recorded) the latest applied generation's config, else the settings' one."""
    applied = _applied(store)
    by_number = {g.generation: g for g in applied}
    last = store.last_completed_session()
    recorded = roster_at(store, last) if last is not None else None
    if recorded is not None and recorded[0] in by_number:
        number, slots = recorded
        return SessionRoster(number, by_number[number].config, slots)
    if applied:
        latest = applied[-1]
        return SessionRoster.of_config(latest.config, latest.generation)
    return SessionRoster.of_config(config)


def fetch_scope(previous: SessionRoster, pending: Generation | None) -> SessionRoster:
    """What the steps before the decision look at (bars, corporate actions, fills): the
    previous roster and, when a deployment is pending, the new config's pairs too (its added
    pairs warm up on their closes, and the broker may already hold their symbols)."""
    if pending is None:
        return previous
    return replace(previous, slots=(*previous.slots, *config_slots(pending.config)))


def our_prefixes(store: Store, config: ProdConfig) -> tuple[str, ...]:
    """The client order id prefixes of every generation (orders of an earlier one may still be
    open at the broker after a hand-over)."""
    ids = {g.config_id for g in generations(store)} | {config.config_id}
    return tuple(f"{CLIENT_ID_PREFIX}-{config_id}-" for config_id in sorted(ids))


def advance(
    previous: SessionRoster,
    states: Sequence[PairState],
    pending: Generation | None,
    session: date,
    positions: Mapping[str, int],
    history: pd.DataFrame,
    go_live: date,
    positions_at: Callable[[date], Mapping[str, int]],
) -> tuple[SessionRoster, list[PairState]]:
    """The session's roster and the states it steps from: the pending generation handed over
    to (its added pairs warmed on ``history``, the sessions before this one), then the leaving
    slots that are flat removed."""
    roster, carried = previous, list(states)
    if pending is not None:
        incoming = config_slots(pending.config, trading_from=session)
        held = {k for k, s in enumerate(previous.slots) if not is_flat(states[k], positions, s)}
        index = {id(s): k for k, s in enumerate(previous.slots)}
        rule: HandoverRule = "close" if pending.rule == "close" else "drain"
        handover = hand_over(previous.slots, incoming, lambda s: index[id(s)] in held, rule)
        new = [k for k, old in enumerate(handover.carried_from) if old is None]
        warmed = rebuild_states([handover.roster[k] for k in new], history, go_live, positions_at)
        fresh = dict(zip(new, warmed, strict=True))
        carried = [
            states[old] if old is not None else fresh[k]
            for k, old in enumerate(handover.carried_from)
        ]
        roster = SessionRoster(pending.generation, pending.config, handover.roster, handover)
    stay = prune(roster.slots, carried, positions)
    if len(stay) == len(roster.slots):
        return roster, carried
    return replace(roster, slots=tuple(roster.slots[k] for k in stay)), [carried[k] for k in stay]


def session_roster(store: Store, session: date, fallback: SessionRoster) -> SessionRoster:
    """The roster ``session`` decided with (stored with its decisions), else ``fallback``."""
    recorded = roster_at(store, session)
    if recorded is None:
        return fallback
    number, slots = recorded
    config = next(g.config for g in generations(store) if g.generation == number)
    return SessionRoster(number, config, slots)


def backfill_new_symbols(
    store: Store, fresh: pd.DataFrame, symbols: Sequence[str], first: date, session: date
) -> None:
    """Store the closes a symbol lacks for sessions it was not traded on (no roster held it),
    from ``first`` on: a deployed config's pairs warm up on the same closes research fitted
    them on, also for a symbol an earlier generation traded and let go. A gap of a session
    whose roster held the symbol is a missing bar the strategy traded through, and stays one.
    The fresh closes are put on the symbol's stored scale (their median ratio where both
    exist); stored bars are never changed."""
    stored = store.bars(symbols)
    if not len(stored):
        return
    traded = symbols_traded(store)
    sessions = [d for d in stored.index if first <= d < session and d in fresh.index]
    rows: dict[str, pd.Series] = {}
    for symbol in symbols:
        if symbol not in fresh.columns:
            continue
        mine, theirs = stored[symbol], fresh[symbol]
        never = mine.loc[sessions].isna().all()
        gaps = [
            d
            for d in sessions
            if pd.isna(mine[d]) and (never or (d in traded and symbol not in traded[d]))
        ]
        if not gaps:
            continue
        both = [d for d in mine.index if pd.notna(mine[d]) and d in theirs.index]
        ratios = (theirs.loc[both] / mine.loc[both]).dropna()
        factor = float(ratios.median()) if len(ratios) else 1.0
        rows[symbol] = theirs.loc[gaps] / factor
    if rows:
        with store.transaction():
            store.append_bars(pd.DataFrame(rows))


def record_roster(store: Store, roster: SessionRoster, session: date, log: Logger) -> None:
    """Store the session's slots and, on a hand-over, apply the generation (call inside the
    decision transaction), and say so."""
    save_roster(store, session, roster.generation, roster.slots)
    if roster.handover is None:
        return
    plan = [row.to_json() for row in roster.handover.plan]
    mark_applied(store, roster.generation, session, plan)
    store.set_meta("config_id", roster.config_id)
    log.warning(
        "config_handover",
        generation=roster.generation,
        config_id=roster.config_id,
        plan=plan,
        roster=[s.name + (f" ({s.leaving})" if s.leaving else "") for s in roster.slots],
    )
