"""Benjamini-Hochberg q-values for the many tests a pair screen runs."""

from __future__ import annotations

import numpy as np


def bh_qvalues(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values) over all ``pvalues`` given.

    ``q_(i) = min_{k >= i} m * p_(k) / k`` over the ascending order, capped at 1; NaN stays NaN
    and does not count in ``m``. Selecting ``q < alpha`` keeps the expected share of false
    discoveries among the kept pairs at most ``alpha`` (independent or positively dependent
    tests).
    """
    p = np.asarray(pvalues, dtype=np.float64)
    q = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return q
    order = ok[np.argsort(p[ok], kind="mergesort")]
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q
