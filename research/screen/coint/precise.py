"""Engle-Granger in 60-digit decimal arithmetic: the arbiter when two engines disagree.

statsmodels (SVD least squares) and the compiled kernel (normal equations) both work in double
precision; on a degenerate pair (both series flat for most of the window, say) each loses a
different number of digits and they can differ by 1e-6 while both look plausible. This module
recomputes ``coint(y0, y1)`` (trend "c", ADF with regression "n", autolag "aic", statsmodels'
default maxlag) with every sum and solve in :mod:`decimal` at :data:`DIGITS` significant
digits, starting from the exact values of the input doubles. It follows statsmodels' steps
exactly: OLS of y0 on [y1, 1]; R² against the collinearity threshold; the AIC lag search on
the common sample (rows maxlag .. n-2 of the differenced residuals, AIC = -2 llf + 2 (k+1),
ties to the smaller lag); the chosen lag refitted on its own sample; the level's t-statistic.

Slow (about a second a pair), so only disputed pairs go through it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, localcontext

from research.screen.coint.fast import adf_maxlag
from research.screen.coint.reference import COLLINEAR_RSQUARED

DIGITS = 60
Matrix = list[list[Decimal]]


@dataclass(frozen=True)
class PreciseEG:
    coint_t: float  # rounded to the nearest double; -inf when the pair is collinear
    lag: int  # -1 when collinear


def precise_engle_granger(y0: Iterable[float], y1: Iterable[float]) -> PreciseEG:
    """``coint(y0, y1)``'s statistic and lag computed with :data:`DIGITS` digits."""
    with localcontext() as ctx:
        ctx.prec = DIGITS
        y = [Decimal(float(v)) for v in y0]
        x = [Decimal(float(v)) for v in y1]
        e, rsq = _first_stage(y, x)
        if rsq >= Decimal(COLLINEAR_RSQUARED):
            return PreciseEG(-math.inf, -1)
        d = [e[t + 1] - e[t] for t in range(len(e) - 1)]
        p = adf_maxlag(len(e))
        lag = _aic_lag(e, d, p)
        return PreciseEG(float(_level_t(e, d, lag, first=lag)), lag)


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal(0))


def _first_stage(y: list[Decimal], x: list[Decimal]) -> tuple[list[Decimal], Decimal]:
    n = Decimal(len(y))
    ym, xm = _sum(y) / n, _sum(x) / n
    sxx = _sum((v - xm) ** 2 for v in x)
    sxy = _sum((u - xm) * (v - ym) for u, v in zip(x, y, strict=True))
    syy = _sum((v - ym) ** 2 for v in y)
    slope = sxy / sxx
    intercept = ym - slope * xm
    e = [v - (u * slope + intercept) for u, v in zip(x, y, strict=True)]
    return e, 1 - _sum(r * r for r in e) / syy


def _design(e: list[Decimal], d: list[Decimal], k: int, first: int) -> tuple[Matrix, list[Decimal]]:
    """Rows r = first .. n-2 of the ADF regression with k lags: regressors [e_r, d_{r-1} ..
    d_{r-k}], target d_r."""
    rows = [[e[r], *(d[r - j] for j in range(1, k + 1))] for r in range(first, len(d))]
    return rows, d[first:]


def _normal_equations(rows: Matrix, target: list[Decimal]) -> tuple[Matrix, list[Decimal]]:
    m = len(rows[0])
    gram = [[_sum(r[i] * r[j] for r in rows) for j in range(m)] for i in range(m)]
    xty = [_sum(r[i] * v for r, v in zip(rows, target, strict=True)) for i in range(m)]
    return gram, xty


def _solve(a: Matrix, b: list[Decimal]) -> list[Decimal]:
    """Gaussian elimination with partial pivoting (the matrices are at most ~25 x 25)."""
    m = len(b)
    aug = [[*row, rhs] for row, rhs in zip(a, b, strict=True)]
    for c in range(m):
        pivot = max(range(c, m), key=lambda r: abs(aug[r][c]))
        aug[c], aug[pivot] = aug[pivot], aug[c]
        for r in range(c + 1, m):
            f = aug[r][c] / aug[c][c]
            aug[r] = [u - f * v for u, v in zip(aug[r], aug[c], strict=True)]
    out = [Decimal(0)] * m
    for r in range(m - 1, -1, -1):
        out[r] = (aug[r][m] - _sum(aug[r][j] * out[j] for j in range(r + 1, m))) / aug[r][r]
    return out


def _aic_lag(e: list[Decimal], d: list[Decimal], p: int) -> int:
    """statsmodels' autolag "aic" on the common sample; the smaller lag on an exact tie."""
    rows, target = _design(e, d, p, first=p)
    gram, xty = _normal_equations(rows, target)
    yty = _sum(v * v for v in target)
    nobs = Decimal(len(target))
    best: tuple[Decimal, int] | None = None
    for k in range(p + 1):
        size = k + 1  # the level and k lagged differences: a prefix of the full model
        sub = [row[:size] for row in gram[:size]]
        beta = _solve(sub, xty[:size])
        ssr = yty - _sum(b * v for b, v in zip(beta, xty[:size], strict=True))
        # -2 llf + 2 (k+1) without the terms every lag shares.
        aic = nobs * (ssr / nobs).ln() + 2 * size
        if best is None or (aic, k) < best:
            best = (aic, k)
    assert best is not None
    return best[1]


def _level_t(e: list[Decimal], d: list[Decimal], k: int, first: int) -> Decimal:
    rows, target = _design(e, d, k, first)
    gram, xty = _normal_equations(rows, target)
    beta = _solve(gram, xty)
    ssr = _sum(
        (v - _sum(b * x for b, x in zip(beta, r, strict=True))) ** 2
        for r, v in zip(rows, target, strict=True)
    )
    dof = len(target) - len(beta)
    unit = [Decimal(1)] + [Decimal(0)] * (len(beta) - 1)
    inverse_00 = _solve(gram, unit)[0]  # (X'X)^-1 [0, 0]
    return beta[0] / (ssr / dof * inverse_00).sqrt()
