"""``--verify N``: re-run N sampled pairs through statsmodels; on a difference, let 60-digit
arithmetic decide which side is right, and fail only when it is ours.

Two double-precision computations of the same regression can disagree on a degenerate pair
(statsmodels' SVD and the compiled normal equations lose different digits), and statsmodels is
not always the one that is closer. A pair that differs beyond :data:`TOLERANCE` is recomputed
by :func:`research.screen.coint.precise.precise_engle_granger`; the screen's value stands when it
picks the same lag as the precise computation and is within :data:`TOLERANCE` of it or closer
to it than statsmodels. Otherwise the verification fails, naming the pairs and both errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from research.screen.coint.precise import precise_engle_granger
from research.screen.coint.reference import EngleGranger, engle_granger, single_threaded_blas
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
    arbitrated: list[str] = field(default_factory=list)  # differences where ours was right


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
        crit = tuple(float(stats[c][k]) for c in ("crit_1pct", "crit_5pct", "crit_10pct"))
        same_crit = eg.crit == crit
        report.checked += 1
        report.max_t_diff = max(report.max_t_diff, dt)
        report.max_p_diff = max(report.max_p_diff, dp)
        report.lag_mismatches += not same_lag
        if dt > TOLERANCE or dp > TOLERANCE or not same_lag or not same_crit:
            name = f"{universe.tickers[i]}/{universe.tickers[j]}"
            ours_t, ours_lag = float(stats["coint_t"][k]), int(stats["lag"][k])
            verdict, ours_right = arbitrate(universe.pair_arrays(i, j), eg, ours_t, ours_lag)
            detail = (
                f"{name}: statsmodels t={eg.coint_t!r} p={eg.pvalue!r} lag={eg.lag} "
                f"crit={eg.crit}; screen t={ours_t!r} p={float(stats['pvalue'][k])!r} "
                f"lag={ours_lag} crit={crit}; {verdict}"
            )
            (report.arbitrated if ours_right and same_crit else report.failures).append(detail)
    if report.failures:
        raise ScreenVerificationError(
            f"{len(report.failures)} of {report.checked} sampled pairs differ from statsmodels "
            f"beyond {TOLERANCE:g}: "
            + "; ".join(report.failures[:5])
            + " (re-run with --engine statsmodels and report this)"
        )
    return report


def arbitrate(
    arrays: tuple[np.ndarray, np.ndarray], theirs: EngleGranger, ours_t: float, ours_lag: int
) -> tuple[str, bool]:
    """Which side the 60-digit computation sides with: (a sentence, ours is right)."""
    try:
        precise = precise_engle_granger(*arrays)
    except ArithmeticError:  # decimal's DivisionByZero/InvalidOperation: a singular regression
        return "the 60-digit recomputation is singular: no arbiter", False
    ours_err, their_err = _diff(ours_t, precise.coint_t), _diff(theirs.coint_t, precise.coint_t)
    ours_right = ours_lag == precise.lag and (ours_err <= TOLERANCE or ours_err <= their_err)
    their_right = theirs.lag == precise.lag and their_err <= max(ours_err, TOLERANCE)
    sides = (
        "the screen is right, statsmodels is off"
        if ours_right and not their_right
        else "both are close"
        if ours_right
        else "statsmodels is right, the screen is off"
        if their_right
        else "both are off"
    )
    return (
        f"60-digit t={precise.coint_t!r} lag={precise.lag}: the screen is {ours_err:.1e} from "
        f"it, statsmodels {their_err:.1e} ({sides})",
        ours_right,
    )
