"""shared.health: the health figures are statsmodels' on the same window, the innovations are the
strategy filter's own, and the thresholds flag what they say."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2
from statsmodels.regression.linear_model import OLS
from statsmodels.tools import add_constant
from statsmodels.tsa.stattools import coint

from shared.health import (
    CHI2_1_99,
    COINTEGRATION,
    HALF_LIFE,
    INNOVATION_BOUND,
    INNOVATIONS,
    TIME_IN_TRADE,
    EntryRule,
    HealthRules,
    PairHealth,
    ar1_half_life,
    innovation_share,
    normalized_innovations,
    ols_spread,
    pair_health,
    spread_half_life,
    with_days_in_trade,
)
from shared.kalman import KalmanState, innovation, kalman_update
from shared.strategy import Pair, PairState, StrategyParams, step_pair
from tests.parity import synthetic_pairs as sp

RULES = HealthRules()


def _legs(seed: int, n: int = 400, broken: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a, b = sp.cointegrated_legs(
        rng, n, beta=0.7, level_b=80.0, intercept=15.0, spread_sd=0.9, kappa=0.2
    )
    if broken:
        a = a + np.cumsum(rng.normal(0.0, 1.0, n))
    return a, b


def _statsmodels_half_life(spread: np.ndarray) -> float:
    fit = OLS(np.diff(spread), add_constant(spread[:-1])).fit()
    slope = float(fit.params[1])
    return math.log(0.5) / math.log(1.0 + slope)


def test_the_chi_square_bound_is_scipys() -> None:
    assert chi2.ppf(0.99, 1) == pytest.approx(CHI2_1_99, rel=1e-15)
    assert pytest.approx(2.5758293035489, rel=1e-12) == INNOVATION_BOUND


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("broken", [False, True])
def test_the_p_value_and_statistic_are_statsmodels_coint_on_the_trailing_window(
    seed: int, broken: bool
) -> None:
    a, b = _legs(seed, broken=broken)
    z = normalized_innovations(a, b, 0.7, 1e-5, 1e-3)
    health = pair_health(a, b, z, None, RULES)
    t, p, _ = coint(a[-RULES.window :], b[-RULES.window :])
    assert health.coint_t == t  # the same calls: equal, not close
    assert health.pvalue == p
    assert health.n_obs == len(a) and health.measured


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_half_life_is_the_ar1_regression_of_statsmodels_on_the_window_spread(
    seed: int,
) -> None:
    a, b = _legs(seed)
    wa, wb = a[-RULES.window :], b[-RULES.window :]
    fit = OLS(wa, add_constant(wb)).fit()  # the Engle-Granger first stage
    spread = wa - (fit.params[0] + fit.params[1] * wb)
    np.testing.assert_allclose(ols_spread(wa, wb), spread, rtol=0, atol=1e-10)
    want = _statsmodels_half_life(spread)
    z = normalized_innovations(a, b, 0.7, 1e-5, 1e-3)
    health = pair_health(a, b, z, None, RULES)
    assert health.half_life == pytest.approx(want, rel=1e-10)
    assert spread_half_life(wa, wb) == pytest.approx(want, rel=1e-10)


def test_a_spread_that_does_not_revert_has_an_infinite_half_life() -> None:
    assert ar1_half_life(np.arange(50.0) ** 1.5) == math.inf  # drifting away
    assert ar1_half_life(np.full(30, 2.0)) == math.inf  # constant: nothing to revert
    alternating = np.array([1.0, -1.0] * 20)
    assert ar1_half_life(alternating) == 0.0  # lambda = -2: reverts within a bar
    s = np.array([8.0, 4.0, 2.0, 1.0, 0.5, 0.25])  # halves every session
    assert ar1_half_life(s) == pytest.approx(1.0, rel=1e-12)


def test_the_innovations_are_the_strategy_filters_prediction_errors() -> None:
    a, b = _legs(5, n=120)
    params = StrategyParams(window=10, delta=1e-4, R=0.01)
    pair = Pair("A", "B", 0.7)
    state = PairState.initial(pair)
    want = []
    for pa, pb in zip(a, b, strict=True):
        prior = state.kalman
        P_prior = prior.P + params.delta / (1 - params.delta)
        e = pa - prior.beta * pb
        S = P_prior * pb**2 + params.R
        want.append(e / math.sqrt(S))
        assert innovation(prior, pa, pb, params.delta, params.R) == (e, S)
        state = step_pair(0, pair, state, pa, pb, 0, 0, params).state
        assert state.kalman == kalman_update(prior, pa, pb, params.delta, params.R)
    got = normalized_innovations(a, b, 0.7, params.delta, params.R)
    assert got.tolist() == want  # bit for bit: the daemon and the backtest read the same


def test_the_innovation_share_counts_the_sessions_beyond_the_99_percent_bound() -> None:
    z = np.array([0.0, 2.5, -2.6, 2.57, -2.58, 10.0, 1.0, 0.5])
    assert innovation_share(z) == 3 / 8  # -2.6, -2.58, 10
    rng = np.random.default_rng(0)
    share = innovation_share(rng.normal(size=200_000))
    assert share == pytest.approx(0.01, abs=0.001)  # the filter's model right: 1%


def test_fewer_closes_than_the_window_are_not_measured() -> None:
    a, b = _legs(0, n=RULES.window - 1)
    health = pair_health(a, b, a[:0], 5.0, RULES)
    assert not health.measured and not health.degraded
    assert health.as_dict()["status"] == "unmeasured"
    with pytest.raises(ValueError):
        HealthRules(window=59)


def test_each_measure_is_flagged_beyond_its_threshold_and_only_then() -> None:
    a, b = _legs(1)
    z = normalized_innovations(a, b, 0.7, 1e-5, 1e-3)
    base = pair_health(a, b, z, None, RULES)
    assert base.pvalue is not None and base.half_life is not None
    assert base.innovation_share is not None
    loose = HealthRules(max_pvalue=0.99, max_innovation_share=0.99)
    healthy = pair_health(a, b, z, base.half_life, loose)
    assert healthy.flags == () and healthy.describe() == "healthy"
    strict = HealthRules(
        max_pvalue=base.pvalue / 2,
        max_half_life_ratio=0.5,
        max_innovation_share=max(base.innovation_share / 2, 1e-9),
    )
    flagged = pair_health(a, b, z, base.half_life, strict, days_in_trade=4)
    assert flagged.flags[:3] == (COINTEGRATION, HALF_LIFE, INNOVATIONS)
    assert flagged.blocks_entries and len(flagged.reasons) == len(flagged.flags)
    # the half-life is judged only against a known formation half-life
    assert HALF_LIFE not in pair_health(a, b, z, None, strict).flags


def test_time_in_trade_is_judged_against_the_formation_half_life_and_never_blocks() -> None:
    health = PairHealth(300, 252, pvalue=0.01, formation_half_life=10.0)
    assert with_days_in_trade(health, 30, RULES).flags == ()
    long = with_days_in_trade(health, 31, RULES)
    assert long.flags == (TIME_IN_TRADE,) and not long.blocks_entries
    assert "31 sessions in the current trade" in long.describe()
    assert with_days_in_trade(long, None, RULES).flags == ()  # flat again
    unknown = PairHealth(300, 252, pvalue=0.01)
    assert with_days_in_trade(unknown, 1000, RULES).flags == ()


def test_the_stored_form_round_trips() -> None:
    a, b = _legs(2, broken=True)
    z = normalized_innovations(a, b, 0.7, 1e-5, 1e-3)
    health = pair_health(a, b, z, 3.0, RULES, days_in_trade=40)
    assert health.degraded
    assert PairHealth.from_dict(health.as_dict()) == health
    drifting = PairHealth(300, 252, pvalue=0.9, coint_t=-1.0, half_life=math.inf)
    data = drifting.as_dict()
    assert data["half_life"] is None and data["mean_reverting"] is False
    assert PairHealth.from_dict(data) == drifting


def test_the_backtest_rule_blocks_a_degraded_pair_only() -> None:
    healthy_a, healthy_b = _legs(3)
    broken_a, broken_b = _legs(3, broken=True)
    rule = EntryRule(HealthRules(), (None, None))
    z = normalized_innovations(healthy_a, healthy_b, 0.7, 1e-5, 1.0)
    assert rule.blocks(0, healthy_a, healthy_b, z) is None
    zb = normalized_innovations(broken_a, broken_b, 0.7, 1e-5, 1.0)
    blocked = rule.blocks(1, broken_a, broken_b, zb)
    assert blocked is not None and COINTEGRATION in blocked.flags


def test_the_window_reads_the_pairs_own_trailing_closes() -> None:
    a, b = _legs(4, n=300)
    frame = pd.DataFrame({"a": a, "b": b})
    z = normalized_innovations(a, b, 0.7, 1e-5, 1e-3)
    whole = pair_health(a, b, z, None, RULES)
    tail = frame.iloc[-RULES.window :]
    t, p, _ = coint(tail["a"], tail["b"])
    assert (whole.coint_t, whole.pvalue) == (t, p)
    assert whole.innovation_share == innovation_share(z[-RULES.window :])
    assert isinstance(KalmanState(beta=0.7), KalmanState)
