"""Lane groups (configs differing only in stake, backtested side by side) land on the same bits
as each config's own loop (``pair_kernel.run_pair``, what a detail run uses): on random pairs
whose small cash makes orders rejected at the creation-price check and nullified at the fill,
and on a lane that a rejected closing order parts from the group's decisions."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from research.backtest.fast.lane_book import BOOK_ROWS, DIVERGED
from research.backtest.fast.lane_kernel import LANES, run_lanes
from research.backtest.fast.plan import (
    ConfigBatch,
    PathTables,
    Portfolio,
    build_paths,
    lane_groups,
    path_layout,
    plan_slice,
    run_batch,
    run_pairs,
)
from research.backtest.fast.signal_tables import build as build_tables
from research.backtest.fast.signal_tables import table_layout
from research.backtest.fast_engine import _take, _take_paths
from research.search.grid import Grid
from research.search.sweep_worker import grid_configs


def _one_by_one(
    portfolio: Portfolio, batch: ConfigBatch, paths: PathTables, cash: float, fee: float
) -> np.ndarray:
    """Each config alone through ``run_pair`` (a detail run)."""
    rows = [
        run_batch(
            portfolio, _take(batch, i), _take_paths(paths, i), initial_cash=cash,
            commission=fee, detail=True,
        ).metrics[0]
        for i in range(len(batch))
    ]  # fmt: skip
    return np.array(rows)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


GRID = Grid(
    window=(5, 12),
    entry_z=(0.5, 1.5),
    exit_z=(0.0, 0.5),
    stop_z=(2.0, 3.0),
    stake=(1, 7, 60, 400, 3000),  # five stakes: a group of four and a group of one
    long_only=(False, True),
)


@settings(
    max_examples=25, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_bars=st.integers(2, 160),
    cash=st.sampled_from([300.0, 5_000.0, 100_000.0]),
    fee=st.sampled_from([0.0, 0.0005, 0.02]),
)
def test_lane_groups_equal_each_config_alone(
    seed: int, n_bars: int, cash: float, fee: float
) -> None:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.04, (n_bars, 2)) + rng.choice(
        [0, 0.3, -0.25], (n_bars, 2), p=[0.9, 0.05, 0.05]
    )
    closes = np.ascontiguousarray(np.round(20 * np.exp(np.cumsum(steps, axis=0)), 2))
    a = int(rng.integers(0, 2))
    hedge = float(rng.uniform(-0.5, 3.0))
    portfolio = Portfolio(closes, np.array([a]), np.array([1 - a]), np.array([hedge]))
    batch = grid_configs(GRID, np.arange(GRID.size))
    paths = build_paths(portfolio, batch)
    expected = _one_by_one(portfolio, batch, paths, cash, fee)
    grouped = run_batch(portfolio, batch, paths, initial_cash=cash, commission=fee).metrics
    assert _same_bits(grouped, expected)
    swept = run_pairs(
        plan_slice(batch), [closes], np.array([a]), np.array([hedge]), initial_cash=cash,
        commission=fee,
    )  # fmt: skip
    assert _same_bits(swept[0], expected)


def test_a_lane_whose_closing_order_is_rejected_holds_to_the_end_while_the_others_trade() -> None:
    """Short A at 10 with 1,000 cash: stake 50 cannot buy A back at 100 (rejected at the
    creation price on bar 4, so the config keeps its position to the last bar while the other
    is flat again and re-enters); stake 5 can."""
    nan = np.nan
    closes = np.array([[10.0, 10.0]] * 3 + [[100.0, 10.0]] * 3 + [[10.0, 10.0]] * 4)
    z = np.array([nan, 3.0, 3.0, 0.0, 0.1, 3.0, 3.0, 0.0, 0.0, 0.0])
    n = len(z)
    portfolio = Portfolio(closes, np.array([0]), np.array([1]), np.array([1.0]))
    paths = PathTables(
        betas=np.ones((1, n)),
        zs=z[None, :],
        beta_rows=np.zeros((2, 1), dtype=np.int64),
        z_rows=np.zeros((2, 1), dtype=np.int64),
    )
    batch = ConfigBatch.build(
        window=np.array([1, 1]), entry_z=np.array([2.0, 2.0]), exit_z=np.array([0.5, 0.5]),
        stop_z=np.array([4.0, 4.0]), stake=np.array([5, 50]), long_only=np.array([False, False]),
        delta=np.array([1e-5, 1e-5]), R=np.array([1e-3, 1e-3]),
    )  # fmt: skip
    assert lane_groups(paths.beta_rows[:, 0], paths.z_rows[:, 0], batch).tolist() == [
        [0, 1, -1, -1][:LANES]
    ]
    kinds, levels, rows = table_layout(batch.entry_z, batch.exit_z, batch.stop_z)
    tables = np.empty((len(kinds), n + 1), dtype=np.int64)
    build_tables(z, kinds, levels, tables)
    book = np.empty((BOOK_ROWS, LANES))
    run_lanes(
        closes, 0, z, np.ones(n), *tables[rows[0]], 2.0, False, np.array([5.0, 50.0, 0.0, 0.0]), 2,
        1000.0, 0.0, book, np.empty_like(book), np.empty(n * LANES), np.empty(n, np.uint8),
    )  # fmt: skip
    assert book[DIVERGED, :2].tolist() == [0.0, 5.0]  # 1 + the bar of the rejected fill
    expected = _one_by_one(portfolio, batch, paths, 1000.0, 0.0)
    grouped = run_batch(portfolio, batch, paths, initial_cash=1000.0, commission=0.0).metrics
    assert _same_bits(grouped, expected)
    assert expected[0, 5] != expected[1, 5]  # the rejected config traded differently


def test_lane_groups_hold_every_config_once_with_only_the_stake_differing() -> None:
    batch = grid_configs(GRID, np.arange(GRID.size))
    layout = path_layout(batch)
    lanes = lane_groups(layout.kalman_index, layout.z_index, batch)
    members = lanes[lanes >= 0]
    assert sorted(members.tolist()) == list(range(len(batch)))
    for group in lanes:
        configs = group[group >= 0]
        assert np.all(np.diff(configs) > 0)  # config order within a group
        for column in ("window", "entry_z", "exit_z", "stop_z", "long_only"):
            assert len(set(getattr(batch, column)[configs].tolist())) == 1
    assert lanes.shape[0] == GRID.size // len(GRID.stake) * 2  # five stakes: four, then one


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    z=st.lists(
        st.one_of(
            st.sampled_from([np.nan, 0.0, -0.0, 0.5, -0.5, 2.0, -2.0, 3.5, -3.5, np.inf]),
            st.floats(-5, 5),
        ),
        max_size=60,
    ),
)
def test_signal_tables_find_the_bar_a_plain_scan_finds(z: list[float]) -> None:
    series = np.array(z, dtype=np.float64)
    entries, exits, stops = np.array([0.5, 2.0]), np.array([0.0, 0.5]), np.array([2.0, 3.5])
    grid = np.array(np.meshgrid(entries, exits, stops)).reshape(3, -1)
    kinds, levels, rows = table_layout(*grid)
    tables = np.empty((len(kinds), len(series) + 1), dtype=np.int64)
    build_tables(series, kinds, levels, tables)
    tests = {
        0: lambda v, e, x, s: v < -e,
        1: lambda v, e, x, s: v > e,
        2: lambda v, e, x, s: abs(v) < x,
        3: lambda v, e, x, s: abs(v) > s,
    }
    for c, (e, x, s) in enumerate(grid.T):
        for which, test in tests.items():
            for t in range(len(series) + 1):
                expected = next(
                    (u for u in range(t, len(series)) if test(series[u], e, x, s)), len(series)
                )
                assert tables[rows[c, which], t] == expected
