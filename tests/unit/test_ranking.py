"""Ranking exactly as the seed: Sharpe descending, then max drawdown ascending, ties in grid order,
undefined Sharpe last; and the results table's columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.ranking import rank_metrics, top_k_per_row, top_n
from research.search.optimize import RESULT_COLUMNS, rank_results, result_row
from shared.metrics import Metrics
from shared.strategy import StrategyParams


def frame(sharpe: list[float], dd: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"grid_pos": range(len(sharpe)), "sharpe_ratio": sharpe, "max_dd_pct": dd})


def _ties_and_nans(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    sharpe = rng.choice([0.1, 0.2, -0.3, np.nan], shape)
    dd = rng.choice([1.0, 2.0, np.nan], shape)
    return sharpe, dd


def seed_sorted(results: pd.DataFrame) -> pd.DataFrame:
    """The seed notebook's own line: the definition every ranking here must reproduce."""
    return results.sort_values(by=["sharpe_ratio", "max_dd_pct"], ascending=[False, True])


def test_rank_results_is_the_seeds_sort_values_on_ties_and_nans() -> None:
    rng = np.random.default_rng(5)
    sharpe, dd = _ties_and_nans(rng, (500,))
    table = frame(list(sharpe), list(dd))
    assert rank_results(table)["grid_pos"].tolist() == seed_sorted(table)["grid_pos"].tolist()


def test_rank_sorts_by_sharpe_descending_then_drawdown_ascending() -> None:
    ranked = rank_results(frame([0.1, 0.3, 0.1, 0.2], [2.0, 5.0, 1.0, 0.5]))
    assert ranked["grid_pos"].tolist() == [1, 3, 2, 0]
    assert ranked.index.tolist() == [0, 1, 2, 3]


def test_exact_ties_keep_grid_order_even_for_many_rows() -> None:
    # quicksort is not stable on one key; pandas' multi-key sort is, and the seed sorts on two
    n = 500
    ranked = rank_results(frame([0.033068] * n, [0.223872] * n))
    assert ranked["grid_pos"].tolist() == list(range(n))


def test_undefined_sharpe_ranks_last_and_undefined_drawdown_last_within_ties() -> None:
    ranked = rank_results(frame([np.nan, 0.1, -0.2, np.nan, 0.1], [0.0, np.nan, 1.0, 0.5, 3.0]))
    assert ranked["grid_pos"].tolist() == [4, 1, 2, 0, 3]


def test_ranking_reproduces_the_seeds_printed_top_rows_order() -> None:
    # The seed's top 6 (Sharpe, max DD %) in grid order; printed ranking: 0,3,1,4,2,5 by position
    rows = [
        (60, 3.5, 25, 0.033068, 0.223872),
        (60, 3.5, 50, 0.032689, 0.445476),
        (60, 3.5, 75, 0.032920, 0.654114),
        (60, 4.0, 25, 0.033068, 0.223872),
        (60, 4.0, 50, 0.032689, 0.445476),
        (60, 4.0, 75, 0.032920, 0.654114),
    ]
    df = pd.DataFrame(rows, columns=["window", "stop_z", "stake", "sharpe_ratio", "max_dd_pct"])
    ranked = rank_results(df)
    assert list(zip(ranked["stop_z"], ranked["stake"], strict=True)) == [
        (3.5, 25),
        (4.0, 25),
        (3.5, 75),
        (4.0, 75),
        (3.5, 50),
        (4.0, 50),
    ]


def test_result_row_has_the_seed_columns_and_turns_undefined_sharpe_into_nan() -> None:
    metrics = {
        "final_value": 1e5,
        "total_return": 0.0,
        "sharpe_ratio": None,
        "max_dd_pct": 0.0,
        "max_dd_abs": 0.0,
        "total_trades": 0,
        "n_days": 10,
    }
    row = result_row(StrategyParams(), metrics)
    assert tuple(row) == RESULT_COLUMNS
    assert np.isnan(row["sharpe_ratio"])
    assert RESULT_COLUMNS == (
        "window",
        "entry_z",
        "exit_z",
        "stop_z",
        "stake",
        "long_only",
        "delta",
        "R",
        "final_value",
        "total_return",
        "sharpe_ratio",
        "max_dd_pct",
        "max_dd_abs",
        "total_trades",
        "n_days",
    )


def test_each_rows_top_k_is_the_head_of_that_rows_full_ranking() -> None:
    rng = np.random.default_rng(3)
    sharpe, dd = _ties_and_nans(rng, (9, 40))
    for k in (1, 5, 40, 60):
        got = top_k_per_row(sharpe, dd, k)
        assert got.shape == (9, min(k, 40))
        for row in range(9):
            expected = seed_sorted(frame(sharpe[row], dd[row]))["grid_pos"].to_numpy()
            assert got[row].tolist() == expected[:k].tolist()


def test_top_n_with_a_tiebreak_is_the_head_of_the_full_ranking_in_that_order() -> None:
    rng = np.random.default_rng(4)
    sharpe, dd = _ties_and_nans(rng, (300,))
    sweep_position = rng.permutation(300).astype(float)  # rows arrive out of sweep order
    in_order = np.argsort(sweep_position)
    expected = in_order[rank_results(frame(sharpe[in_order], dd[in_order]))["grid_pos"].to_numpy()]
    for n in (1, 25, 300):
        assert top_n(sharpe, dd, sweep_position, n).tolist() == expected[:n].tolist()


def test_ranking_metrics_objects_treats_an_undefined_sharpe_as_last() -> None:
    def metrics(sharpe: float | None, dd: float) -> Metrics:
        return Metrics(1.0, 0.0, sharpe, dd, 0.0, 0, 10)

    runs = [metrics(None, 0.0), metrics(0.1, 2.0), metrics(0.1, 1.0), metrics(-0.5, 0.0)]
    assert rank_metrics(runs) == [2, 1, 3, 0]
