"""Missing legs: a symbol with no bar for a session holds only the pairs that trade it.

A halted, suspended or delisted ticker delivers no close (NaN) for a session. The bars module
stores it as absent, the decision step holds each pair that trades it (no entry, no half-exit,
its state does not step: :func:`daemon.core.decide.hold_missing_leg`) and every other pair trades as
usual. Positions in the missing symbol are marked at its last delivered close. When the bars
come back the held pair resumes from its state before the gap, as a backtest on the pair's own
closes would (the missing sessions are skipped for that pair only).

After the session completes, :func:`alert_missing_legs` raises ``missing_leg`` (warning) while
any symbol is missing; a completed session without one resolves it. A symbol missing
``data.delisted_after_sessions`` sessions in a row also raises ``leg_delisted`` (critical): the
operator decides (docs/operations.md, "A missing or delisted leg").
"""

from __future__ import annotations

import math
from datetime import date

import pandas as pd

from daemon.core.ports import EventLog
from daemon.core.roster import SessionRoster
from daemon.monitoring.alerts import AlertCode, raise_alert
from daemon.store import Store


def missing_on(bars: pd.DataFrame, session: date) -> list[str]:
    """The symbols without a stored close on ``session``."""
    if session not in bars.index:
        return []
    return [str(s) for s, v in bars.loc[session].items() if math.isnan(float(v))]


def missing_streak(bars: pd.DataFrame, symbol: str, session: date) -> int:
    """How many stored sessions in a row, ending at ``session``, have no close for ``symbol``."""
    column = bars.loc[[d <= session for d in bars.index], symbol]
    streak = 0
    for value in reversed(column.to_numpy(dtype=float)):
        if not math.isnan(value):
            break
        streak += 1
    return streak


def held_pairs(config: SessionRoster, missing: list[str]) -> list[str]:
    return [
        f"{p.asset_1}/{p.asset_2}"
        for p in config.pair_list
        if p.asset_1 in missing or p.asset_2 in missing
    ]


def alert_missing_legs(
    store: Store, config: SessionRoster, session: date, delisted_after: int, now: str, log: EventLog
) -> list[AlertCode]:
    """Raise the missing-leg alerts of a completed session; return the codes raised (the
    conditions that still hold, kept open when the other alerts are resolved)."""
    bars = store.bars(config.symbols)
    missing = missing_on(bars, session)
    if not missing:
        return []
    pairs = held_pairs(config, missing)
    for symbol in missing:
        log.warning("pair_held", symbol=symbol, pairs=held_pairs(config, [symbol]))
    message = (
        f"no bar on {session} for {', '.join(missing)}; held (no entry, no exit): "
        f"{', '.join(pairs)}. The other pairs traded as usual"
    )
    raise_alert(
        store, log, AlertCode.MISSING_LEG, message, session=session, now=now, symbol=missing[0]
    )
    codes = [AlertCode.MISSING_LEG]
    streaks = {s: missing_streak(bars, s, session) for s in missing}
    gone = [s for s, n in streaks.items() if n >= delisted_after]
    if gone:
        message = (
            f"{', '.join(gone)} had no bar for {max(streaks[s] for s in gone)} sessions in a "
            f"row (data.delisted_after_sessions = {delisted_after}): treated as delisted. "
            f"Pairs held: {', '.join(held_pairs(config, gone))}. Close the position at the "
            "broker or retire the pair (docs/operations.md, 'A missing or delisted leg')"
        )
        log.error("leg_delisted", symbols=gone, sessions=max(streaks[s] for s in gone))
        raise_alert(
            store, log, AlertCode.LEG_DELISTED, message, session=session, now=now, symbol=gone[0]
        )
        codes.append(AlertCode.LEG_DELISTED)
    return codes
