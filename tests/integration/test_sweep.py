"""Sweeps end to end on real executors: a Dask ``LocalCluster`` (in-process workers, to stay
quick), a Dask scheduler reached by address from the CLI, and the default local process pool.
Every (pair, config) lands once in the streamed Parquet table, in sweep order, with the engine's
numbers; the top-N and per-pair files are the seed's ranking of that table, and so are the
per-pair best K rows and ``sweep-summary``'s answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dask.distributed import Client, LocalCluster

from research.backtest.fast_engine import FastEngine
from research.cli import main
from research.data.market_data import align_closes
from research.search.grid import Grid
from research.search.optimize import rank_results
from research.search.sweep import all_pairs, iter_pair_data, run_sweep
from research.search.sweep_summary import summarize
from shared.strategy import Pair

GRID = Grid(window=(20, 45), entry_z=(1.5, 2.0), stop_z=(3.5,), stake=(25, 60), long_only=(False,))
PARAM_COLUMNS = ["window", "entry_z", "exit_z", "stop_z", "stake", "long_only", "delta", "R"]
METRICS = ["final_value", "total_return", "sharpe_ratio", "max_dd_pct", "max_dd_abs"]


def universe(n_tickers: int = 5, n_bars: int = 260, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    market = np.cumsum(rng.normal(0, 0.01, n_bars))
    columns = {}
    for i in range(n_tickers):
        own = np.cumsum(rng.normal(0, 0.01, n_bars)) + 0.05 * np.sin(np.arange(n_bars) / (5 + i))
        columns[f"T{i}"] = np.round(rng.uniform(20, 200) * np.exp(market + own), 2)
    prices = pd.DataFrame(columns, index=pd.bdate_range("2022-01-03", periods=n_bars))
    prices.index.name = "date"
    prices.iloc[7, 1] = np.nan  # a hole: that pair's own common dates drop the bar
    return prices


@pytest.fixture(scope="module")
def dask_client() -> Client:
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def test_sweep_on_a_dask_cluster_streams_every_backtest_with_the_engines_numbers(
    tmp_path: Path, dask_client: Client
) -> None:
    prices = universe()
    specs = all_pairs(prices)
    summary = run_sweep(
        iter_pair_data(prices, specs),
        len(specs),
        GRID,
        dask_client.get_executor(),
        tmp_path,
        parallelism=2,
        top_n=7,
        task_backtests=5,  # grid slices across tasks and pairs
        progress=False,
    )
    assert summary.results_path is not None
    table = pd.read_parquet(summary.results_path)
    assert len(table) == len(specs) * GRID.size == summary.n_backtests == summary.table_rows
    # Sweep order whatever order the tasks finished in: pair by pair, configs in grid order.
    pair_order = {(a, b): i for i, (a, b, _) in enumerate(specs)}
    position = [pair_order[(a, b)] for a, b in zip(table.asset_1, table.asset_2, strict=True)]
    assert position == sorted(position)
    assert table.config.tolist() == list(range(GRID.size)) * len(specs)

    engine = FastEngine()
    params = GRID.params()
    for a, b, _ in specs[:3]:
        rows = table[(table.asset_1 == a) & (table.asset_2 == b)].sort_values("config")
        data = align_closes(prices, sorted((a, b)))
        results = engine.run(data, [Pair(a, b, float(rows.hedge_ratio.iloc[0]))], params)
        for (_, row), result in zip(rows.iterrows(), results, strict=True):
            m = result.metrics
            assert row[PARAM_COLUMNS].tolist() == [getattr(result.params, c) for c in PARAM_COLUMNS]
            expected = [m.final_value, m.total_return, m.sharpe_ratio, m.max_dd_pct, m.max_dd_abs]
            got = [None if pd.isna(v) else v for v in row[METRICS]]
            assert got == expected  # the exact floats; an undefined Sharpe is null
            assert (row.total_trades, row.n_days) == (m.total_trades, data.n_bars)

    # Sweep order (pair, then config) breaks ties, as the seed's stable sort does.
    ranked = rank_results(table)
    top = pd.read_csv(summary.top_csv)
    assert top["rank"].tolist() == list(range(1, 8))
    keys = ["asset_1", "asset_2", "config"]
    assert top[keys].values.tolist() == ranked[keys].head(7).values.tolist()

    pairs = pd.read_csv(summary.pairs_csv)
    assert len(pairs) == len(specs) and (pairs.configs == GRID.size).all()
    best = ranked.drop_duplicates(["asset_1", "asset_2"])
    assert sorted(pairs[["asset_1", "asset_2", "best_config"]].values.tolist()) == sorted(
        best[keys].values.tolist()
    )


def _write_inputs(tmp_path: Path) -> tuple[Path, Path]:
    prices_csv = tmp_path / "prices.csv"
    universe(n_tickers=4).to_csv(prices_csv)
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text("window = [20, 45]\nentry_z = [1.5, 2.0]\nstake = [25]\n")
    return prices_csv, grid_file


def test_sweep_command_runs_on_a_dask_scheduler_given_by_address(
    tmp_path: Path, dask_client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    prices_csv, grid_file = _write_inputs(tmp_path)
    address = dask_client.scheduler.address
    code = main(
        ["sweep", "--base-dir", str(tmp_path), "--prices", str(prices_csv), "--pairs-from", "all",
         "--grid", str(grid_file), "--scheduler", address, "--top", "5", "--no-progress"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "compiled or loaded from cache" in err and "6 pairs x 16 configs" in err
    assert "96 backtests" in out
    assert len(pd.read_parquet(tmp_path / "reports" / "sweep_results.parquet")) == 96
    assert len(pd.read_csv(tmp_path / "reports" / "sweep_top.csv")) == 5


def test_sweep_command_defaults_to_a_local_process_pool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices_csv, grid_file = _write_inputs(tmp_path)
    pairs_csv = tmp_path / "pairs.csv"
    pd.DataFrame(
        {"asset_1": ["T0", "T2"], "asset_2": ["T1", "T3"], "hedge_ratio": [1.1, 0.7]}
    ).to_csv(pairs_csv, index=False)
    code = main(
        ["sweep", "--base-dir", str(tmp_path), "--prices", str(prices_csv), "--pairs", str(pairs_csv),
         "--grid", str(grid_file), "--workers", "1", "--no-full-table", "--no-progress"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "32 backtests" in out and "on 1 workers" in out
    assert not (tmp_path / "reports" / "sweep_results.parquet").exists()
    pairs = pd.read_csv(tmp_path / "reports" / "sweep_pairs.csv")
    assert sorted(pairs.asset_1) == ["T0", "T2"] and set(pairs.hedge_ratio) == {1.1, 0.7}


def test_sweep_command_says_how_to_get_the_missing_pairs_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices_csv, _ = _write_inputs(tmp_path)
    code = main(["sweep", "--base-dir", str(tmp_path), "--prices", str(prices_csv)])
    err = capsys.readouterr().err
    assert code == 2
    assert (
        "selected_pairs.csv" in err and "pairs-research select" in err and "--pairs-from all" in err
    )


def test_keeping_each_pairs_best_k_keeps_exactly_the_ranked_head_of_each_pair(
    tmp_path: Path, dask_client: Client
) -> None:
    prices = universe()
    specs = all_pairs(prices)

    def sweep(out: Path, keep: int) -> pd.DataFrame:
        summary = run_sweep(
            iter_pair_data(prices, specs), len(specs), GRID, dask_client.get_executor(), out,
            parallelism=2, keep_per_pair=keep, task_backtests=5, progress=False,
        )  # fmt: skip
        assert summary.results_path is not None
        return pd.read_parquet(summary.results_path)

    everything = sweep(tmp_path / "all", 0)
    kept = sweep(tmp_path / "best3", 3)
    # The grid is sliced across tasks (5 backtests each): each task sends its slice's best 3,
    # and the table keeps the pair's best 3 over all its slices, in grid order.
    keys = ["asset_1", "asset_2", "config"]
    expected = (
        rank_results(everything)
        .groupby(["asset_1", "asset_2"], sort=False, observed=True)
        .head(3)
        .sort_values(["asset_1", "asset_2", "config"])
    )
    assert kept[keys].values.tolist() == expected[keys].values.tolist()
    assert kept[METRICS].equals(expected[METRICS].reset_index(drop=True))


def test_sweep_summary_answers_from_the_table_as_a_full_read_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices_csv, grid_file = _write_inputs(tmp_path)
    code = main(
        ["sweep", "--base-dir", str(tmp_path), "--prices", str(prices_csv), "--pairs-from", "all",
         "--grid", str(grid_file), "--workers", "1", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    capsys.readouterr()
    table_path = tmp_path / "reports" / "sweep_results.parquet"
    table = pd.read_parquet(table_path)
    ranked = rank_results(table)
    summary = summarize(table_path, top=7, batch_rows=10)  # many batches: the streaming merge
    keys = ["asset_1", "asset_2", "config"]
    assert summary.rows == len(table) and summary.pairs == 6
    assert summary.top[keys].values.tolist() == ranked[keys].head(7).values.tolist()
    best = ranked.drop_duplicates(["asset_1", "asset_2"])
    assert summary.pair_best[keys].values.tolist() == best[keys].values.tolist()
    for threshold in (-1.0, 0.0, 0.05):
        per_pair_max = table.groupby(["asset_1", "asset_2"], observed=True).sharpe_ratio.max()
        assert summary.pairs_above(threshold) == int((per_pair_max > threshold).sum())

    code = main(
        ["sweep-summary", "--base-dir", str(tmp_path), "--sharpe-above", "0.0", "--top", "3"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert f"{len(table):,} rows, 6 pairs" in out
    assert f"pairs with a config above Sharpe 0: {summary.pairs_above(0.0)} of 6" in out


def test_a_sweep_off_a_terminal_logs_a_few_progress_lines_not_a_bar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices_csv, grid_file = _write_inputs(tmp_path)
    code = main(
        ["sweep", "--base-dir", str(tmp_path), "--prices", str(prices_csv), "--pairs-from", "all",
         "--grid", str(grid_file), "--workers", "1"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0
    progress = [line for line in err.splitlines() if line.startswith("sweep: ") and "%" in line]
    assert 1 <= len(progress) <= 10 and progress[-1].startswith("sweep: 100% (96 of 96 bt")
    assert "\r" not in err
