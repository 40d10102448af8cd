"""The compiled engine's building blocks land on the reference's bits: numpy's pairwise sums,
the z-score, the Kalman path (libm ``pow``), and the engine contract around them."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import research
from research.backtest.fast import kernels
from research.backtest.fast.plan import ConfigBatch, PathTables, Portfolio, run_batch
from research.backtest.fast_engine import FastEngine
from research.data.market_data import AlignedCloses
from research.kernel_cache import KERNEL_PACKAGES, choose_cache_dir, kernel_sources_tag
from shared.errors import ConfigError, DataError
from shared.kalman import KalmanState, kalman_update
from shared.simulation import simulate
from shared.strategy import Pair, StrategyParams
from shared.zscore import rolling_zscore

RNG = np.random.default_rng(20240611)


def _tree_sum(values: np.ndarray) -> float:
    return float(kernels.tree_sum(values, 0, kernels.sum_program(len(values)), np.empty(64)))


@pytest.mark.parametrize("n", [*range(1, 300), 383, 1000, 1255, 2049, 5000])
def test_tree_sum_equals_numpy_sum_bit_for_bit(n: int) -> None:
    for scale, offset in ((1.0, 0.0), (1e-3, 100.0), (1e6, -5e6)):
        values = RNG.standard_normal(n) * scale + offset
        assert _tree_sum(values) == np.sum(values)


def test_zscore_path_equals_the_reference_zscore_on_every_bar() -> None:
    """Bit equality means no threshold decision can flip; windows above numpy's 128-value
    block use the recursive summation tree."""
    for window in (2, 7, 8, 9, 45, 60, 90, 127, 128, 129, 200, 257):
        for trend in (0.0, 1e3):
            spreads = np.cumsum(RNG.standard_normal(400)) + trend * np.arange(400) / 400
            z = np.empty(400)
            kernels.zscore_path(spreads, window, kernels.sum_program(window), z)
            history = spreads.tolist()
            for t in range(400):
                expected = rolling_zscore(history[: t + 1], window)
                if expected is None:
                    assert np.isnan(z[t])
                else:
                    assert z[t] == expected, (window, t)


def test_zero_std_window_is_skipped_like_the_reference() -> None:
    spreads = np.array([1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 4.0])
    z = np.empty(len(spreads))
    kernels.zscore_path(spreads, 3, kernels.sum_program(3), z)
    assert np.isnan(z[:2]).all() and np.isnan(z[4]) and np.isnan(z[5])
    assert z[3] == rolling_zscore(spreads[:4].tolist(), 3)


def _pow_sensitive_prices(n: int) -> np.ndarray:
    """Prices where glibc's ``x**2`` and ``x*x`` differ in the last bit (about 1 in 1,300)."""
    found: list[float] = []
    rnd = random.Random(5)
    while len(found) < n:
        x = round(rnd.uniform(1, 1000), 4)
        if x**2 != x * x:
            found.append(x)
    return np.array(found)


def test_kalman_path_equals_the_shared_filter_including_pow_rounding() -> None:
    price_b = np.concatenate([_pow_sensitive_prices(200), RNG.uniform(5, 500, 200), [0.0, 0.0]])
    price_a = 1.3 * price_b + RNG.normal(0, 1, len(price_b)) + 10
    for delta, R, beta0 in ((1e-5, 1e-3, 1.2), (1e-3, 0.5, -0.8), (0.02, 1e-2, 0.0)):
        beta = np.empty(len(price_b))
        spread = np.empty(len(price_b))
        kernels.kalman_path(price_a, price_b, beta0, delta, R, 2.0, beta, spread)
        state = KalmanState(beta=beta0)
        for t in range(len(price_b)):
            state = kalman_update(state, float(price_a[t]), float(price_b[t]), delta, R)
            assert beta[t] == state.beta, (delta, t)
            assert spread[t] == float(price_a[t]) - state.beta * float(price_b[t])


def _data(closes: np.ndarray, symbols: tuple[str, ...]) -> AlignedCloses:
    dates = pd.bdate_range("2023-01-02", periods=closes.shape[0])
    return AlignedCloses(symbols, dates, closes)


def test_a_config_that_never_trades_has_an_undefined_sharpe_and_flat_metrics() -> None:
    closes = np.column_stack([np.linspace(10, 20, 120), np.linspace(5, 10, 120)])
    (result,) = FastEngine().run(
        _data(closes, ("A", "B")), [Pair("A", "B", 2.0)], [StrategyParams(entry_z=50.0)]
    )
    m = result.metrics
    assert m.sharpe_ratio is None and m.total_trades == 0 and m.n_days == 120
    assert (m.final_value, m.total_return, m.max_dd_pct, m.max_dd_abs) == (100_000.0, 0.0, 0.0, 0.0)


def test_results_keep_the_order_of_the_parameter_list_across_windows_and_deltas() -> None:
    rng = np.random.default_rng(3)
    b = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    a = 1.5 * b + 3 * np.sin(np.arange(300) / 6) + rng.normal(0, 0.3, 300)
    data = _data(np.column_stack([a, b]), ("A", "B"))
    params = [
        StrategyParams(window=w, entry_z=e, delta=d, stake=s)
        for w, e, d, s in [(90, 2.0, 1e-4, 25), (30, 1.5, 1e-5, 75), (90, 2.0, 1e-5, 50)]
    ]
    results = FastEngine().run(data, [Pair("A", "B", 1.4)], params)
    for p, r in zip(params, results, strict=True):
        assert r.params == p
        assert r.metrics == simulate(data.closes, data.symbols, [Pair("A", "B", 1.4)], p).metrics
    assert results[0].fills is None and results[0].values is None  # details only when asked


def test_engine_names_the_missing_ticker_and_the_bad_key() -> None:
    data = _data(np.ones((50, 2)), ("A", "B"))
    with pytest.raises(DataError, match="ZZZ"):
        FastEngine().run(data, [Pair("A", "ZZZ", 1.0)], [StrategyParams()])
    with pytest.raises(ConfigError, match="window"):
        FastEngine().run(data, [Pair("A", "B", 1.0)], [StrategyParams(window=0)])
    assert FastEngine().run(data, [Pair("A", "B", 1.0)], []) == []


def test_warm_up_reports_the_compile_time_once() -> None:
    engine = FastEngine()
    seconds = engine.warm_up()
    assert seconds >= 0.0 and engine.compile_seconds == seconds
    assert engine.warm_up() == seconds


def test_config_batch_keeps_the_params_columns() -> None:
    params = [StrategyParams(window=45, stake=25, long_only=True), StrategyParams(R=0.5)]
    batch = ConfigBatch.from_params(params)
    assert batch.window.tolist() == [45, 60] and batch.long_only.tolist() == [True, False]
    assert batch.R.tolist() == [0.001, 0.5] and len(batch) == 2


def test_numba_cache_lives_next_to_the_source_keyed_by_the_kernel_sources(
    tmp_path: Path,
) -> None:
    assert choose_cache_dir(tmp_path, {}, "abc") == str(tmp_path / "__pycache__" / "numba-abc")


def test_any_edit_to_a_kernel_module_changes_the_cache_key(tmp_path: Path) -> None:
    fast, coint = KERNEL_PACKAGES
    for package in KERNEL_PACKAGES:
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "kernels.py").write_text("x = 1\n")
    before = kernel_sources_tag(tmp_path)
    assert kernel_sources_tag(tmp_path) == before
    (tmp_path / coint / "helper.py").write_text("y = 2\n")  # a new module: new key
    after_new = kernel_sources_tag(tmp_path)
    (tmp_path / fast / "kernels.py").write_text("x = 2\n")  # an edited module: new key
    assert len({before, after_new, kernel_sources_tag(tmp_path)}) == 3


def test_numba_cache_respects_an_explicit_cache_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    assert choose_cache_dir(blocker, {"NUMBA_CACHE_DIR": "/somewhere"}, "abc") is None


def test_numba_cache_falls_back_to_a_writable_dir_when_the_source_is_read_only(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "not_a_dir"  # a file: nothing can be created beneath it
    blocker.write_text("")
    chosen = choose_cache_dir(blocker, {"XDG_CACHE_HOME": str(tmp_path / "cache")}, "abc")
    assert chosen == str(tmp_path / "cache" / "kalman-pairs" / "numba-abc")
    assert os.access(chosen, os.W_OK)
    home_blocked = choose_cache_dir(blocker, {"XDG_CACHE_HOME": str(blocker)}, "abc")
    assert home_blocked is not None and os.access(home_blocked, os.W_OK)


def test_a_negative_hedge_size_is_sent_as_its_absolute_value_in_the_stated_direction() -> None:
    """Unreachable through the Kalman filter with positive prices (beta turns positive on the
    first update), so the kernel is fed a negative beta path directly: a long-spread entry buys
    |int(beta*stake)| of A and sells the stake of B, as backtrader's ``buy(size<0)`` does."""
    closes = np.array([[10.0, 20.0], [10.0, 20.0], [11.0, 21.0], [12.0, 22.0]])
    portfolio = Portfolio(closes, np.array([0]), np.array([1]), np.array([-0.5]))
    nan = np.nan
    paths = PathTables(
        betas=np.full((1, 4), -0.5),
        zs=np.array([[nan, -3.0, 0.0, 0.0]]),  # entry long on bar 1, exit on bar 2
        beta_rows=np.zeros((1, 1), dtype=np.int64),
        z_rows=np.zeros((1, 1), dtype=np.int64),
    )
    batch = ConfigBatch.from_params([StrategyParams(window=1, entry_z=2.0, stake=50)])
    out = run_batch(portfolio, batch, paths, initial_cash=1e4, commission=0.0, detail=True)
    assert out.fills[:, :3].tolist() == [[2, 0, 25], [2, 1, -50], [3, 0, -25], [3, 1, 50]]


def test_zero_std_windows_are_skipped_in_the_vectorized_lanes_too() -> None:
    spreads = np.concatenate([np.arange(10.0), np.full(13, 2.5), np.arange(9.0)])
    for window in (8, 9, 12):
        z = np.empty(len(spreads))
        kernels.zscore_path(spreads, window, kernels.sum_program(window), z)
        for t in range(len(spreads)):
            expected = rolling_zscore(spreads[: t + 1].tolist(), window)
            assert (np.isnan(z[t]) and expected is None) or z[t] == expected, (window, t)
        assert np.isnan(z[10 + window - 1])  # a window entirely inside the flat run


def test_every_kernel_package_the_cache_key_hashes_exists_with_sources() -> None:
    research_dir = Path(research.__file__).resolve().parent
    for package in KERNEL_PACKAGES:
        assert sorted((research_dir / package).glob("*.py")), package


def test_editing_the_shared_metrics_declaration_changes_the_cache_key(tmp_path: Path) -> None:
    research_dir = tmp_path / "research"
    for package in KERNEL_PACKAGES:
        (research_dir / package).mkdir(parents=True)
        (research_dir / package / "kernels.py").write_text("x = 1\n")
    (tmp_path / "shared").mkdir()
    metrics = tmp_path / "shared" / "metrics.py"
    metrics.write_text("RUN_METRICS = ('a', 'b')\n")
    before = kernel_sources_tag(research_dir)
    metrics.write_text("RUN_METRICS = ('b', 'a')\n")  # the kernel's columns move: recompile
    assert kernel_sources_tag(research_dir) != before
