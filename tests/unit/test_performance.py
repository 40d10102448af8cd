"""The quoted metrics on hand-checkable series and against the seed's daily metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from research.data.synthetic import generate_universe
from research.evaluation.performance import holding_periods, positions_by_bar, quoted_metrics
from shared.metrics import compute_metrics, daily_returns
from shared.orders import Fill
from shared.simulation import simulate
from shared.strategy import Pair, StrategyParams


def _fill(bar: int, symbol: str, qty: int, price: float = 10.0) -> Fill:
    return Fill(bar, symbol, qty, price, abs(qty) * price * 0.0005)


def test_annualized_sharpe_is_the_seed_sharpe_times_root_252():
    values = 100_000 * np.cumprod(1 + np.random.default_rng(1).normal(2e-4, 0.005, 400))
    seed = compute_metrics(values, 100_000, [])
    quoted = quoted_metrics(values, 100_000)
    assert seed.sharpe_ratio is not None
    assert quoted.sharpe_annualized == pytest.approx(seed.sharpe_ratio * math.sqrt(252))
    returns = daily_returns(values, 100_000)
    assert quoted.volatility_annualized == pytest.approx(np.std(returns) * math.sqrt(252))


def test_cagr_compounds_over_years_of_252_sessions():
    values = 100.0 * 2.0 ** (np.arange(1, 505) / 504)  # doubles in two years
    assert quoted_metrics(values, 100.0).cagr == pytest.approx(math.sqrt(2) - 1)


def test_calmar_is_cagr_over_the_max_drawdown_fraction():
    values = np.array([110.0, 99.0, 121.0] + [121.0] * 249)  # one year, 10% drawdown
    quoted = quoted_metrics(values, 100.0)
    assert quoted.cagr == pytest.approx(0.21)
    assert quoted.calmar == pytest.approx(0.21 / 0.10)


def test_sortino_divides_by_downside_deviation_only():
    values = 100.0 * np.cumprod([1.02, 0.99, 1.01, 0.98])
    r = np.array([0.02, -0.01, 0.01, -0.02])
    downside = math.sqrt((0.01**2 + 0.02**2) / 4)
    quoted = quoted_metrics(values, 100.0)
    assert quoted.sortino_annualized == pytest.approx(r.mean() / downside * math.sqrt(252))


def test_a_flat_book_has_undefined_ratios_and_no_exposure():
    quoted = quoted_metrics(np.full(30, 1000.0), 1000.0)
    assert quoted.sharpe_annualized is None and quoted.sortino_annualized is None
    assert quoted.calmar is None and quoted.avg_holding_bars is None
    assert quoted.exposure == 0.0 and quoted.turnover_annualized == 0.0 and quoted.cagr == 0.0


def test_exposure_turnover_and_holding_period_from_fills():
    fills = [_fill(2, "A", 10), _fill(2, "B", -5), _fill(5, "A", -10), _fill(7, "B", 5)]
    quoted = quoted_metrics(np.full(10, 1000.0), 1000.0, fills, periods_per_year=10)
    assert quoted.exposure == pytest.approx(5 / 10)  # open at the end of bars 2..6
    assert quoted.avg_holding_bars == pytest.approx((3 + 5) / 2)
    assert quoted.closed_trades == 2
    # 300 of notional traded in one "year" of 10 bars on an average book of 1000.
    assert quoted.turnover_annualized == pytest.approx(0.3)


def test_a_flip_closes_one_trade_and_opens_the_next():
    fills = [_fill(1, "A", 10), _fill(4, "A", -20), _fill(9, "A", 10)]
    assert holding_periods(fills) == [3, 5]
    np.testing.assert_array_equal(
        positions_by_bar(fills, 10)["A"], [0, 10, 10, 10, -10, -10, -10, -10, -10, 0]
    )


def test_a_fill_outside_the_bars_is_an_error():
    with pytest.raises(ValueError, match="bar 12"):
        quoted_metrics(np.full(10, 1.0), 1.0, [_fill(12, "A", 1)])


def test_closed_trades_agree_with_the_seed_count_on_a_real_backtest():
    prices = generate_universe(n_sessions=400)
    symbols = ("SYN_A", "SYN_B")
    result = simulate(
        prices[list(symbols)].to_numpy(),
        symbols,
        [Pair("SYN_A", "SYN_B", 0.6)],
        StrategyParams(window=20, entry_z=1.5, stake=20),
    )
    quoted = quoted_metrics(result.values, 100_000.0, result.fills)
    assert result.metrics.total_trades > 0
    assert quoted.closed_trades == result.metrics.total_trades
    assert 0.0 < quoted.exposure < 1.0
