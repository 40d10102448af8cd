"""Layer 1 of parity: research's backtrader strategy (a thin adapter around the shared core)
equals the verbatim seed transcription on every metric, and the pure reference engine equals
both, fill for fill. Budget: about a minute on one core (backtrader costs ~0.25 ms per bar).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from research.backtest.backtrader_engine import BacktraderEngine, run_cerebro
from research.backtest.registry import get_engine
from research.data.market_data import AlignedCloses, align_closes
from research.search.grid import SEED_GRID
from research.search.verification import VERIFY_METRICS, metrics_agree
from shared.orders import Fill
from shared.simulation import simulate
from shared.strategy import StrategyParams
from tests.oracle.seed_backtrader import build_ohlc_dict, run_backtest_for_params
from tests.parity import synthetic_pairs as sp

SEED_PARAMS = SEED_GRID.params()
SUBSET = SEED_PARAMS[::11]  # 7 configs covering every value of every axis


def oracle_metrics(ds: sp.Dataset, params: StrategyParams) -> dict[str, Any]:
    return run_backtest_for_params(
        ds.tickers,
        build_ohlc_dict(ds.prices, ds.tickers),
        ds.pair_dicts,
        params.window,
        params.entry_z,
        params.exit_z,
        params.stop_z,
        params.stake,
        params.long_only,
        delta=params.delta,
        R=params.R,
        initial_cash=ds.initial_cash,
    )


def assert_metrics_equal(ours: dict[str, Any], oracle: dict[str, Any], label: str) -> None:
    bad = {m: (ours[m], oracle[m]) for m in VERIFY_METRICS if not metrics_agree(ours[m], oracle[m])}
    assert not bad, f"{label}: metrics differ (ours, oracle): {bad}"


def assert_fills_equal(ours: list[Fill], reference: list[Fill], label: str) -> None:
    assert len(ours) == len(reference), f"{label}: {len(ours)} fills vs {len(reference)}"
    for a, b in zip(ours, reference, strict=True):
        # backtrader's line buffers and commission sums may move the last bit of a float
        assert (a.bar, a.symbol, a.signed_quantity) == (b.bar, b.symbol, b.signed_quantity), label
        assert math.isclose(a.price, b.price, rel_tol=1e-12), f"{label}: {a} vs {b}"
        assert math.isclose(a.commission, b.commission, rel_tol=1e-12), f"{label}: {a} vs {b}"


def check_all_engines(ds: sp.Dataset, params_list: list[StrategyParams]) -> list[Any]:
    """Oracle vs backtrader engine vs reference engine on every config; returns the strategies."""
    data = align_closes(ds.prices, ds.tickers)
    reference = get_engine("reference")
    strategies = []
    for params in params_list:
        label = f"{ds.name} {params}"
        oracle = oracle_metrics(ds, params)
        metrics, strat = run_cerebro(data, ds.pairs, params, initial_cash=ds.initial_cash)
        assert_metrics_equal(metrics.as_dict(), oracle, f"backtrader engine, {label}")
        (ref,) = reference.run(
            data, ds.pairs, [params], initial_cash=ds.initial_cash, with_details=True
        )
        assert_metrics_equal(ref.metrics.as_dict(), oracle, f"reference engine, {label}")
        assert ref.fills is not None
        assert_fills_equal(strat.fills, ref.fills, label)
        sim = simulate(data.closes, data.symbols, ds.pairs, params, ds.initial_cash)
        assert strat.rejections == sim.rejections, label
        strategies.append(strat)
    return strategies


def test_backtrader_engine_equals_the_seed_oracle_on_the_full_seed_grid() -> None:
    strategies = check_all_engines(sp.single_pair(1, n_bars=300), SEED_PARAMS)
    assert sum(len(s.fills) for s in strategies) > 300  # the grid really trades


@pytest.mark.parametrize(
    "dataset",
    [
        sp.portfolio(2, n_pairs=3, n_bars=300),
        sp.portfolio(11, n_pairs=2, n_bars=300),
        sp.margin_squeeze(3, n_bars=300),
        sp.tiny_beta(4, n_bars=300),
        sp.negative_beta(5, n_bars=300),
    ],
    ids=lambda ds: ds.name,
)
def test_engines_equal_the_seed_oracle_on_edge_case_datasets(dataset: sp.Dataset) -> None:
    check_all_engines(dataset, SUBSET)


def test_multi_pair_portfolios_share_one_cash_balance_and_drop_gapped_dates() -> None:
    ds = sp.portfolio(2, n_pairs=3)
    data = align_closes(ds.prices, ds.tickers)
    assert data.n_bars < len(ds.prices)  # the NaN holes were intersected away
    (strat,) = check_all_engines(ds, [StrategyParams(window=45, entry_z=2.0, stake=75)])
    traded = {f.symbol for f in strat.fills}
    assert len(traded) == 6  # all three pairs traded within one portfolio


def test_buys_beyond_cash_are_rejected_at_submission_like_backtrader() -> None:
    ds = sp.margin_squeeze(3)
    strategies = check_all_engines(ds, [SEED_PARAMS[0], SEED_PARAMS[4]])
    assert sum(len(s.rejections) for s in strategies) > 0


def test_opening_part_nullified_at_the_fill_price_matches_backtrader() -> None:
    """Backtrader's execution-time margin check (see shared.fill_model): the buy passed the
    submission check at the creation price, but at the next bar's higher price it would leave
    cash below zero, so backtrader nullifies it (status Margin) and the reference does too."""
    ds = sp.margin_at_fill(2)
    (strat,) = check_all_engines(ds, [sp.MARGIN_AT_FILL_PARAMS])
    assert strat.nullified_at_fill >= 1


def test_zero_size_leg_is_not_sent_when_beta_times_stake_truncates_to_zero() -> None:
    ds = sp.tiny_beta(4)
    params = StrategyParams(window=60, entry_z=2.5, stop_z=4.0, stake=25)
    (strat,) = check_all_engines(ds, [params])
    entry_bars = {f.bar for f in strat.fills if f.symbol == "HUGE"}
    tiny_bars = {f.bar for f in strat.fills if f.symbol == "TINY"}
    assert entry_bars - tiny_bars, "some entries should trade the B leg only"


def test_negative_screen_hedge_ratio_is_replaced_by_the_first_kalman_update() -> None:
    """Measured: with P = 1 and R = 1e-3 the first update's gain is ~1/price_B, so beta jumps to
    ~price_A/price_B > 0 whatever the screen's sign. A negative ``int(beta*stake)`` (sent as its
    absolute value, as backtrader's ``buy(size<0)`` does) is therefore unreachable with positive
    prices; a negative starting ratio must still give the seed's numbers, fill for fill."""
    ds = sp.negative_beta(5)
    params = StrategyParams(window=45, entry_z=2.0, stake=50)
    (strat,) = check_all_engines(ds, [params])
    data = align_closes(ds.prices, ds.tickers)
    sim = simulate(data.closes, data.symbols, ds.pairs, params)
    assert ds.pairs[0].hedge_ratio < 0
    assert all(bar[0].beta > 0 for bar in sim.decisions)
    assert strat.fills


def test_backtrader_engine_records_one_value_per_bar() -> None:
    ds = sp.single_pair(3, n_bars=300)
    data: AlignedCloses = align_closes(ds.prices, ds.tickers)
    params = SEED_PARAMS[0]
    (result,) = BacktraderEngine().run(data, ds.pairs, [params], with_details=True)
    sim = simulate(data.closes, data.symbols, ds.pairs, params)
    assert result.values is not None and len(result.values) == data.n_bars
    assert all(
        math.isclose(a, b, rel_tol=1e-12) for a, b in zip(result.values, sim.values, strict=True)
    )


def test_seed_grid_is_the_seeds_itertools_product() -> None:
    seed = list(
        itertools.product([45, 60, 90], [2.0, 2.5], [0.5], [3.5, 4.0], [25, 50, 75], [False, True])
    )
    assert [
        (p.window, p.entry_z, p.exit_z, p.stop_z, p.stake, p.long_only) for p in SEED_PARAMS
    ] == seed
