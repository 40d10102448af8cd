"""The config's pairs: the screen's statistics kept per pair, and the formation half-life.

The half-life is measured on the pair's own closes over the window the config is fitted on
(:func:`shared.health.spread_half_life`: the Engle-Granger spread's AR(1) half-life), the
figure the daemon's pair health compares the trailing window's half-life with.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from research.data.market_data import AlignedCloses
from shared.config import PairConfig
from shared.health import spread_half_life
from shared.schema import SCREEN_STATISTICS

# The screen's statistics a config keeps per pair for the record (its hedge_ratio is required).
PAIR_STAT_COLUMNS: tuple[str, ...] = tuple(s for s in SCREEN_STATISTICS if s != "hedge_ratio")


def clean_value(value: Any) -> Any:
    """A table cell as JSON wants it: NaN is None, numpy scalars are Python's."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def formation_half_life(data: AlignedCloses | None, asset_1: str, asset_2: str) -> float | None:
    """The pair's spread half-life over ``data`` (None without data, or when the spread does
    not mean-revert there: the config stores finite half-lives only)."""
    if data is None or data.n_bars < 3:
        return None
    half_life = spread_half_life(data.column(asset_1), data.column(asset_2))
    return half_life if math.isfinite(half_life) and half_life > 0 else None


def pair_configs(
    selected: pd.DataFrame, data: AlignedCloses | None = None
) -> tuple[PairConfig, ...]:
    """The selected pairs with the screen's statistics (those the table has) and, given the
    formation closes ``data``, each pair's formation half-life."""
    out = []
    for record in selected.to_dict(orient="records"):
        stats = {c: clean_value(record.get(c)) for c in PAIR_STAT_COLUMNS if c in record}
        if stats.get("n_obs") is not None:
            stats["n_obs"] = int(stats["n_obs"])
        a, b = str(record["asset_1"]), str(record["asset_2"])
        out.append(
            PairConfig(
                asset_1=a,
                asset_2=b,
                hedge_ratio=float(record["hedge_ratio"]),
                half_life=formation_half_life(data, a, b),
                **stats,
            )
        )
    return tuple(out)
