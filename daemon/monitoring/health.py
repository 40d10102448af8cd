"""Pair health every session (shared/health.py; docs/operations.md, "Pair health").

The cycle's decision step calls :func:`assess` on the stored closes through the session before
it gates the decisions (``[health] on_degraded = "no_new_entries"`` blocks the entries of a pair
degraded on a measure of the closes: :func:`entry_blocks`), then :func:`finish` with the gated
decisions (time in trade), and writes the result with the decisions
(:func:`daemon.store.health.save_health`). A degraded pair raises ``pair_degraded`` (warning),
one alert naming every degraded pair and measure (:func:`alert_degraded`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date

import pandas as pd

from daemon.config.settings import HealthSettings
from daemon.core.ports import EventLog
from daemon.core.roster import SessionRoster
from daemon.monitoring.alerts import AlertCode, raise_alert
from daemon.store import Store
from daemon.store.health import days_in_trade
from shared.health import PairHealth, normalized_innovations, pair_health, with_days_in_trade


def pair_name(config: SessionRoster, k: int) -> str:
    pair = config.pairs[k]
    return f"{pair.asset_1}/{pair.asset_2}"


def assess(
    config: SessionRoster, settings: HealthSettings, closes: pd.DataFrame, session: date
) -> list[PairHealth]:
    """Every pair's window measures after ``session``'s close, on its own stored closes (the
    rows where both legs have one) from the config's first session: the Kalman innovations
    run over all of them, as the strategy's filter does; the rest reads the trailing window."""
    rules = settings.rules
    through = closes.loc[[d <= session for d in closes.index]]
    out = []
    for pair, slot in zip(config.pairs, config.slots, strict=True):
        params = slot.params
        since = through.loc[[d >= slot.warm_from for d in through.index]]
        both = since[[pair.asset_1, pair.asset_2]].dropna()
        a = both[pair.asset_1].to_numpy(dtype=float)
        b = both[pair.asset_2].to_numpy(dtype=float)
        if len(a) >= rules.window:
            z = normalized_innovations(a, b, pair.hedge_ratio, params.delta, params.R)
        else:  # not measured: the innovations are not read
            z = a[:0]
        out.append(pair_health(a, b, z, pair.half_life, rules))
    return out


def entry_blocks(
    config: SessionRoster, settings: HealthSettings, health: Sequence[PairHealth]
) -> dict[int, str]:
    """Pair index -> why its entries are blocked, under ``no_new_entries`` (else nothing)."""
    if settings.on_degraded != "no_new_entries":
        return {}
    return {
        k: f"health: {pair_name(config, k)} degraded ({h.describe()})"
        for k, h in enumerate(health)
        if h.blocks_entries
    }


def finish(
    store: Store,
    settings: HealthSettings,
    health: Sequence[PairHealth],
    states: Sequence[int],
    session: date,
    keys: Sequence[str | None] | None = None,
) -> list[PairHealth]:
    """The time-in-trade measure, from the session's (gated) signal states; ``keys``: each
    pair's slot key, which follows it across a hand-over that moved its index."""
    rules = settings.rules
    keys = keys if keys is not None else [None] * len(health)
    return [
        with_days_in_trade(h, days_in_trade(store, k, session, state, key), rules)
        for k, (h, state, key) in enumerate(zip(health, states, keys, strict=True))
    ]


def degraded_message(config: SessionRoster, health: Sequence[PairHealth]) -> str:
    return "; ".join(
        f"{pair_name(config, k)}: {h.describe()}" for k, h in enumerate(health) if h.degraded
    )


def alert_degraded(
    store: Store,
    log: EventLog,
    config: SessionRoster,
    session: date,
    health: Sequence[PairHealth],
    on_degraded: str,
) -> None:
    """``pair_degraded`` naming each degraded pair and its measures (nothing when none is)."""
    degraded = {pair_name(config, k): list(h.flags) for k, h in enumerate(health) if h.degraded}
    if not degraded:
        return
    raise_alert(
        store,
        log,
        AlertCode.PAIR_DEGRADED,
        degraded_message(config, health),
        session=session,
        pairs=degraded,
        on_degraded=on_degraded,
    )


def health_fields(health: Mapping[int, PairHealth], k: int) -> dict[str, object] | None:
    """The ``health`` entry of a pair in ``session_summary`` and ``status`` (None before any)."""
    h = health.get(k)
    return None if h is None else h.as_dict()


def rounded(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"
