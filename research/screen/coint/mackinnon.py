"""MacKinnon p-values for a whole vector of coint t-statistics, bit for bit statsmodels'.

``statsmodels.tsa.adfvalues.mackinnonp`` takes one statistic at a time (its branches compare a
scalar) and costs tens of microseconds per call, more than the compiled test itself. This applies
the very same tables and the very same operations (``numpy.polyval`` on the reversed
coefficients, then ``scipy.stats.norm.cdf``) elementwise; a parity test checks it against
``mackinnonp`` on every value, for equality, not closeness.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm
from statsmodels.tsa import adfvalues

from research.screen.coint.reference import N_VARS


def mackinnon_pvalues(stats: np.ndarray, regression: str = "c", n_vars: int = N_VARS) -> np.ndarray:
    """``mackinnonp(t, regression, N=n_vars)`` for every ``t`` in ``stats``."""
    t = np.asarray(stats, dtype=np.float64)
    k = n_vars - 1
    maxstat = adfvalues._tau_maxs[regression][k]
    minstat = adfvalues._tau_mins[regression][k]
    starstat = adfvalues._tau_stars[regression][k]
    with np.errstate(invalid="ignore", over="ignore"):
        small = np.polyval(adfvalues._tau_smallps[regression][k][::-1], t)
        large = np.polyval(adfvalues._tau_largeps[regression][k][::-1], t)
    p = np.asarray(norm.cdf(np.where(t <= starstat, small, large)), dtype=np.float64)
    p = np.where(t < minstat, 0.0, p)
    return np.where(t > maxstat, 1.0, p)
