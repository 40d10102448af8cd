"""Johansen's trace test (statsmodels ``coint_johansen``): a symmetric alternative to
Engle-Granger, whose result does not depend on which asset is the dependent one.

Mapping into the screen's table (``method == "johansen"``):

- ``coint_t``: the trace statistic for "no cointegrating vector" (r = 0). It *rejects* when it
  is *above* the critical value, the opposite sign convention of Engle-Granger's t.
- ``crit_1pct, crit_5pct, crit_10pct``: the trace test's critical values at 99/95/90%, as
  statsmodels tabulates them (``statsmodels.tsa.coint_tables.c_sjt``): computed by MacKinnon,
  Haug & Michelis with MacKinnon's ``johdist.f`` ("Numerical distribution functions of
  likelihood ratio tests for cointegration", Journal of Applied Econometrics 14(5), 1999;
  statsmodels' source cites the 1996 Queen's University discussion paper of that title).
- ``pvalue``: statsmodels gives no p-value for this test, so the column holds the upper end of
  the bracket the statistic falls in: 0.01 beyond the 99% value, 0.05 beyond 95%, 0.10 beyond
  90%, else 1.0. Selection keeps ``pvalue <= threshold``, i.e. "trace above the critical value
  at that level", so the threshold must be 0.01, 0.05 or 0.10.
- ``lag``: the VECM's lagged differences (``k_ar_diff``); ``max_eig_stat`` is added too.
- ``hedge_ratio, intercept``: the same OLS of asset_1 on asset_2 as the Engle-Granger path (the
  strategy's starting beta).
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
from statsmodels.tsa.vector_ar.vecm import coint_johansen
from tqdm import tqdm

from research.screen.coint.engines import Stats, empty_stats, pair_correlations
from research.screen.coint.reference import single_threaded_blas
from research.screen.coint.universe import MIN_OBS, Universe
from shared.errors import ConfigError

LEVELS = (0.01, 0.05, 0.10)
DET_ORDER = 0  # a constant in the cointegrating relation, like Engle-Granger's trend "c"


def check_threshold(threshold: float) -> None:
    if not any(np.isclose(threshold, lv, rtol=0, atol=1e-12) for lv in LEVELS):
        raise ConfigError(
            f"the Johansen screen selects at 0.01, 0.05 or 0.10 only (got {threshold}): "
            "statsmodels tabulates its critical values at those levels",
            key="pvalue_threshold",
        )


def run_johansen(
    universe: Universe, pairs: np.ndarray, progress: bool, k_ar_diff: int = 1
) -> Stats:
    stats = empty_stats(len(pairs))
    stats["max_eig_stat"] = np.full(len(pairs), np.nan)
    bar = tqdm(
        total=len(pairs), desc="johansen", unit="pair", file=sys.stderr, disable=not progress
    )
    for k, (i, j) in enumerate(pairs):
        y, x = universe.pair_arrays(int(i), int(j))
        stats["n_obs"][k] = len(y)
        if len(y) >= MIN_OBS:
            _fill(stats, k, y, x, k_ar_diff)
        bar.update(1)
    bar.close()
    stats["corr"] = pair_correlations(universe, pairs)
    return stats


def _fill(stats: Stats, k: int, y: np.ndarray, x: np.ndarray, k_ar_diff: int) -> None:
    with warnings.catch_warnings(), single_threaded_blas():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = coint_johansen(np.column_stack([y, x]), DET_ORDER, k_ar_diff)
    trace, cvt = float(res.lr1[0]), res.cvt[0]  # cvt columns: 90%, 95%, 99%
    stats["coint_t"][k] = trace
    stats["crit_1pct"][k], stats["crit_5pct"][k], stats["crit_10pct"][k] = cvt[2], cvt[1], cvt[0]
    above = [trace > cvt[2], trace > cvt[1], trace > cvt[0]]
    stats["pvalue"][k] = next((lv for lv, a in zip(LEVELS, above, strict=True) if a), 1.0)
    stats["max_eig_stat"][k] = float(res.lr2[0])
    stats["lag"][k] = k_ar_diff
    xm, ym = x.mean(), y.mean()
    slope = float(np.dot(x - xm, y - ym) / np.dot(x - xm, x - xm))
    stats["hedge_ratio"][k], stats["intercept"][k] = slope, float(ym - slope * xm)
