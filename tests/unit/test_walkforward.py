"""Walk-forward folds, the warm-started test runs, and the no-look-ahead guarantee."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from research.backtest.api import EngineResult
from research.data.market_data import AlignedCloses, align_closes
from research.data.synthetic import generate_universe
from research.evaluation.walkforward import (
    Fold,
    FoldResult,
    Span,
    fixed_pairs,
    make_folds,
    run_fold,
    seed_order,
    walk_forward,
)
from research.evaluation.walkforward_runs import EngineRunner, ReferenceRunner, Run
from research.search.optimize import rank_results
from shared.errors import DataError
from shared.metrics import Metrics, daily_returns
from shared.simulation import simulate
from shared.strategy import Pair, StrategyParams

PAIR = Pair("SYN_A", "SYN_B", 0.6)
GRID = [StrategyParams(window=w, entry_z=e, stake=20) for w in (20, 60) for e in (1.5, 2.0)]
CASH = 100_000.0


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return generate_universe(n_sessions=700)[["SYN_A", "SYN_B", "SYN_C", "SYN_D"]]


@pytest.fixture(scope="module")
def result(prices: pd.DataFrame):
    return walk_forward(
        prices,
        GRID,
        fixed_pairs([PAIR]),
        ReferenceRunner(),
        train=Span(sessions=300),
        test=Span(sessions=100),
        n_splits=8,
    )


# --- spans and folds --------------------------------------------------------------------------


def test_span_reads_sessions_years_and_months():
    assert Span.parse("1255") == Span(sessions=1255)
    assert Span.parse("5y") == Span(months=60)
    assert Span.parse(" 6M ") == Span(months=6)
    assert str(Span.parse("5y")) == "5y" and str(Span.parse("18m")) == "18m"
    with pytest.raises(DataError, match="'5 years' is not understood"):
        Span.parse("5 years")
    with pytest.raises(DataError):
        Span.parse("0")


def test_rolling_folds_step_by_the_test_length_and_keep_the_train_length():
    dates = pd.bdate_range("2020-01-01", periods=1000)
    folds = make_folds(dates, Span(sessions=300), Span(sessions=200))
    assert [(f.train_start, f.test_start, f.test_end) for f in folds] == [
        (0, 300, 500),
        (200, 500, 700),
        (400, 700, 900),
        (600, 900, 1000),
    ]


def test_anchored_folds_always_train_from_the_first_bar():
    dates = pd.bdate_range("2020-01-01", periods=1000)
    folds = make_folds(dates, Span(sessions=300), Span(sessions=300), anchored=True)
    assert [(f.train_start, f.test_start, f.test_end) for f in folds] == [
        (0, 300, 600),
        (0, 600, 900),
        (0, 900, 1000),  # the last test window is shorter
    ]


def test_calendar_folds_start_each_test_on_the_first_session_of_its_period():
    dates = pd.bdate_range("2020-01-01", "2022-12-30")
    folds = make_folds(dates, Span(months=12), Span(months=6))
    starts = [f"{dates[f.test_start]:%Y-%m-%d}" for f in folds]
    assert starts == ["2021-01-01", "2021-07-01", "2022-01-03", "2022-07-01"]
    assert f"{dates[folds[1].train_start]:%Y-%m-%d}" == "2020-07-01"
    assert folds[-1].test_end == len(dates)


def test_too_little_data_for_one_fold_is_a_clear_error():
    with pytest.raises(DataError, match="shorten --train"):
        make_folds(pd.bdate_range("2020-01-01", periods=100), Span(sessions=100), Span(1))


def test_seed_order_is_the_seeds_pandas_ranking():
    rng = np.random.default_rng(2)
    sharpes = rng.choice([0.1, 0.2, np.nan, 0.05], 40)
    dds = rng.choice([1.0, 2.0, 0.5], 40)
    metrics = [
        Metrics(1.0, 0.0, None if np.isnan(s) else float(s), float(d), 0.0, 0, 10)
        for s, d in zip(sharpes, dds, strict=True)
    ]
    table = pd.DataFrame({"sharpe_ratio": sharpes, "max_dd_pct": dds, "i": range(40)})
    assert seed_order(metrics) == list(rank_results(table)["i"])


# --- a fold -----------------------------------------------------------------------------------


def _same_fold(a: FoldResult, b: FoldResult) -> None:
    assert a.chosen == b.chosen and a.pairs == b.pairs
    assert a.is_metrics == b.is_metrics and a.oos_metrics == b.oos_metrics
    np.testing.assert_array_equal(a.oos_returns, b.oos_returns)
    np.testing.assert_array_equal(a.is_sharpes, b.is_sharpes)
    np.testing.assert_array_equal(a.oos_sharpes, b.oos_sharpes)
    assert a.evidence == b.evidence


def test_poisoning_bars_after_a_fold_changes_nothing_in_that_fold(prices, result):
    fold = result.folds[1]
    poisoned = prices.copy()
    poisoned.iloc[fold.fold.test_end :, 0] = np.nan
    poisoned.iloc[fold.fold.test_end :, 1] = 1e12
    again = run_fold(
        poisoned, fold.fold, GRID, fixed_pairs([PAIR]), ReferenceRunner(),
        initial_cash=CASH, n_splits=8,
    )  # fmt: skip
    _same_fold(again, fold)


def test_poisoning_the_test_bars_leaves_the_train_choice_unchanged(prices, result):
    fold = result.folds[2]
    poisoned = prices.copy()
    poisoned.iloc[fold.fold.test_start : fold.fold.test_end, :] *= 1000.0
    again = run_fold(
        poisoned, fold.fold, GRID, fixed_pairs([PAIR]), ReferenceRunner(),
        initial_cash=CASH, n_splits=8,
    )  # fmt: skip
    assert again.chosen == fold.chosen and again.is_metrics == fold.is_metrics
    np.testing.assert_array_equal(again.is_sharpes, fold.is_sharpes)
    assert again.evidence == fold.evidence
    assert again.oos_metrics != fold.oos_metrics  # the test bars are used, and only there


@dataclass
class SpyRunner:
    """Records the last date every backtest of the walk-forward was given."""

    inner: ReferenceRunner = field(default_factory=ReferenceRunner)
    seen: list[tuple[pd.Timestamp, int]] = field(default_factory=list)

    def __call__(self, data: AlignedCloses, pairs, grid, trade_from_bar: int) -> list[Run]:
        self.seen.append((data.dates[-1], trade_from_bar))
        return self.inner(data, pairs, grid, trade_from_bar)


def test_no_backtest_or_screen_reads_a_bar_past_its_fold(prices):
    spy = SpyRunner()
    screened: list[pd.Timestamp] = []

    def choose(train: pd.DataFrame) -> list[Pair]:
        screened.append(train.index[-1])
        return [PAIR]

    wf = walk_forward(
        prices, GRID[:1], choose, spy, train=Span(sessions=300), test=Span(sessions=200)
    )
    for k, fold in enumerate(wf.folds):
        last_train = prices.index[fold.fold.test_start - 1]
        assert screened[k] == last_train
        assert spy.seen[2 * k] == (last_train, 0)  # the grid on train only
        assert spy.seen[2 * k + 1][0] == prices.index[fold.fold.test_end - 1]
        assert spy.seen[2 * k + 1][1] == 300  # trading starts at the test start


def test_test_window_trades_with_the_filter_and_z_window_carried_over_from_train(prices, result):
    for fold in result.folds:
        window = prices.iloc[fold.fold.train_start : fold.fold.test_end]
        data = align_closes(window, ["SYN_A", "SYN_B"])
        go_live = fold.fold.test_start - fold.fold.train_start
        assert fold.chosen is not None
        sim = simulate(
            data.closes, data.symbols, [PAIR], GRID[fold.chosen], CASH, trade_from_bar=go_live
        )
        np.testing.assert_array_equal(fold.oos_returns, daily_returns(sim.values[go_live:], CASH))
        assert fold.oos_metrics is not None
        assert fold.oos_metrics.total_trades == sim.metrics.total_trades
        assert sim.values[go_live - 1] == CASH  # flat until the test start: nothing carried in


def test_stitched_equity_chains_the_folds_oos_returns(prices, result):
    assert len(result.folds) == 4
    dates = result.oos_dates
    assert dates.is_unique and dates.is_monotonic_increasing
    assert list(dates) == list(prices.index[300:])
    np.testing.assert_allclose(result.oos_equity, CASH * np.cumprod(1 + result.oos_returns))
    assert result.oos_equity[-1] == pytest.approx(
        CASH * np.prod([1 + f.oos_metrics.total_return for f in result.folds if f.oos_metrics])
    )
    summary = result.summary()
    assert summary["folds"] == 4 and summary["oos_sessions"] == 400
    assert summary["oos_total_trades"] == sum(
        f.oos_metrics.total_trades for f in result.folds if f.oos_metrics
    )
    assert summary["first_test_session"] == f"{prices.index[300]:%Y-%m-%d}"
    # Positions never carry across folds: trade counts add up, exposure is length-weighted.
    quoted = [f.oos_quoted for f in result.folds if f.oos_quoted]
    assert summary["oos_quoted"]["closed_trades"] == sum(q.closed_trades for q in quoted)
    assert summary["oos_quoted"]["exposure"] == pytest.approx(np.mean([q.exposure for q in quoted]))


def test_a_fold_without_pairs_holds_cash(prices):
    wf = walk_forward(
        prices, GRID, lambda _train: [], ReferenceRunner(),
        train=Span(sessions=500), test=Span(sessions=100),
    )  # fmt: skip
    assert all(f.chosen is None for f in wf.folds)
    assert np.all(wf.oos_equity == CASH)
    summary = wf.summary()
    assert summary["folds_without_pairs"] == 2 and summary["oos_sharpe_daily"] is None


def test_chosen_only_mode_trades_one_config_out_of_sample(prices, result):
    wf = walk_forward(
        prices, GRID, fixed_pairs([PAIR]), ReferenceRunner(),
        train=Span(sessions=300), test=Span(sessions=100), n_splits=8, oos_all=False,
    )  # fmt: skip
    for quick, full in zip(wf.folds, result.folds, strict=True):
        np.testing.assert_array_equal(quick.oos_returns, full.oos_returns)
        assert np.isnan(np.delete(quick.oos_sharpes, quick.chosen)).all()
        assert quick.oos_rank_fraction is None and full.oos_rank_fraction is not None


# --- engines ----------------------------------------------------------------------------------


@dataclass
class FakeEngine:
    """An engine that delegates to the reference simulation and records its calls."""

    name: str = "fake"
    calls: list[int] = field(default_factory=list)

    def run(
        self, data, pairs, params_list, *, initial_cash=CASH, commission=0.0005,
        with_details=False,
    ) -> list[EngineResult]:  # fmt: skip
        return self._run(data, pairs, params_list, initial_cash, commission, 0)

    def _run(self, data, pairs, params_list, cash, commission, k) -> list[EngineResult]:
        self.calls.append(k)
        out = []
        for p in params_list:
            sim = simulate(data.closes, data.symbols, pairs, p, cash, commission, k)
            out.append(EngineResult(p, sim.metrics, sim.fills, sim.values))
        return out


@dataclass
class WarmFakeEngine(FakeEngine):
    name: str = "warm-fake"

    def run(  # type: ignore[override]
        self, data, pairs, params_list, *, initial_cash=CASH, commission=0.0005,
        with_details=False, trade_from_bar=0,
    ) -> list[EngineResult]:  # fmt: skip
        return self._run(data, pairs, params_list, initial_cash, commission, trade_from_bar)


def _runs(prices: pd.DataFrame, runner) -> Sequence[Run]:
    data = align_closes(prices.iloc[:400], ["SYN_A", "SYN_B"])
    return runner(data, [PAIR], GRID[:2], 300)


def test_engine_runner_passes_the_warm_up_to_engines_that_take_it(prices):
    engine = WarmFakeEngine()
    runner = EngineRunner(engine)
    runs = _runs(prices, runner)
    assert engine.calls == [300] and runner.engines_used == {"warm-fake"}
    reference = _runs(prices, ReferenceRunner())
    for a, b in zip(runs, reference, strict=True):
        np.testing.assert_array_equal(a.values, b.values)


def test_engine_runner_falls_back_to_the_reference_for_engines_without_warm_up(prices):
    engine = FakeEngine()
    runner = EngineRunner(engine)
    runs = _runs(prices, runner)
    assert engine.calls == [] and runner.engines_used == {"reference"}
    reference = _runs(prices, ReferenceRunner())
    for a, b in zip(runs, reference, strict=True):
        np.testing.assert_array_equal(a.values, b.values)
        assert a.metrics == b.metrics


def test_fold_bookkeeping_is_consistent(result):
    fold: Fold = result.folds[0].fold
    assert fold == Fold(0, 0, 300, 400)
    assert result.folds[0].evidence["n_trials"] == len(GRID)


def test_the_compiled_engine_warm_starts_exactly_like_the_reference(prices):
    from research.backtest.registry import get_engine

    data = align_closes(prices.iloc[:450], ["SYN_A", "SYN_B", "SYN_C", "SYN_D"])
    pairs = [PAIR, Pair("SYN_C", "SYN_D", 1.8)]
    runner = EngineRunner(get_engine("fast"))
    fast = runner(data, pairs, GRID, 300)
    reference = ReferenceRunner()(data, pairs, GRID, 300)
    assert runner.engines_used == {"fast"}
    assert any(r.fills for r in reference)
    for a, b in zip(fast, reference, strict=True):
        np.testing.assert_array_equal(a.values, b.values)
        assert a.fills == b.fills
        assert a.metrics.total_trades == b.metrics.total_trades
        assert a.metrics.final_value == pytest.approx(b.metrics.final_value, rel=1e-12)
