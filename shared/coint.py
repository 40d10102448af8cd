"""The Engle-Granger test: statsmodels' ``coint`` with its defaults, step by step.

``coint(y0, y1)`` (trend "c", autolag "aic") is an OLS of ``y0`` on ``[y1, 1]`` followed by
``adfuller(resid, regression="n", autolag="aic")`` and MacKinnon's N=2 surface. It is spelled out
here with the very same statsmodels calls so that the chosen ADF lag and the first-stage fit are
available too (``coint`` returns neither); a parity test checks this against ``coint`` itself,
value for value. Research's screen uses it as its reference engine (its compiled engine returns
the same numbers) and the daemon's pair health uses it on a trailing window, so both judge a
pair with one test. statsmodels is imported inside the calls: importing this module is free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# statsmodels' threshold in ``coint``: R² at or above this means "(almost) perfectly collinear",
# the ADF step is skipped and the t-statistic is -inf (p-value 0).
SQRTEPS = float(np.sqrt(np.finfo(np.double).eps))
COLLINEAR_RSQUARED = 1 - 100 * SQRTEPS
N_VARS = 2  # MacKinnon's N: two I(1) series


@dataclass(frozen=True)
class EngleGranger:
    """One ``coint(y0, y1)``: statistic, p-value, critical values, plus what it was fitted on."""

    coint_t: float
    pvalue: float
    crit: tuple[float, float, float]  # 1%, 5%, 10%
    lag: int  # ADF lag chosen by AIC; -1 when the pair is collinear (no ADF step)
    hedge_ratio: float  # OLS slope of y0 on y1 (with a constant)
    intercept: float
    n_obs: int


def critical_values(n_obs: int) -> tuple[float, float, float]:
    """``coint``'s critical values for ``n_obs`` aligned observations (it passes nobs - 1)."""
    from statsmodels.tsa.adfvalues import mackinnoncrit

    c = mackinnoncrit(N=N_VARS, regression="c", nobs=n_obs - 1)
    return float(c[0]), float(c[1]), float(c[2])


def engle_granger(y0: np.ndarray, y1: np.ndarray) -> EngleGranger:
    """statsmodels' ``coint(y0, y1)`` with defaults, plus the chosen lag and the OLS fit."""
    from statsmodels.regression.linear_model import OLS
    from statsmodels.tsa.adfvalues import mackinnonp
    from statsmodels.tsa.stattools import adfuller
    from statsmodels.tsa.tsatools import add_trend

    y0 = np.asarray(y0, dtype=np.float64)
    y1 = np.asarray(y1, dtype=np.float64)
    res_co = OLS(y0, add_trend(y1[:, None], trend="c", prepend=False)).fit()
    if res_co.rsquared < COLLINEAR_RSQUARED:
        adf = adfuller(
            res_co.resid, maxlag=None, autolag="aic", regression="n", result_object=False
        )
        coint_t, lag = float(adf[0]), int(adf[2])
    else:
        coint_t, lag = -math.inf, -1
    if len(res_co.params) == 2:
        hedge, intercept = float(res_co.params[0]), float(res_co.params[1])
    else:  # y1 constant: add_trend kept it as the only column, y0 is fitted by its mean
        hedge, intercept = 0.0, float(res_co.fittedvalues[0])
    return EngleGranger(
        coint_t=coint_t,
        pvalue=float(mackinnonp(coint_t, regression="c", N=N_VARS)),
        crit=critical_values(len(y0)),
        lag=lag,
        hedge_ratio=hedge,
        intercept=intercept,
        n_obs=len(y0),
    )
