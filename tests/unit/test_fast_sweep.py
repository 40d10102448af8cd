"""Sweep planning: grid slices in the seed's order, tasks that cover every (pair, config) once,
the seed's ranking for the streamed top-N, and the seed's per-pair alignment."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from research.backtest.fast import portfolio_kernel as pk
from research.data.market_data import align_closes
from research.ranking import rank_order
from research.search import sweep_table
from research.search.grid import SEED_GRID, Grid
from research.search.sweep import all_pairs, iter_pair_data, ols_hedge_ratio, plan_tasks
from research.search.sweep_worker import PairData, TaskRows, grid_batch, merge_top
from shared.errors import DataError


def test_grid_slices_enumerate_configs_in_the_seed_product_order() -> None:
    grid = Grid(window=(30, 60), entry_z=(1.5, 2.0, 2.5), delta=(1e-5, 1e-4), R=(1e-3, 1e-2))
    expected = grid.params()
    for start, stop in ((0, grid.size), (5, 17), (grid.size - 1, grid.size)):
        batch = grid_batch(grid, start, stop)
        for i, params in enumerate(expected[start:stop]):
            assert batch.window[i] == params.window and batch.entry_z[i] == params.entry_z
            assert batch.stop_z[i] == params.stop_z and batch.stake[i] == params.stake
            assert bool(batch.long_only[i]) == params.long_only
            assert (batch.delta[i], batch.R[i]) == (params.delta, params.R)


def _pairs(n: int) -> list[PairData]:
    return [PairData(i, f"A{i}", f"B{i}", 1.0, np.ones((3, 2))) for i in range(n)]


@pytest.mark.parametrize(("n_pairs", "grid_size", "task_size"), [(7, 72, 200), (3, 1000, 300)])
def test_tasks_cover_every_pair_and_config_exactly_once(
    n_pairs: int, grid_size: int, task_size: int
) -> None:
    seen = [
        (pair.index, config)
        for task in plan_tasks(_pairs(n_pairs), grid_size, task_size)
        for pair in task.pairs
        for config in range(task.start, task.stop)
    ]
    assert sorted(seen) == list(itertools.product(range(n_pairs), range(grid_size)))
    tasks = list(plan_tasks(_pairs(n_pairs), grid_size, task_size))
    assert max(t.n_backtests for t in tasks) <= task_size


def test_a_small_sweep_is_cut_into_enough_tasks_for_every_worker() -> None:
    tasks = list(plan_tasks(_pairs(16), 72, 20_000, n_pairs=16, parallelism=2))
    assert len(tasks) == 8 and all(len(t.pairs) == 2 for t in tasks)


def _random_metrics(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = np.zeros((n, 2 + pk.N_METRICS))
    rows[:, 0] = rng.integers(0, 5, n)
    rows[:, 1] = rng.permutation(n)
    sharpe = rng.choice([0.1, 0.2, -0.3, np.nan], n)  # ties and undefined Sharpes
    rows[:, 2 + pk.SHARPE] = sharpe
    rows[:, 2 + pk.MAX_DD_PCT] = rng.choice([1.0, 2.0, np.nan], n)
    return rows


def test_rank_order_is_the_seeds_stable_ranking() -> None:
    rng = np.random.default_rng(1)
    rows = _random_metrics(rng, 200)
    order = rows[:, 0] * 2.0**32 + rows[:, 1]
    rows = rows[np.argsort(order)]  # sweep order: pair, then grid index
    frame = pd.DataFrame(
        {"sharpe_ratio": rows[:, 2 + pk.SHARPE], "max_dd_pct": rows[:, 2 + pk.MAX_DD_PCT]}
    )
    seed_sorted = frame.sort_values(by=["sharpe_ratio", "max_dd_pct"], ascending=[False, True])
    expected = seed_sorted.index.to_numpy()  # the seed notebook's own line
    ours = rank_order(rows[:, 2 + pk.SHARPE], rows[:, 2 + pk.MAX_DD_PCT], np.arange(len(rows)))
    assert ours.tolist() == expected.tolist()


def test_merging_top_rows_chunk_by_chunk_equals_ranking_everything_at_once() -> None:
    rng = np.random.default_rng(2)
    rows = _random_metrics(rng, 300)
    top = np.empty((0, rows.shape[1]))
    for chunk in np.array_split(rows, 7):
        top = merge_top(top, chunk, 25)
    everything = merge_top(np.empty((0, rows.shape[1])), rows, 25)
    assert np.array_equal(top, everything, equal_nan=True)


def test_pair_data_uses_the_seeds_dropna_and_intersection_per_pair() -> None:
    dates = pd.bdate_range("2024-01-01", periods=8)
    prices = pd.DataFrame(
        {
            "XB": [1.0, 2, np.nan, 4, 5, 6, 7, 8],
            "XA": [2.0, 3, 4, 5, np.nan, 7, 8, 9],
            "XC": [3.0, 4, 5, 6, 7, 8, np.nan, 10],
        },
        index=dates,
    )
    specs = all_pairs(prices)
    assert [(a, b) for a, b, _ in specs] == [("XA", "XB"), ("XA", "XC"), ("XB", "XC")]
    for data, (a, b, _) in zip(iter_pair_data(prices, specs), specs, strict=True):
        aligned = align_closes(prices, sorted((a, b)))
        assert np.array_equal(data.closes, aligned.closes)
        y, x = aligned.column(a), aligned.column(b)
        assert data.hedge_ratio == pytest.approx(np.polyfit(x, y, 1)[0], rel=1e-9)
    given = next(iter_pair_data(prices, [("XC", "XA", 0.7)]))
    assert (given.asset_1, given.asset_2, given.hedge_ratio) == ("XC", "XA", 0.7)


def test_pair_data_errors_name_the_ticker() -> None:
    prices = pd.DataFrame({"A": [1.0, 2.0], "B": [1.0, -2.0]})
    with pytest.raises(DataError, match="ZZ"):
        next(iter_pair_data(prices, [("A", "ZZ", 1.0)]))
    with pytest.raises(DataError, match="ticker B has non-positive"):
        next(iter_pair_data(prices, [("A", "B", 1.0)]))


def test_ols_hedge_ratio_of_a_constant_leg_is_zero() -> None:
    assert ols_hedge_ratio(np.array([1.0, 2.0]), np.array([3.0, 3.0])) == 0.0


def test_seed_grid_has_72_configs_for_the_sweep() -> None:
    assert SEED_GRID.size == 72 and len(grid_batch(SEED_GRID, 0, SEED_GRID.size)) == 72


def test_a_grid_of_a_hundred_million_configs_is_sliced_lazily() -> None:
    huge = Grid(
        window=tuple(range(2, 102)),
        entry_z=tuple(1.0 + i / 100 for i in range(100)),
        exit_z=tuple(i / 200 for i in range(100)),
        stop_z=tuple(3.0 + i / 100 for i in range(100)),
        stake=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100),
        long_only=(False,),
    )
    assert huge.size == 1_000_000_000
    tasks = plan_tasks(iter(_pairs(1)), huge.size, 1000)  # a generator: nothing built ahead
    first = next(tasks)
    assert (first.start, first.stop) == (0, 1000)
    last = grid_batch(huge, huge.size - 3, huge.size)
    assert last.window.tolist() == [101] * 3 and last.stake.tolist() == [80, 90, 100]
    assert last.stop_z.tolist() == [3.99] * 3 and last.exit_z.tolist() == [0.495] * 3


def test_the_sweep_table_writes_full_row_groups_whatever_the_task_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep_table, "ROW_GROUP_ROWS", 100)
    grid = Grid(window=(20, 30), entry_z=(1.5, 2.0, 2.5), stop_z=(3.5,), stake=(25,))  # 12
    info = sweep_table.PairInfo()
    for i in range(60):
        info.add(i, f"A{i}", f"B{i}", 1.0, 50)
    path = tmp_path / "t.parquet"
    metrics = np.zeros((7 * grid.size, pk.N_METRICS))
    with sweep_table.SweepTableWriter(path, grid, info) as writer:
        for task in range(8):  # 84 rows a task: flushes fall inside tasks
            pairs = np.repeat(np.arange(7 * task, 7 * task + 7), grid.size)
            configs = np.tile(np.arange(grid.size), 7)
            writer.add(task, TaskRows(pairs, configs, metrics))
    meta = pq.ParquetFile(path).metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert grid.size == 12 and sizes == [100] * 6 + [72]
    table = pd.read_parquet(path)
    assert table.config.tolist() == list(range(grid.size)) * 56
