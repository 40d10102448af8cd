"""The pair screen (the seed's "01 notebook"): Engle-Granger on every pair of a universe.

For every pair of the alphabetically sorted tickers (``asset_1 < asset_2``) the screen runs
statsmodels' ``coint(asset_1, asset_2)`` with its defaults on price levels, on the rows where both
tickers have a price (the seed's pairwise ``dropna``), and reports

- ``corr``: correlation of daily log returns of the aligned pair,
- ``pvalue, coint_t, crit_1pct, crit_5pct, crit_10pct``: the test (MacKinnon's N=2 surface),
- ``hedge_ratio, intercept``: the OLS of asset_1 on a constant and asset_2 (coint's first stage),
- ``n_obs``: aligned observations,

then extra columns: ``lag`` (ADF lag chosen by AIC, -1 for a collinear pair) and ``qvalue``
(Benjamini-Hochberg over every test run). Pairs with p < threshold are kept, sorted by pvalue.

Engines: ``statsmodels`` calls statsmodels pair by pair (~25 ms a pair); ``fast`` is the compiled
path in :mod:`research.coint.fast` that returns the same numbers (see its module notes).
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
from tqdm import tqdm

from research.coint.multiple_testing import bh_qvalues
from research.coint.reference import engle_granger
from research.coint.universe import (
    MIN_OBS,
    Universe,
    build_universe,
    log_return_corr,
    ordered_pairs,
)

SEED_COLUMNS: tuple[str, ...] = (
    "asset_1",
    "asset_2",
    "corr",
    "pvalue",
    "coint_t",
    "crit_1pct",
    "crit_5pct",
    "crit_10pct",
    "hedge_ratio",
    "intercept",
    "n_obs",
)
EXTRA_COLUMNS: tuple[str, ...] = ("lag", "qvalue")
ENGINES = ("fast", "statsmodels")
STAT_FIELDS: tuple[str, ...] = (*SEED_COLUMNS[2:], "lag")


class MultipleTestingWarning(UserWarning):
    """Selecting on raw p-values over many pairs lets false positives through."""


def screen_pairs(
    prices: pd.DataFrame,
    *,
    pvalue_threshold: float = 0.05,
    engine: str = "statsmodels",
    progress: bool = True,
    direction: str = "seed",
    select_on: str = "pvalue",
) -> pd.DataFrame:
    """Screen every pair of ``prices`` (one column per ticker) for cointegration.

    Returns the kept pairs (``select_on`` < ``pvalue_threshold``) with :data:`SEED_COLUMNS`
    first, sorted by pvalue ascending (stable: ties keep alphabetical pair order).
    """
    _check_options(pvalue_threshold, engine, direction, select_on)
    universe = build_universe(prices)
    pairs = ordered_pairs(universe.n_tickers, direction)
    stats = _run_statsmodels(universe, pairs, progress)
    tested = ~np.isnan(stats["pvalue"])
    if select_on == "pvalue" and tested.sum() > 1:
        expected = pvalue_threshold * int(tested.sum())
        warnings.warn(
            f"selecting on raw p-values: with {int(tested.sum())} pairs tested at "
            f"{pvalue_threshold:g}, about {expected:.1f} pairs pass by chance even when none is "
            "cointegrated; consider --select-on qvalue",
            MultipleTestingWarning,
            stacklevel=2,
        )
    return build_table(universe, pairs, stats, pvalue_threshold, select_on)


def _check_options(threshold: float, engine: str, direction: str, select_on: str) -> None:
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"pvalue_threshold must be in (0, 1] (got {threshold})")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)} (got {engine!r})")
    if direction not in ("seed", "both"):
        raise ValueError(f"direction must be 'seed' or 'both' (got {direction!r})")
    if select_on not in ("pvalue", "qvalue"):
        raise ValueError(f"select_on must be 'pvalue' or 'qvalue' (got {select_on!r})")


def _empty_stats(n: int) -> dict[str, np.ndarray]:
    return {f: np.full(n, np.nan) for f in STAT_FIELDS}


def _run_statsmodels(
    universe: Universe, pairs: np.ndarray, progress: bool
) -> dict[str, np.ndarray]:
    stats = _empty_stats(len(pairs))
    bar = tqdm(
        total=len(pairs),
        desc="coint (statsmodels)",
        unit="pair",
        file=sys.stderr,
        disable=not progress,
    )
    for k, (i, j) in enumerate(pairs):
        a, b = universe.pair_arrays(int(i), int(j))
        if len(a) >= MIN_OBS:
            eg = engle_granger(a, b)
            corr = log_return_corr(a, b)
            row = (corr, eg.pvalue, eg.coint_t, *eg.crit, eg.hedge_ratio, eg.intercept)
            row_all: tuple[float, ...] = (*row, eg.n_obs, eg.lag)
            for f, v in zip(STAT_FIELDS, row_all, strict=True):
                stats[f][k] = v
        else:
            stats["n_obs"][k] = len(a)
        bar.update(1)
    bar.close()
    return stats


def build_table(
    universe: Universe,
    pairs: np.ndarray,
    stats: dict[str, np.ndarray],
    threshold: float,
    select_on: str,
) -> pd.DataFrame:
    """All tested pairs as the seed's table plus extras, filtered and sorted by pvalue."""
    names = np.asarray(universe.tickers, dtype=object)
    table = pd.DataFrame({"asset_1": names[pairs[:, 0]], "asset_2": names[pairs[:, 1]]})
    for f in STAT_FIELDS:
        table[f] = stats[f]
    table["qvalue"] = bh_qvalues(table["pvalue"].to_numpy())
    table = table[~table["pvalue"].isna()]
    table = table[table[select_on] < threshold]
    table = table.astype({"n_obs": "int64", "lag": "int64"})
    table = table.sort_values("pvalue", kind="mergesort").reset_index(drop=True)
    return table[list(SEED_COLUMNS + EXTRA_COLUMNS)]
