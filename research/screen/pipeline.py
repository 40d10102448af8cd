"""The pair screen (the seed's "01 notebook"): Engle-Granger on every pair of a universe.

For every pair of the alphabetically sorted tickers (``asset_1 < asset_2``) the screen runs
statsmodels' ``coint(asset_1, asset_2)`` with its defaults on price levels, on the rows where both
tickers have a price (the seed's pairwise ``dropna``: a ticker that starts late only shortens its
own pairs), and reports

- ``corr``: correlation of daily log returns of the aligned pair,
- ``pvalue, coint_t, crit_1pct, crit_5pct, crit_10pct``: the test (MacKinnon's N=2 surface),
- ``hedge_ratio, intercept``: the OLS of asset_1 on a constant and asset_2 (coint's first stage),
- ``n_obs``: aligned observations,

then extra columns: ``lag`` (the ADF lag AIC chose, -1 for a collinear pair), ``qvalue``
(Benjamini-Hochberg over every test run) and, for ``method="johansen"``, ``max_eig_stat``.
Kept rows are sorted by pvalue ascending (stable: ties keep alphabetical pair order).

Engines: ``statsmodels`` calls statsmodels pair by pair (~25 ms a pair); ``fast`` is the compiled
path (:mod:`research.screen.coint.fast`) returning the same numbers in microseconds.

Direction: Engle-Granger depends on which asset is the dependent one. ``direction="seed"`` tests
asset_1 on asset_2 only; ``"both"`` tests both orientations, keeps an unordered pair when
``keep="either"`` (or ``"both"``) orientation passes, and reports both rows of a kept pair (the
selection step then takes the better one and skips the other, which shares its tickers).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from research.data.price_validation import constant_tickers
from research.screen.coint import engines, johansen
from research.screen.coint.engines import RunInfo, Stats
from research.screen.coint.multiple_testing import bh_qvalues
from research.screen.coint.universe import (
    MIN_OBS,
    MIN_OBS_REASON,
    Universe,
    build_universe,
    ordered_pairs,
)
from research.screen.coint.verify import VerifyReport, verify_against_statsmodels
from shared.errors import ConfigError, DataError
from shared.schema import SCREEN_STATISTICS

SEED_COLUMNS: tuple[str, ...] = ("asset_1", "asset_2", *SCREEN_STATISTICS)
EXTRA_COLUMNS: tuple[str, ...] = ("lag", "qvalue")
ENGINES = ("fast", "statsmodels")
METHODS = ("eg", "johansen")
DIRECTIONS = ("seed", "both")
KEEP_RULES = ("either", "both")
SELECT_ON = ("pvalue", "qvalue")


class MultipleTestingWarning(UserWarning):
    """Selecting on raw p-values over many pairs lets false positives through."""


class ConstantTickerWarning(UserWarning):
    """A ticker whose closes never change was left out of the screen."""


@dataclass
class ScreenResult:
    table: pd.DataFrame  # the kept pairs, as written to cointegrated_pairs.csv
    tested: int  # tests run (ordered pairs with enough data), the BH denominator
    info: RunInfo = field(default_factory=RunInfo)
    verification: VerifyReport | None = None


def run_screen(
    prices: pd.DataFrame,
    *,
    pvalue_threshold: float = 0.05,
    engine: str = "statsmodels",
    progress: bool = True,
    direction: str = "seed",
    keep: str = "either",
    method: str = "eg",
    select_on: str = "pvalue",
    workers: int | None = None,
    scheduler: str | None = None,
    verify: int = 0,
    johansen_lags: int = 1,
) -> ScreenResult:
    """Screen every pair of ``prices`` (one column per ticker) for cointegration.

    ``.table`` holds the kept pairs (``select_on`` < ``pvalue_threshold``) with
    :data:`SEED_COLUMNS` first, beside the run's counts and verification. ``workers`` caps local
    threads (default: all cores), ``scheduler`` (``tcp://...``) runs the fast engine on a Dask
    cluster, ``verify`` re-checks that many sampled pairs with statsmodels and raises
    ScreenVerificationError on a difference beyond 1e-9. Warns (MultipleTestingWarning) with the
    expected number of false positives when selecting on raw p-values.
    """
    _check_options(pvalue_threshold, engine, direction, keep, method, select_on)
    universe = build_universe(_without_constant_tickers(prices))
    _check_length(universe)
    pairs = ordered_pairs(universe.n_tickers, direction)
    info, report = RunInfo(), None
    if method == "johansen":
        stats = johansen.run_johansen(universe, pairs, progress, johansen_lags)
    elif engine == "statsmodels":
        stats, info = engines.run_statsmodels(universe, pairs, progress, workers)
    else:
        stats, info = engines.run_fast(
            universe, pairs, progress=progress, workers=workers, scheduler=scheduler
        )
    if verify and method == "eg":
        report = verify_against_statsmodels(universe, pairs, stats, verify)
    tested = int((~np.isnan(stats["pvalue"])).sum())
    if tested == 0:
        longest = int(np.nanmax(stats["n_obs"], initial=0))
        raise DataError(
            f"no pair has {MIN_OBS} common sessions (the most is {longest}): {MIN_OBS_REASON}"
        )
    if select_on == "pvalue" and tested > 1:
        warnings.warn(
            f"selecting on raw p-values: {tested} tests at {pvalue_threshold:g} let about "
            f"{pvalue_threshold * tested:.1f} pairs through by chance even if none is "
            "cointegrated; select on q-values (Benjamini-Hochberg) to bound that",
            MultipleTestingWarning,
            stacklevel=3,
        )
    table = build_table(universe, pairs, stats, pvalue_threshold, select_on, keep, method)
    return ScreenResult(table, tested, info, report)


def _without_constant_tickers(prices: pd.DataFrame) -> pd.DataFrame:
    """A constant ticker makes the regression singular (statsmodels aborts with "x is
    constant" or returns a meaningless statistic, depending on the price level): it is left
    out with a warning, so one bad column never stops the screen of the others."""
    constant = constant_tickers(prices)
    for symbol, value in constant.items():
        warnings.warn(
            f"ticker {symbol} is constant ({value:g}) over the window: left out of the screen",
            ConstantTickerWarning,
            stacklevel=3,
        )
    return prices.drop(columns=list(constant)) if constant else prices


def _check_length(universe: Universe) -> None:
    longest = int((~np.isnan(universe.closes)).sum(axis=0).max(initial=0))
    if longest < MIN_OBS:
        raise DataError(
            f"only {longest} sessions of prices: {MIN_OBS_REASON}; use a longer history"
        )


def _check_options(
    threshold: float, engine: str, direction: str, keep: str, method: str, select_on: str
) -> None:
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"must be in (0, 1] (got {threshold})", key="pvalue_threshold")
    for name, value, choices in (
        ("engine", engine, ENGINES),
        ("direction", direction, DIRECTIONS),
        ("keep", keep, KEEP_RULES),
        ("method", method, METHODS),
        ("select_on", select_on, SELECT_ON),
    ):
        if value not in choices:
            raise ConfigError(f"must be one of {', '.join(choices)} (got {value!r})", key=name)
    if method == "johansen":
        johansen.check_threshold(threshold)
        if direction != "seed":
            raise ConfigError("Johansen's test is symmetric: use 'seed' with it", key="direction")


def build_table(
    universe: Universe,
    pairs: np.ndarray,
    stats: Stats,
    threshold: float,
    select_on: str,
    keep: str,
    method: str,
) -> pd.DataFrame:
    """Every tested pair in the seed's layout plus extras, filtered and sorted by pvalue."""
    names = np.asarray(universe.tickers, dtype=object)
    table = pd.DataFrame({"asset_1": names[pairs[:, 0]], "asset_2": names[pairs[:, 1]]})
    for f in engines.STAT_FIELDS:
        table[f] = stats[f]
    table["qvalue"] = bh_qvalues(table["pvalue"].to_numpy())
    extra = list(EXTRA_COLUMNS)
    if method == "johansen":
        table["max_eig_stat"] = stats["max_eig_stat"]
        extra.append("max_eig_stat")
    table = table[~table["pvalue"].isna()].astype({"n_obs": "int64", "lag": "int64"})
    score = table[select_on].to_numpy()
    # Johansen's p-value is a bracket's upper end: "<= level" means "beyond the critical value".
    passed = score <= threshold if method == "johansen" else score < threshold
    table = table[_keep_pairs(table, passed, keep)]
    if method == "johansen":  # within a bracket, the larger trace statistic first
        table = table.sort_values(["pvalue", "coint_t"], ascending=[True, False], kind="mergesort")
    else:
        table = table.sort_values("pvalue", kind="mergesort")
    return table.reset_index(drop=True)[list(SEED_COLUMNS) + extra]


def _keep_pairs(table: pd.DataFrame, passed: np.ndarray, keep: str) -> np.ndarray:
    """Row mask: a row stays when its unordered pair passes under ``keep`` (one orientation
    per pair in the seed direction, so this is just ``passed`` there)."""
    key = np.where(
        table["asset_1"] < table["asset_2"],
        table["asset_1"] + "\0" + table["asset_2"],
        table["asset_2"] + "\0" + table["asset_1"],
    )
    grouped = pd.Series(passed, index=table.index).groupby(key)
    combined = grouped.transform("any" if keep == "either" else "all")
    return combined.to_numpy(dtype=bool)
