"""Pair health in research: the daemon's measures (:mod:`shared.health`) on a price file.

:func:`config_health` measures a config's pairs at a session, as the daemon would after that
session's close (each pair's own closes from the config's first session; the Kalman filter
started from the config's hedge ratio); :func:`entry_rule` is the ``no_new_entries`` rule a
backtest applies (:func:`shared.simulation.simulate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from shared.config import ProdConfig
from shared.errors import DataError
from shared.health import EntryRule, HealthRules, PairHealth, normalized_innovations, pair_health


@dataclass(frozen=True, slots=True)
class PairHealthRow:
    pair: str
    session: date  # the pair's last close through the requested session
    health: PairHealth


def entry_rule(config: ProdConfig, rules: HealthRules) -> EntryRule:
    return EntryRule(rules, tuple(p.half_life for p in config.pairs))


def config_health(
    prices: pd.DataFrame, config: ProdConfig, rules: HealthRules, end: date | None = None
) -> list[PairHealthRow]:
    """Each pair's health after the close of ``end`` (default: the last date of ``prices``)."""
    index = pd.DatetimeIndex(prices.index)
    first = pd.Timestamp(config.data.first_session)
    last = pd.Timestamp(end) if end is not None else index.max()
    window = prices.loc[(index >= first) & (index <= last)]
    rows = []
    for pair in config.pairs:
        missing = [s for s in (pair.asset_1, pair.asset_2) if s not in window.columns]
        if missing:
            raise DataError(f"the price file has no column {missing[0]}", symbol=missing[0])
        both = window[[pair.asset_1, pair.asset_2]].dropna()
        if both.empty:
            raise DataError(
                f"no common closes of {pair.asset_1} and {pair.asset_2} between "
                f"{first:%Y-%m-%d} and {last:%Y-%m-%d}"
            )
        a = both[pair.asset_1].to_numpy(dtype=float)
        b = both[pair.asset_2].to_numpy(dtype=float)
        z = normalized_innovations(a, b, pair.hedge_ratio, config.delta, config.R)
        rows.append(
            PairHealthRow(
                f"{pair.asset_1}/{pair.asset_2}",
                pd.Timestamp(both.index[-1]).date(),
                pair_health(a, b, z, pair.half_life, rules),
            )
        )
    return rows
