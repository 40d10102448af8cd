"""``--verify N``: re-run N sampled pairs through statsmodels and fail loudly on a difference."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from research.screen.coint.reference import engle_granger, single_threaded_blas
from research.screen.coint.universe import Universe
from shared.errors import PairsError

TOLERANCE = 1e-9  # on coint_t and pvalue; lags and critical values must be equal


class ScreenVerificationError(PairsError):
    """The compiled screen disagrees with statsmodels on a sampled pair."""


@dataclass
class VerifyReport:
    checked: int = 0
    max_t_diff: float = 0.0
    max_p_diff: float = 0.0
    lag_mismatches: int = 0
    failures: list[str] = field(default_factory=list)


def _diff(a: float, b: float) -> float:
    if math.isinf(a) or math.isinf(b):
        return 0.0 if a == b else math.inf
    return abs(a - b)


def verify_against_statsmodels(
    universe: Universe,
    pairs: np.ndarray,
    stats: dict[str, np.ndarray],
    n: int,
    *,
    seed: int = 0,
) -> VerifyReport:
    """Compare ``n`` randomly sampled tested pairs with statsmodels' ``coint``; raise
    :class:`ScreenVerificationError` naming the pairs that differ beyond :data:`TOLERANCE`."""
    report = VerifyReport()
    tested = np.flatnonzero(~np.isnan(stats["coint_t"]))
    if n <= 0 or tested.size == 0:
        return report
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(tested, size=min(n, tested.size), replace=False))
    for k in sample:
        i, j = int(pairs[k, 0]), int(pairs[k, 1])
        with single_threaded_blas():
            eg = engle_granger(*universe.pair_arrays(i, j))
        dt = _diff(eg.coint_t, float(stats["coint_t"][k]))
        dp = abs(eg.pvalue - float(stats["pvalue"][k]))
        same_lag = eg.lag == int(stats["lag"][k])
        crit = (stats["crit_1pct"][k], stats["crit_5pct"][k], stats["crit_10pct"][k])
        same_crit = eg.crit == tuple(float(c) for c in crit)
        report.checked += 1
        report.max_t_diff = max(report.max_t_diff, dt)
        report.max_p_diff = max(report.max_p_diff, dp)
        report.lag_mismatches += not same_lag
        if dt > TOLERANCE or dp > TOLERANCE or not same_lag or not same_crit:
            report.failures.append(
                f"{universe.tickers[i]}/{universe.tickers[j]}: statsmodels t={eg.coint_t!r} "
                f"p={eg.pvalue!r} lag={eg.lag} crit={eg.crit}; screen t={stats['coint_t'][k]!r} "
                f"p={stats['pvalue'][k]!r} lag={int(stats['lag'][k])} crit={crit}"
            )
    if report.failures:
        raise ScreenVerificationError(
            f"{len(report.failures)} of {report.checked} sampled pairs differ from statsmodels "
            f"beyond {TOLERANCE:g}: "
            + "; ".join(report.failures[:5])
            + " (re-run with --engine statsmodels and report this)"
        )
    return report
