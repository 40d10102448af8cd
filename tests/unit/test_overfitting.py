"""PSR, DSR and PBO against the papers' worked numbers and against brute-force simulation.

References:
- [DSR] D. H. Bailey and M. López de Prado, "The Deflated Sharpe Ratio: Correcting for
  Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio Management
  40(5), 94-107, 2014 (SSRN 2460551), section "A numerical example".
- [PBO] D. H. Bailey, J. M. Borwein, M. López de Prado and Q. J. Zhu, "The Probability of
  Backtest Overfitting", Journal of Computational Finance 20(4), 2017 (SSRN 2326253, 2015).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import kurtosis, skew

from research.evaluation.overfitting import (
    column_sharpes,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    returns_matrix,
    selection_evidence,
    sharpe_moments,
    warn_if_overfit,
)
from shared.errors import DataError

# --- the papers' worked numbers ---------------------------------------------------------------


def test_expected_max_sharpe_matches_the_dsr_papers_numerical_example():
    # [DSR] numerical example: N = 100 trials whose annualized Sharpe ratios have variance 1/2,
    # daily data with 250 sessions a year: E[max SR] ≈ 0.1132 per day (≈ 1.79 annualized).
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    assert sr0 * math.sqrt(250) == pytest.approx(1.7894, abs=5e-4)


def test_deflated_sharpe_matches_the_dsr_papers_numerical_example():
    # [DSR] same example: best annualized SR 2.5 over T = 1250 days, skewness -3, kurtosis 10
    # → DSR ≈ 0.9004: not significant at 95% despite an annualized Sharpe of 2.5.
    dsr = deflated_sharpe_ratio(
        2.5 / math.sqrt(250), 1250, 100, 0.5 / 250, skewness=-3.0, kurtosis=10.0
    )
    assert dsr == pytest.approx(0.9004, abs=1e-4)
    assert warn_if_overfit({"dsr": dsr, "n_trials": 100})


def test_psr_is_one_half_at_its_benchmark_and_grows_with_the_sample():
    assert probabilistic_sharpe_ratio(0.1, 500, benchmark=0.1) == pytest.approx(0.5)
    assert probabilistic_sharpe_ratio(0.0, 500) == pytest.approx(0.5)
    short = probabilistic_sharpe_ratio(0.05, 100)
    long = probabilistic_sharpe_ratio(0.05, 2000)
    assert 0.5 < short < long < 1.0


def test_psr_penalises_negative_skew_and_fat_tails():
    normal = probabilistic_sharpe_ratio(0.08, 500, 0.0, 3.0)
    assert probabilistic_sharpe_ratio(0.08, 500, -2.0, 3.0) < normal
    assert probabilistic_sharpe_ratio(0.08, 500, 0.0, 12.0) < normal


def test_a_single_trial_is_not_deflated():
    assert expected_max_sharpe(1, 0.01) == 0.0
    assert deflated_sharpe_ratio(0.05, 500, 1, 0.01) == probabilistic_sharpe_ratio(0.05, 500)


# --- brute force ------------------------------------------------------------------------------


def _skewed_returns(rng: np.random.Generator, shape: tuple[int, ...], sharpe: float) -> np.ndarray:
    """Returns with negative skew and fat tails (a reflected gamma), scaled to a true Sharpe."""
    raw = -rng.gamma(2.0, 1.0, shape)
    raw = (raw + 2.0) / math.sqrt(2.0)  # mean 0, std 1
    return 0.01 * (raw + sharpe)


def test_psr_standard_error_matches_simulated_sharpe_dispersion_under_skew():
    rng = np.random.default_rng(11)
    true_sr, n_obs = 0.1, 250
    samples = _skewed_returns(rng, (4000, n_obs), true_sr)
    estimates = samples.mean(axis=1) / samples.std(axis=1)
    g3 = 2.0 / math.sqrt(2.0) * -1.0  # the reflected gamma(2)'s skewness, -√2
    g4 = 3.0 + 6.0 / 2.0  # its kurtosis, 6
    predicted = math.sqrt((1 - g3 * true_sr + (g4 - 1) / 4 * true_sr**2) / (n_obs - 1))
    assert np.std(estimates) == pytest.approx(predicted, rel=0.05)
    # The moments we feed the PSR are the ones the sample shows.
    assert skew(samples[0]) < -0.5 and kurtosis(samples[0], fisher=False) > 3.5


def test_psr_against_the_true_sharpe_is_calibrated():
    # When the true Sharpe equals the benchmark, PSR > 0.95 should happen about 5% of the time.
    rng = np.random.default_rng(12)
    true_sr = 0.05
    samples = _skewed_returns(rng, (3000, 500), true_sr)
    sharpes = samples.mean(axis=1) / samples.std(axis=1)
    skews, kurts = skew(samples, axis=1), kurtosis(samples, axis=1, fisher=False)
    assert sharpe_moments(samples[0]) == pytest.approx((sharpes[0], skews[0], kurts[0], 500))
    hits = sum(
        probabilistic_sharpe_ratio(sr, 500, g3, g4, benchmark=true_sr) > 0.95
        for sr, g3, g4 in zip(sharpes, skews, kurts, strict=True)
    )
    assert hits / len(samples) == pytest.approx(0.05, abs=0.015)


def test_expected_max_sharpe_matches_simulated_best_of_n_noise_strategies():
    rng = np.random.default_rng(13)
    n_trials, n_obs, repeats = 50, 500, 300
    best, variances = [], []
    for _ in range(repeats):
        sharpes = column_sharpes(rng.normal(0.0, 0.01, (n_obs, n_trials)))
        best.append(sharpes.max())
        variances.append(sharpes.var(ddof=1))
    predicted = expected_max_sharpe(n_trials, float(np.mean(variances)))
    assert np.mean(best) == pytest.approx(predicted, rel=0.05)


def test_dsr_rarely_passes_the_best_of_a_noise_grid_while_psr_often_does():
    rng = np.random.default_rng(14)
    psr_passes = dsr_passes = 0
    repeats = 200
    for _ in range(repeats):
        evidence = selection_evidence(rng.normal(0.0, 0.01, (500, 20)), n_splits=4)
        psr_passes += evidence["psr"] > 0.95
        dsr_passes += evidence["dsr"] > 0.95
    assert psr_passes / repeats > 0.3  # the naive test is fooled by selection
    assert dsr_passes / repeats < 0.1  # the deflated one mostly is not


# --- PBO --------------------------------------------------------------------------------------


def test_pbo_is_one_half_on_pure_noise():
    pbos = [
        probability_of_backtest_overfitting(
            np.random.default_rng(100 + seed).normal(0.0, 0.01, (400, 20)), n_splits=10
        ).pbo
        for seed in range(24)
    ]
    assert np.mean(pbos) == pytest.approx(0.5, abs=0.08)


def test_pbo_is_near_zero_when_one_config_has_a_real_edge():
    rng = np.random.default_rng(7)
    returns = rng.normal(0.0, 0.01, (1000, 30))
    returns[:, 17] += 0.003  # a daily Sharpe of 0.3 among noise
    result = probability_of_backtest_overfitting(returns, n_splits=16)
    assert result.pbo < 0.02
    assert result.oos_loss_probability < 0.02
    assert result.n_combinations == math.comb(16, 8)


def test_pbo_is_one_when_the_in_sample_winner_always_loses_out_of_sample():
    # Two configs, two blocks: each wins exactly where the other loses (hand-checkable CSCV).
    good_bad = np.array([[0.02, -0.01], [0.01, -0.02], [0.03, -0.01], [0.01, -0.03]])
    returns = np.vstack([good_bad, good_bad[:, ::-1]])
    result = probability_of_backtest_overfitting(returns, n_splits=2)
    assert result.pbo == 1.0
    assert result.n_combinations == 2
    np.testing.assert_allclose(result.logits, math.log((1 / 3) / (2 / 3)))


def test_pbo_rejects_bad_shapes_and_odd_splits():
    with pytest.raises(ValueError, match="even"):
        probability_of_backtest_overfitting(np.zeros((100, 3)), n_splits=5)
    with pytest.raises(DataError, match="at least 2 configs"):
        probability_of_backtest_overfitting(np.zeros((100, 1)))
    with pytest.raises(DataError, match="at least 32 observations"):
        probability_of_backtest_overfitting(np.zeros((20, 3)), n_splits=16)
    bad = np.zeros((100, 3))
    bad[5, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        probability_of_backtest_overfitting(bad, n_splits=4)


# --- the evidence dict and the warnings -------------------------------------------------------


def test_selection_evidence_defaults_to_the_best_column_and_counts_trials():
    rng = np.random.default_rng(3)
    returns = rng.normal(0.0, 0.01, (300, 6))
    returns[:, 4] += 0.004
    evidence = selection_evidence(returns, n_trials=12)
    assert evidence["chosen_column"] == 4
    assert evidence["n_trials"] == 12 and evidence["n_configs"] == 6 and evidence["n_obs"] == 300
    assert evidence["sharpe_daily"] == pytest.approx(column_sharpes(returns)[4])
    assert evidence["expected_max_sharpe_daily"] == pytest.approx(
        expected_max_sharpe(12, evidence["trials_sharpe_variance"])
    )
    assert 0.0 <= evidence["pbo"] <= 1.0 and evidence["pbo_splits"] == 16


def test_selection_evidence_uses_fewer_splits_on_short_samples():
    evidence = selection_evidence(np.random.default_rng(4).normal(0, 0.01, (20, 5)))
    assert evidence["pbo_splits"] == 10


def test_a_config_that_never_trades_has_sharpe_zero_not_nan():
    returns = np.zeros((50, 2))
    returns[:, 1] = np.random.default_rng(5).normal(0, 0.01, 50)
    assert column_sharpes(returns)[0] == 0.0
    assert sharpe_moments(returns[:, 0]) == (0.0, 0.0, 3.0, 50)


def test_warn_if_overfit_speaks_plainly_and_stays_quiet_on_good_evidence():
    assert warn_if_overfit({"dsr": 0.99, "pbo": 0.1}) == []
    messages = warn_if_overfit({"dsr": 0.42, "pbo": 0.7, "n_trials": 72})
    assert len(messages) == 2
    assert "Deflated Sharpe Ratio is 0.42" in messages[0] and "72 trials" in messages[0]
    assert "Probability of Backtest Overfitting is 0.70" in messages[1]
    assert "undefined" in warn_if_overfit({"dsr": None, "pbo": 0.2})[0]


def test_returns_matrix_takes_an_engines_detailed_grid_run_in_grid_order():
    from research.backtest.registry import ReferenceEngine
    from research.data.market_data import align_closes
    from research.data.synthetic import generate_universe
    from shared.strategy import Pair, StrategyParams

    data = align_closes(generate_universe(n_sessions=300), ["SYN_A", "SYN_B"])
    grid = [StrategyParams(window=20, entry_z=e, stake=20) for e in (1.0, 1.5, 2.0)]
    pair = [Pair("SYN_A", "SYN_B", 0.6)]
    results = ReferenceEngine().run(data, pair, grid, with_details=True)
    matrix = returns_matrix(results, 100_000.0)
    assert matrix.shape == (300, 3)
    sharpes = [r.metrics.sharpe_ratio for r in results]
    np.testing.assert_allclose(column_sharpes(matrix), sharpes, rtol=1e-12)
    with pytest.raises(DataError, match="with_details=True"):
        returns_matrix(ReferenceEngine().run(data, pair, grid), 100_000.0)
