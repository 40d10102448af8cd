"""The compiled Engle-Granger test returns statsmodels' own numbers.

Randomized series of the kinds a screen meets (random walks, cointegrated pairs, nearly collinear
pairs, short series, constant stretches, very different scales); each is run through the compiled
kernel, with the statsmodels fallback for the pairs it defers, and compared with
``statsmodels.tsa.stattools.coint`` itself: t-statistic and p-value within 1e-12 (relative to
|t| for t beyond -1), the same AIC lag as ``adfuller`` picks, identical critical values.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from statsmodels.tsa.adfvalues import mackinnonp
from statsmodels.tsa.stattools import adfuller, coint

from research.screen.coint import engines, fast
from research.screen.coint.mackinnon import mackinnon_pvalues
from research.screen.coint.reference import engle_granger, single_threaded_blas
from research.screen.coint.universe import MIN_OBS, build_universe, ordered_pairs

SETTINGS = settings(
    derandomize=True,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _statsmodels(y: np.ndarray, x: np.ndarray) -> tuple[float, float, np.ndarray]:
    with warnings.catch_warnings(), single_threaded_blas():
        warnings.simplefilter("ignore")  # CollinearityWarning on the near-collinear cases
        t, p, crit = coint(y, x)
    return float(t), float(p), np.asarray(crit)


def _assert_same(y: np.ndarray, x: np.ndarray, rel: float = 1e-12) -> None:
    t_ref, p_ref, crit_ref = _statsmodels(y, x)
    one = engines.coint_one(y, x)
    if np.isinf(t_ref):
        assert one.coint_t == t_ref
    else:
        assert abs(one.coint_t - t_ref) <= rel * max(1.0, abs(t_ref)), (one.coint_t, t_ref)
    assert abs(one.pvalue - p_ref) <= 1e-12
    assert one.crit == tuple(crit_ref)  # identical, not close
    with single_threaded_blas():
        assert one.lag == engle_granger(y, x).lag


def _walk(rng: np.random.Generator, n: int, start: float = 100.0, vol: float = 1.0) -> np.ndarray:
    return start + np.cumsum(rng.normal(0.0, vol, n))


seeds = st.integers(0, 2**32 - 1)
lengths = st.integers(MIN_OBS, 700)


@SETTINGS
@given(seed=seeds, n=lengths)
def test_independent_random_walks_match_statsmodels(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    _assert_same(_walk(rng, n, 50.0), _walk(rng, n, 120.0))


@SETTINGS
@given(seed=seeds, n=lengths, hedge=st.floats(-3, 3).filter(lambda h: abs(h) > 0.05))
def test_cointegrated_pairs_match_statsmodels(seed: int, n: int, hedge: float) -> None:
    rng = np.random.default_rng(seed)
    x = _walk(rng, n, 200.0)
    spread = np.zeros(n)
    for t in range(1, n):  # AR(1) spread: mean reverting
        spread[t] = 0.9 * spread[t - 1] + rng.normal()
    _assert_same(30.0 + hedge * x + spread, x)


@SETTINGS
@given(seed=seeds, n=lengths, log_noise=st.floats(-9, -3))
def test_nearly_collinear_pairs_match_statsmodels(seed: int, n: int, log_noise: float) -> None:
    # Past R² = 1 - 100 sqrt(eps) both return t = -inf; just below it the statistic is
    # ill-conditioned in both implementations (residuals ~1e-7 of the prices), so agreement is
    # to 1e-9 relative there.
    rng = np.random.default_rng(seed)
    x = _walk(rng, n, 300.0)
    _assert_same(5.0 + 1.7 * x + 10**log_noise * x.std() * rng.normal(size=n), x, rel=1e-9)


@SETTINGS
@given(seed=seeds, n=st.integers(MIN_OBS, 2 * MIN_OBS))  # the shortest series the screen takes
def test_short_series_match_statsmodels(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    x = _walk(rng, n)
    _assert_same(0.5 * x + _walk(rng, n, 10.0, 0.3), x)


@SETTINGS
@given(
    seed=seeds,
    n=st.integers(80, 500),
    start=st.floats(0.0, 0.8),
    share=st.floats(0.05, 0.4),
)
def test_constant_stretches_match_statsmodels(
    seed: int, n: int, start: float, share: float
) -> None:
    # A halted ticker: its price stays flat for a while (zero returns in the ADF lags).
    rng = np.random.default_rng(seed)
    x, y = _walk(rng, n), _walk(rng, n, 80.0)
    a, b = int(start * n), int(start * n) + max(2, int(share * n))
    x[a:b] = x[a]
    y[a : (a + b) // 2] = y[a]
    _assert_same(y, x)


def test_perfectly_collinear_pair_is_minus_infinity_like_statsmodels() -> None:
    x = _walk(np.random.default_rng(3), 300)
    _assert_same(2.0 * x + 1.0, x)
    assert engines.coint_one(2.0 * x + 1.0, x).lag == -1


def test_kernel_defers_degenerate_pairs_to_statsmodels() -> None:
    x = _walk(np.random.default_rng(4), 200)
    flat = np.full(200, 50.0)
    assert fast.eg_pair(x, flat, fast.adf_maxlag(200))[4] == fast.NEEDS_REFERENCE
    _assert_same(x, flat)  # the fallback gives statsmodels' own answer


def test_vectorized_pvalues_equal_mackinnonp_bit_for_bit() -> None:
    stats = np.concatenate(
        [np.linspace(-25.0, 5.0, 3001), [-np.inf, np.inf, -18.86, -2.62, 0.92, -3.0]]
    )
    ours = mackinnon_pvalues(stats)
    theirs = np.array([mackinnonp(t, regression="c", N=2) for t in stats])
    assert np.array_equal(ours, theirs)
    assert ours[0] == 0.0 and ours[-5] == 1.0  # beyond the surface's range, as statsmodels
    assert norm.cdf(0.0) == 0.5  # the same scipy function underneath


def test_fast_engine_equals_statsmodels_engine_on_a_universe_both_directions() -> None:
    rng = np.random.default_rng(11)
    n = 260
    x = _walk(rng, n, 100.0)
    closes = {
        "A": x,
        "B": 3.0 + 0.8 * x + rng.normal(0, 1.0, n),
        "C": _walk(rng, n, 60.0),
        "D": _walk(rng, n, 40.0, 0.5),
    }
    frame = pd.DataFrame(closes)
    frame.loc[10:30, "D"] = np.nan  # a ticker with a gap: pairwise alignment in both engines
    universe = build_universe(frame)
    pairs = ordered_pairs(universe.n_tickers, "both")
    fast_stats, _ = engines.run_fast(universe, pairs, progress=False, workers=1)
    ref_stats, _ = engines.run_statsmodels(universe, pairs, progress=False)
    for field in ("pvalue", "coint_t"):
        assert np.allclose(fast_stats[field], ref_stats[field], rtol=1e-12, atol=1e-12)
    for field in ("crit_1pct", "crit_5pct", "crit_10pct", "n_obs", "lag", "corr"):
        assert np.array_equal(fast_stats[field], ref_stats[field]), field
    assert np.allclose(fast_stats["hedge_ratio"], ref_stats["hedge_ratio"], rtol=1e-10)


@pytest.mark.parametrize("n", [MIN_OBS, 41, 100, 1255])
def test_maxlag_is_statsmodels_default(n: int) -> None:
    # adfuller's own rule, checked through the lag search range statsmodels reports
    x = _walk(np.random.default_rng(n), n)
    with single_threaded_blas():
        res = adfuller(x, regression="n", autolag="aic", store=True, result_object=True)
    assert res.resstore is not None
    assert res.resstore.maxlag == fast.adf_maxlag(n)
