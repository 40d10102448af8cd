"""Compiled Engle-Granger: statsmodels' ``coint(y0, y1)`` (defaults) in a few microseconds.

statsmodels fits ``maxlag + 2`` OLS models per pair through SVDs of 1,231 x 24 matrices (~25 ms).
The same numbers come from one small Gram matrix per pair:

1. First stage: OLS of y0 on [y1, 1] in closed form (centered sums); residuals
   ``e = y0 - (b*y1 + a)`` as statsmodels forms them; R² decides "collinear" with statsmodels'
   threshold ``1 - 100*sqrt(eps)`` (t = -inf, p = 0, no ADF step).
2. ADF lag search (regression "n", autolag "aic", ``maxlag = min(n//2 - 1, ceil(12 (n/100)^¼))``
   computed in Python with statsmodels' own expression): every candidate lag k = 0..maxlag is fit
   on the *common* sample (rows maxlag..n-2 of ``d = diff(e)``), so all candidates are nested
   prefixes of one regressor list [e_{t}, d_{t-1}, ..., d_{t-maxlag}]. One Cholesky factor of the
   augmented Gram matrix [X y]'[X y] gives every prefix's residual sum of squares at once
   (SSR_k = sum of the squared tail of its last row), hence every AIC, ``-2 llf + 2 (k+1)`` with
   statsmodels' profile likelihood. The Gram matrix itself costs O(n maxlag): its lag blocks are
   sums of lagged products over a sliding window, so each diagonal follows from the first row by
   adding the row that enters and removing the row that leaves.
3. The chosen lag is refitted on its own (longer) sample as statsmodels does: the Gram matrix is
   extended by the ``maxlag - k`` extra rows, the level column is put last, and its t-statistic is
   the last row's entry of the Cholesky factor over the residual standard error.

Where the two could differ, the kernel does not guess: it returns ``NEEDS_REFERENCE`` and the
caller runs statsmodels for that pair. That is the case when two AIC values are within
``AIC_TIE_TOL`` of each other (statsmodels' SVD-based and this Gram-based SSR differ by ~1e-13
relative, enough to flip an exact near-tie; min over (aic, lag) otherwise picks the same lag),
when R² is within ``RSQ_TOL`` of the collinearity threshold, when a regressor is (nearly) a
linear combination of the others (statsmodels' pinv then drops directions and counts a lower
rank in the AIC), or when a model has no residual degrees of freedom.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from research.screen.coint.reference import COLLINEAR_RSQUARED

OK, COLLINEAR, NEEDS_REFERENCE = 0, 1, 2
AIC_TIE_TOL = 1e-6  # absolute, on AIC values of order -2n log(sigma); noise is ~1e-10
RSQ_TOL = 1e-10
# Squared pivot / diagonal below this: a regressor is (nearly) a combination of the others.
# Normal equations lose about 1/ratio in accuracy, so this defers anything that could cost more
# than ~1e-12; real price data sits at 1e-2..1 (lagged returns are nearly uncorrelated).
PIVOT_TOL = 1e-4
LOG_2PI = math.log(2 * math.pi)
# Reassociation lets LLVM vectorize the sums below; it changes their rounding by a few ulps,
# far inside the 1e-12 agreement (statsmodels' SVD path is no more exact than this).
FASTMATH = {"reassoc", "contract"}
LAG_BLOCK = 4  # lags per pass over the data: each loaded d[r], e[r] feeds 8 products


def adf_maxlag(n_obs: int) -> int:
    """statsmodels' default ADF maxlag for a series of ``n_obs`` (regression "n")."""
    maxlag = int(np.ceil(12.0 * np.power(n_obs / 100.0, 1 / 4.0)))
    return min(n_obs // 2 - 1, maxlag)


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _cholesky_inplace(a: np.ndarray, n_check: int) -> bool:
    """Lower Cholesky factor of ``a`` in place; False when one of the first ``n_check`` pivots
    is (nearly) zero relative to its diagonal, i.e. the regressors are (nearly) dependent."""
    m = a.shape[0]
    for j in range(m):
        s = a[j, j]
        for k in range(j):
            s -= a[j, k] * a[j, k]
        diag = a[j, j]
        if j < n_check and (not s > PIVOT_TOL * diag or diag <= 0.0):
            return False
        if s < 0.0:  # the dependent variable's residual: exact fit
            s = 0.0
        a[j, j] = math.sqrt(s)
        for i in range(j + 1, m):
            t = a[i, j]
            for k in range(j):
                t -= a[i, k] * a[j, k]
            a[i, j] = t / a[j, j] if a[j, j] > 0.0 else 0.0
    return True


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _first_row(e: np.ndarray, d: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Sums over rows r = p..n-2 of d[r] d[r-j] and e[r] d[r-j] (j = 0..p), and of e[r]².
    Unsigned indices: numba then needs no negative-index wraparound and the loops vectorize."""
    n1 = d.size
    g0 = np.empty(p + 1)
    h = np.empty(p + 1)
    up = np.uint64(p)
    ee = 0.0
    for r in range(n1 - p):
        v = e[up + np.uint64(r)]
        ee += v * v
    j = 0
    while j + LAG_BLOCK <= p + 1:
        s0 = s1 = s2 = s3 = t0 = t1 = t2 = t3 = 0.0
        base = np.uint64(p - j)
        for r in range(n1 - p):
            u = np.uint64(r)
            x, y = d[up + u], e[up + u]
            v0, v1 = d[base + u], d[base + u - np.uint64(1)]
            v2, v3 = d[base + u - np.uint64(2)], d[base + u - np.uint64(3)]
            s0 += x * v0
            s1 += x * v1
            s2 += x * v2
            s3 += x * v3
            t0 += y * v0
            t1 += y * v1
            t2 += y * v2
            t3 += y * v3
        g0[j], g0[j + 1], g0[j + 2], g0[j + 3] = s0, s1, s2, s3
        h[j], h[j + 1], h[j + 2], h[j + 3] = t0, t1, t2, t3
        j += LAG_BLOCK
    while j <= p:
        s = t = 0.0
        base = np.uint64(p - j)
        for r in range(n1 - p):
            u = np.uint64(r)
            v = d[base + u]
            s += d[up + u] * v
            t += e[up + u] * v
        g0[j], h[j] = s, t
        j += 1
    return g0, h, ee


@njit(cache=True, nogil=True)
def _lag_gram(e: np.ndarray, d: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Sums over rows r = p..n-2 of d[r-i] d[r-j] (i, j = 0..p), of e[r] d[r-j], and of e[r]²."""
    n1 = d.size  # n - 1
    g = np.empty((p + 1, p + 1))
    g0, h, ee = _first_row(e, d, p)
    g[0, :] = g0
    # Sliding window: shifting both lags by one drops row n-2 and adds row p-1.
    for i in range(p):
        for j in range(i, p):
            g[i + 1, j + 1] = g[i, j] + d[p - 1 - i] * d[p - 1 - j] - d[n1 - 1 - i] * d[n1 - 1 - j]
    for i in range(p + 1):
        for j in range(i):
            g[i, j] = g[j, i]
    return g, h, ee


@njit(cache=True, nogil=True)
def _aic_lag(g: np.ndarray, h: np.ndarray, ee: float, p: int, nobs: int) -> int:
    """The AIC-best lag on the common sample; -1 when the choice is not certain."""
    m = p + 2  # [level, d_1..d_p, d_0]
    a = np.empty((m, m))
    a[0, 0] = ee
    for j in range(1, p + 1):
        a[j, 0] = h[j]
        for i in range(1, p + 1):
            a[i, j] = g[i, j]
        a[m - 1, j] = g[0, j]
    a[m - 1, 0] = h[0]
    a[m - 1, m - 1] = g[0, 0]
    for i in range(m):  # the factorization reads the lower triangle only
        for j in range(i + 1, m):
            a[i, j] = a[j, i]
    if not _cholesky_inplace(a, m - 1):
        return -1
    nobs2 = nobs / 2.0
    ssr = a[m - 1, m - 1] ** 2
    best, best_aic, second_aic = -1, math.inf, math.inf
    for k in range(p, -1, -1):  # k lags = k + 1 regressors; SSR grows as regressors drop
        if k < p:
            ssr += a[m - 1, k + 1] ** 2
        if nobs - (k + 1) <= 0 or not ssr > 0.0:
            return -1
        llf = -nobs2 * LOG_2PI - nobs2 * math.log(ssr / nobs) - nobs2
        aic = -2.0 * llf + 2.0 * (k + 1)
        if aic <= best_aic:  # '<=' while walking down: ties go to the smaller lag
            second_aic = best_aic
            best, best_aic = k, aic
        elif aic < second_aic:
            second_aic = aic
    if second_aic - best_aic < AIC_TIE_TOL:
        return -1
    return best


@njit(cache=True, nogil=True)
def _refit_t(
    e: np.ndarray, d: np.ndarray, g: np.ndarray, h: np.ndarray, ee: float, p: int, k: int
) -> float:
    """t-statistic of the level in the ADF regression with ``k`` lags on its own sample
    (rows k..n-2); NaN when that regression is degenerate."""
    m = k + 2  # [d_1..d_k, level, d_0]
    a = np.empty((m, m))
    for i in range(k + 1):
        for j in range(i + 1):
            s = g[i, j]
            for r in range(k, p):  # rows the common sample left out
                s += d[r - i] * d[r - j]
            ii, jj = (m - 1 if i == 0 else i - 1), (m - 1 if j == 0 else j - 1)
            a[max(ii, jj), min(ii, jj)] = s
    for j in range(k + 1):
        s = h[j]
        for r in range(k, p):
            s += e[r] * d[r - j]
        jj = m - 1 if j == 0 else j - 1
        a[max(k, jj), min(k, jj)] = s
    s = ee
    for r in range(k, p):
        s += e[r] * e[r]
    a[k, k] = s
    if not _cholesky_inplace(a, m - 1):
        return math.nan
    df = (d.size - k) - (k + 1)
    if df <= 0 or not a[m - 1, m - 1] > 0.0:
        return math.nan
    return a[m - 1, k] * math.sqrt(df) / a[m - 1, m - 1]


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def _first_stage(y: np.ndarray, x: np.ndarray, e: np.ndarray) -> tuple[float, float, float]:
    """OLS of y on [x, 1]: (slope, intercept, R²), residuals written to ``e``; slope NaN when
    x or y is constant (statsmodels' pinv then returns a minimum-norm fit: not handled here)."""
    n = y.size
    ym = xm = 0.0
    for t in range(n):
        ym += y[t]
        xm += x[t]
    ym /= n
    xm /= n
    sxx = sxy = syy = 0.0
    for t in range(n):
        dx, dy = x[t] - xm, y[t] - ym
        sxx += dx * dx
        sxy += dx * dy
        syy += dy * dy
    if not (sxx > 0.0 and syy > 0.0):
        return math.nan, math.nan, math.nan
    b = sxy / sxx
    a = ym - b * xm
    ssr = 0.0
    for t in range(n):
        v = y[t] - (x[t] * b + a)  # statsmodels: endog - exog @ params
        e[t] = v
        ssr += v * v
    return b, a, 1.0 - ssr / syy


@njit(cache=True, nogil=True)
def eg_pair(y: np.ndarray, x: np.ndarray, p: int) -> tuple[float, int, float, float, int]:
    """(coint_t, lag, hedge_ratio, intercept, status) of ``coint(y, x)``; see module notes."""
    n = y.size
    e = np.empty(n)
    b, a, rsq = _first_stage(y, x, e)
    if math.isnan(b) or abs(rsq - COLLINEAR_RSQUARED) < RSQ_TOL:
        return math.nan, -1, b, a, NEEDS_REFERENCE
    if rsq >= COLLINEAR_RSQUARED:
        return -math.inf, -1, b, a, COLLINEAR
    d = np.empty(n - 1)
    for t in range(n - 1):
        d[t] = e[t + 1] - e[t]
    g, h, ee = _lag_gram(e, d, p)
    lag = _aic_lag(g, h, ee, p, n - 1 - p)
    if lag < 0:
        return math.nan, -1, b, a, NEEDS_REFERENCE
    stat = _refit_t(e, d, g, h, ee, p, lag)
    if math.isnan(stat):
        return math.nan, -1, b, a, NEEDS_REFERENCE
    return stat, lag, b, a, OK


@njit(cache=True, nogil=True)
def eg_batch(
    series: np.ndarray, pairs: np.ndarray, p: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``eg_pair`` over ``pairs`` (rows of (y index, x index) into ``series[ticker, bar]``).
    Runs without the GIL: callers parallelize over chunks of pairs with threads."""
    m = pairs.shape[0]
    stat = np.empty(m)
    lag = np.empty(m, dtype=np.int64)
    hedge = np.empty(m)
    icpt = np.empty(m)
    status = np.empty(m, dtype=np.int64)
    for q in range(m):
        r = eg_pair(series[pairs[q, 0]], series[pairs[q, 1]], p)
        stat[q], lag[q], hedge[q], icpt[q], status[q] = r
    return stat, lag, hedge, icpt, status
