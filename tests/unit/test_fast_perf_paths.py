"""The compiled engine's shortcuts land on the same bits as the plain computation: the vector
summation leaf, the block skip-scans of a z-series, and the metrics accumulated during the
simulation (flat stretches skipped, a value that stands still, a value that reaches 0)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from research.backtest.fast import kernels, zblocks
from research.backtest.fast.plan import ConfigBatch, PathTables, Portfolio, metrics_rows, run_batch
from research.backtest.fast_engine import FastEngine
from research.data.market_data import AlignedCloses
from shared.metrics import compute_metrics
from shared.orders import Fill
from shared.simulation import simulate
from shared.strategy import Pair, StrategyParams

RNG = np.random.default_rng(7)


def test_vector_block_sum_equals_numpy_at_every_length_and_unaligned_offset() -> None:
    values = RNG.standard_normal(160) * 1e3 + 17.0
    for lo in range(10):
        for n in range(1, 129):
            assert kernels.block_sum(values, lo, n) == np.sum(values[lo : lo + n]), (lo, n)


def test_tree_sum_from_an_offset_equals_numpy_on_the_slice() -> None:
    values = RNG.standard_normal(3000) * 1e-2 + 1.0
    stack = np.empty(64)
    for base, n in ((1, 1255), (3, 2049), (7, 129), (5, 256)):
        program = kernels.sum_program(n)
        assert kernels.tree_sum(values, base, program, stack) == np.sum(values[base : base + n])


def test_block_sum_refuses_a_block_outside_the_array() -> None:
    with pytest.raises(IndexError, match="bounds"):
        kernels.block_sum(np.ones(20), 8, 16)


def _plain_next_entry(z: np.ndarray, t: int, entry: float, only_long: bool) -> int:
    while t < len(z) and not (z[t] < -entry or (not only_long and z[t] > entry)):
        t += 1
    return t


def _plain_next_exit(z: np.ndarray, t: int, exit_: float, stop: float) -> int:
    while t < len(z) and not (abs(z[t]) < exit_ or abs(z[t]) > stop):
        t += 1
    return t


# Values on and around the thresholds drawn below, so that equality boundaries are exercised.
Z_VALUES = st.sampled_from([np.nan, 0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 3.5, -3.5])


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    z=st.lists(
        st.one_of(Z_VALUES, st.floats(-5, 5), st.just(np.inf), st.just(-np.inf)), max_size=70
    ),
    start=st.integers(0, 75),
    entry=st.sampled_from([0.5, 1.0, 2.0, 3.5, np.inf]),
    exit_=st.sampled_from([0.0, 0.5, 1.0]),
    stop=st.sampled_from([2.0, 3.5, np.inf]),
    only_long=st.booleans(),
)
def test_block_scans_find_the_same_signal_bar_as_a_plain_scan(
    z: list[float], start: int, entry: float, exit_: float, stop: float, only_long: bool
) -> None:
    series = np.array(z, dtype=np.float64)
    start = min(start, len(series))  # the kernel scans from a bar of the series or its end
    ext = np.empty((-(-len(series) // zblocks.BLOCK), zblocks.N_EXTREMES))
    zblocks.block_extremes(series, ext)
    expected = _plain_next_entry(series, start, entry, only_long)
    assert zblocks.next_entry(series, ext, start, entry, only_long) == expected
    expected = _plain_next_exit(series, start, exit_, stop)
    assert zblocks.next_exit(series, ext, start, exit_, stop) == expected


def _frozen_legs(rng: np.random.Generator, n: int, expensive: bool) -> np.ndarray:
    """Two cointegrated legs with frozen stretches (the value stands still in a position) and,
    when ``expensive``, a leg priced so that entries run into backtrader's cash checks."""
    b = (2_000.0 if expensive else 60.0) * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    spread = np.zeros(n)
    for t in range(1, n):
        spread[t] = 0.85 * spread[t - 1] + rng.normal(0, 0.02 * b[0] / 60)
    a = np.abs(1.3 * b + spread) + 1.0
    for _ in range(3):
        lo = int(rng.integers(0, n - 30))
        hi = lo + int(rng.integers(5, 30))
        a[lo:hi], b[lo:hi] = a[lo], b[lo]
    return np.round(np.column_stack([a, b]), 2)


@st.composite
def grids(draw: st.DrawFn) -> tuple[np.ndarray, list[StrategyParams], float, int]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    closes = _frozen_legs(rng, draw(st.integers(150, 260)), draw(st.booleans()))
    windows = draw(st.lists(st.sampled_from([3, 10, 20, 45]), min_size=1, max_size=2))
    params = [
        StrategyParams(
            window=w,
            entry_z=entry,
            exit_z=draw(st.sampled_from([0.0, 0.25, 0.5])),
            stop_z=entry + draw(st.sampled_from([0.5, 1.5, 3.0])),
            stake=draw(st.sampled_from([1, 25, 90])),
            long_only=draw(st.booleans()),
        )
        for w in windows
        for entry in draw(st.lists(st.sampled_from([0.3, 1.0, 1.5, 2.0]), min_size=2, max_size=4))
    ]
    go_live = draw(st.sampled_from([0, 0, 40]))
    return closes, params, draw(st.sampled_from([100_000.0, 8_000.0])), go_live


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(grids())
def test_a_batch_of_configs_sharing_z_rows_equals_the_reference_bit_for_bit(
    case: tuple[np.ndarray, list[StrategyParams], float, int],
) -> None:
    """Configs of one batch share z rows (and their block extremes); each config's metrics,
    values and fills are exactly the reference's, rejections and warm-up masks included."""
    closes, params, cash, go_live = case
    data = AlignedCloses(("A", "B"), pd.bdate_range("2021-01-04", periods=len(closes)), closes)
    pair = Pair("A", "B", 1.3)
    results = FastEngine().run(
        data, [pair], params, initial_cash=cash, with_details=True, trade_from_bar=go_live
    )
    for p, result in zip(params, results, strict=True):
        ref = simulate(closes, ("A", "B"), [pair], p, cash, 0.0005, trade_from_bar=go_live)
        event("margin rejection" if ref.rejections else "no rejection")
        event("traded" if ref.fills else "no fill")
        assert result.metrics == ref.metrics, p
        assert result.fills == ref.fills, p
        assert result.values is not None and np.array_equal(result.values, ref.values), p


def _one_pair(closes: np.ndarray, z: list[float]) -> tuple[Portfolio, PathTables]:
    n = closes.shape[0]
    portfolio = Portfolio(closes, np.array([0]), np.array([1]), np.array([0.0]))
    paths = PathTables(
        betas=np.zeros((1, n)),  # beta 0: no order on A, the stake of B alone
        zs=np.array([z]),
        beta_rows=np.zeros((1, 1), dtype=np.int64),
        z_rows=np.zeros((1, 1), dtype=np.int64),
    )
    return portfolio, paths


def test_a_value_that_reaches_exactly_zero_gives_the_reference_metrics() -> None:
    """Short 10 B at 100 with 1,000 cash: the value is 2,000 - 10*B, exactly 0 at B = 200; the
    next bar's return divides by 0 and, as numpy does in the reference, gives inf, not an
    exception."""
    b = [100.0, 100.0, 100.0, 200.0, 150.0, 150.0, 120.0]
    closes = np.column_stack([np.full(len(b), 10.0), b])
    portfolio, paths = _one_pair(closes, [np.nan, -3.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    batch = ConfigBatch.from_params([StrategyParams(window=1, entry_z=2.0, stake=10)])
    out = run_batch(portfolio, batch, paths, initial_cash=1_000.0, commission=0.0, detail=True)
    assert out.values[0].tolist() == [1_000.0, 1_000.0, 1_000.0, 0.0, 500.0, 500.0, 800.0]
    fills = [Fill(int(t), "AB"[int(s)], int(q), p, c) for t, s, q, p, c in out.fills]
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = compute_metrics(out.values[0], 1_000.0, fills)
    (ours,) = metrics_rows(out.metrics, len(b))
    assert ours.as_dict().keys() == expected.as_dict().keys()
    for key, value in expected.as_dict().items():
        got = ours.as_dict()[key]
        assert got == value or (got != got and value != value), key


def test_holding_through_unchanged_prices_marks_zero_returns_without_moving_the_drawdown() -> None:
    """In a position whose prices freeze, the value stands still: returns of exactly 0, the
    drawdown neither deepens nor recovers, as ``compute_metrics`` computes it."""
    b = [50.0, 50.0, 50.0, 55.0, 55.0, 55.0, 55.0, 48.0, 48.0, 52.0, 52.0]
    closes = np.column_stack([np.full(len(b), 10.0), b])
    z = [np.nan, 3.0, *([1.0] * 8), 0.1]  # short the spread on bar 1, exit on the last bar
    portfolio, paths = _one_pair(closes, z)
    batch = ConfigBatch.from_params([StrategyParams(window=1, entry_z=2.0, stake=20)])
    out = run_batch(portfolio, batch, paths, initial_cash=5_000.0, commission=0.001, detail=True)
    fills = [Fill(int(t), "AB"[int(s)], int(q), p, c) for t, s, q, p, c in out.fills]
    assert [f.bar for f in fills] == [2]  # the exit order would fill after the last bar
    (ours,) = metrics_rows(out.metrics, len(b))
    assert ours == compute_metrics(out.values[0], 5_000.0, fills)
    assert ours.max_dd_abs > 0 and ours.sharpe_ratio is not None


@pytest.mark.parametrize("n", [1, 7, 8, 9, 127, 128, 129, 1255, 2767])
def test_square_sum_equals_what_numpy_std_sums_bit_for_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    returns = rng.normal(0.0, 0.01, n)
    returns[rng.random(n) < 0.6] = 0.0  # flat bars: exact zeros, as a backtest's are
    mean = np.sum(returns) / n
    x = returns - mean
    expected = np.sum(x * x)  # np.std's own steps
    got = kernels.tree_square_sum(returns, kernels.sum_program(n), np.empty(64), mean)
    assert got == expected
