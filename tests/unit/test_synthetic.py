"""The synthetic sample universe: deterministic, labelled, and cointegrated where planted."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.stattools import coint

from research.backtest.registry import get_engine
from research.data.market_data import align_closes, pair_symbols
from research.data.synthetic import (
    DEFAULT_SESSIONS,
    PLANTED,
    generate_universe,
    source_label,
)
from research.screen.pipeline import run_screen
from research.screen.selection import pairs_from_table, select_top_non_overlapping_pairs
from research.search.grid import SEED_GRID
from research.search.optimize import rank_results, run_grid


@pytest.fixture(scope="module")
def universe() -> pd.DataFrame:
    return generate_universe()


def test_the_same_seed_gives_identical_prices(universe) -> None:
    pd.testing.assert_frame_equal(generate_universe(), universe)


def test_another_seed_gives_other_prices(universe) -> None:
    assert not np.allclose(generate_universe(seed=8).to_numpy(), universe.to_numpy())


def test_the_universe_is_labelled_synthetic_and_shaped_like_the_seed(universe) -> None:
    assert source_label(27) == "synthetic(seed=27)"
    assert all(t.startswith("SYN_") for t in universe.columns)
    assert 12 <= universe.shape[1] <= 16
    assert len(universe) == DEFAULT_SESSIONS >= 1_255
    assert universe.index.name == "date" and universe.index[0] == pd.Timestamp("2019-01-02")
    assert (universe.index.dayofweek < 5).all() and universe.index.is_monotonic_increasing
    assert (universe.to_numpy() > 0).all() and not universe.isna().any().any()


def test_start_and_length_are_parameters() -> None:
    short = generate_universe(start=date(2021, 3, 1), n_sessions=300)
    assert len(short) == 300 and short.index[0] == pd.Timestamp("2021-03-01")


def test_a_shorter_universe_is_a_prefix_of_the_longer_one(universe) -> None:
    pd.testing.assert_frame_equal(generate_universe(n_sessions=400), universe.iloc[:400])


def test_daily_moves_look_like_equities(universe) -> None:
    vol = np.log(universe).diff().std()
    assert vol.between(0.005, 0.05).all(), vol


@pytest.mark.parametrize("planted", PLANTED, ids=lambda p: f"{p.asset_1}-{p.asset_2}")
def test_planted_pairs_are_cointegrated_with_their_hedge_ratio(universe, planted) -> None:
    a, b = universe[planted.asset_1], universe[planted.asset_2]
    _, pvalue, _ = coint(a, b)
    assert pvalue < 0.01
    slope = np.polyfit(b.to_numpy(), a.to_numpy(), 1)[0]  # the screen's OLS hedge ratio
    assert slope == pytest.approx(planted.hedge, rel=0.1)
    assert 0.5 <= planted.hedge <= 2.5


@pytest.mark.filterwarnings("ignore::research.screen.pipeline.MultipleTestingWarning")
def test_the_default_sample_is_a_working_demo_for_the_seed_grid(universe) -> None:
    """The offline default must exercise every step: several pairs pass the screen, selection
    has overlaps to resolve, and the best seed-grid configuration actually trades."""
    screened = run_screen(universe, engine="fast", progress=False).table
    assert len(screened) >= 4
    selected = select_top_non_overlapping_pairs(screened)
    assert len(selected) < len(screened)  # overlapping pairs were skipped
    pairs = pairs_from_table(selected)
    assert [(p.asset_1, p.asset_2) for p in pairs][:2] == [("SYN_A", "SYN_B"), ("SYN_D", "SYN_E")]
    assert all(0.5 <= p.hedge_ratio <= 2.5 for p in pairs)
    data = align_closes(universe, pair_symbols(pairs))
    best = rank_results(run_grid(data, pairs, SEED_GRID, get_engine("fast"), progress=False))
    assert best.loc[0, "sharpe_ratio"] > 0
    assert 10 <= best.loc[0, "total_trades"] <= 60
