"""Ranking exactly as the seed: Sharpe descending, then max drawdown ascending, ties in grid order,
undefined Sharpe last; and the results table's columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.search.optimize import RESULT_COLUMNS, rank_results, result_row
from shared.strategy import StrategyParams


def frame(sharpe: list[float], dd: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"grid_pos": range(len(sharpe)), "sharpe_ratio": sharpe, "max_dd_pct": dd})


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
