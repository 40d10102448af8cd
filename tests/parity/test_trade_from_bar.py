"""Go-live parity: every engine starts trading at ``trade_from_bar`` the same way.

Bars before the go-live bar only warm the Kalman filter and the z-window up
(``shared.strategy.observe_pair``); ``shared.simulation.simulate(trade_from_bar=...)`` defines
that, and the daemon does the same after its go-live date. Randomized (hypothesis,
derandomized) over the price paths, configs and portfolios of ``test_fast_vs_backtrader``, with
the go-live bar at the first bar, at any later bar, or inside a signal that a backtest from the
first bar holds open (the go-live run then starts flat where the full run holds a position):

* the compiled engine equals the reference fill for fill and value for value (several configs
  per batch, so configs share the masked z rows);
* backtrader equals the compiled engine on every metric (relative 1e-9) and on the fill list;
* the broker's edge cases (margin rejections, size-0 legs, three pairs on one cash balance)
  going live inside an open signal, on all three engines.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from research.backtest.api import EngineResult
from research.backtest.registry import get_engine
from research.cli import main
from research.data.market_data import AlignedCloses, align_closes
from shared.errors import ConfigError
from shared.metrics import Metrics
from shared.simulation import SimulationResult, simulate
from shared.strategy import StrategyParams
from tests.parity import synthetic_pairs as sp
from tests.parity.daemon_cases import as_daily, config_for, go_live_at, open_signal_bars
from tests.parity.test_fast_vs_backtrader import (
    Scenario,
    assert_metrics_agree,
    assert_same_fills,
    scenarios,
)

EDGE_CASES = sp.broker_edge_cases()

WHERE = ("open", "mid", "first")
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


@dataclass(frozen=True)
class GoLive:
    scenario: Scenario
    data: AlignedCloses
    bar: int
    where: str


@st.composite
def go_lives(draw: st.DrawFn, max_pairs: int = 3, max_configs: int = 3) -> GoLive:
    scenario = draw(scenarios(max_pairs=max_pairs, max_configs=max_configs))
    where = draw(st.sampled_from(WHERE))
    fraction = draw(st.floats(0.0, 1.0, exclude_max=True))
    data = align_closes(scenario.prices, scenario.tickers)
    full = _reference(data, scenario, scenario.params[0], 0)
    open_bars = open_signal_bars(full.decisions)
    assume(where != "open" or open_bars)  # a case that never trades has no open signal
    return GoLive(scenario, data, go_live_at(where, fraction, data.n_bars, open_bars), where)


def _reference(
    data: AlignedCloses, scenario: Scenario, params: StrategyParams, bar: int
) -> SimulationResult:
    return simulate(
        data.closes,
        data.symbols,
        scenario.pairs,
        params,
        scenario.initial_cash,
        scenario.commission,
        trade_from_bar=bar,
    )


def _run(engine: str, case: GoLive, params: list[StrategyParams]) -> list[EngineResult]:
    return get_engine(engine).run(
        case.data,
        case.scenario.pairs,
        params,
        initial_cash=case.scenario.initial_cash,
        commission=case.scenario.commission,
        with_details=True,
        trade_from_bar=case.bar,
    )


def _agree(ours: Metrics, theirs: Metrics, label: str) -> None:
    """Every seed metric equal to relative 1e-9."""
    assert_metrics_agree(ours, dict[str, object](theirs.as_dict()), label)


def assert_nothing_before_go_live(result: EngineResult, bar: int, cash: float, label: str) -> None:
    """No fill before the bar after go-live; the value is the initial cash through go-live."""
    assert result.fills is not None and result.values is not None
    assert all(f.bar > bar for f in result.fills), f"{label}: a fill before go-live"
    assert np.all(result.values[: bar + 1] == cash), f"{label}: the value moved before go-live"


@settings(max_examples=80, derandomize=True, deadline=None, suppress_health_check=SLOW)
@given(go_lives())
def test_fast_engine_goes_live_like_the_reference_fill_for_fill(case: GoLive) -> None:
    event(f"go-live {case.where}")
    results = _run("fast", case, list(case.scenario.params))
    for params, result in zip(case.scenario.params, results, strict=True):
        ref = _reference(case.data, case.scenario, params, case.bar)
        label = f"go-live bar {case.bar} ({case.where}) {params} {case.scenario.pairs}"
        event("traded" if ref.fills else "no fill")
        assert result.fills == ref.fills, label
        assert result.values is not None and np.array_equal(result.values, ref.values), label
        _agree(result.metrics, ref.metrics, label)
        assert_nothing_before_go_live(result, case.bar, case.scenario.initial_cash, label)


@settings(max_examples=24, derandomize=True, deadline=None, suppress_health_check=SLOW)
@given(go_lives(max_pairs=2, max_configs=1))
def test_backtrader_goes_live_like_the_fast_engine(case: GoLive) -> None:
    event(f"go-live {case.where}")
    params = list(case.scenario.params)
    (fast,) = _run("fast", case, params)
    (bt,) = _run("backtrader", case, params)
    label = f"go-live bar {case.bar} ({case.where}) {params[0]} {case.scenario.pairs}"
    _agree(fast.metrics, bt.metrics, f"backtrader {label}")
    assert fast.fills is not None and bt.fills is not None
    assert_same_fills(fast.fills, bt.fills, label)
    assert bt.values is not None and fast.values is not None
    np.testing.assert_allclose(bt.values, fast.values, rtol=1e-9, err_msg=label)
    assert_nothing_before_go_live(bt, case.bar, case.scenario.initial_cash, label)


@pytest.mark.parametrize(("dataset", "params"), list(EDGE_CASES.values()), ids=list(EDGE_CASES))
def test_engines_go_live_alike_inside_an_open_signal_on_broker_edge_cases(
    dataset: sp.Dataset, params: StrategyParams
) -> None:
    data = align_closes(dataset.prices, dataset.tickers)
    scenario = Scenario(dataset.prices, dataset.pairs, (params,), dataset.initial_cash, 0.0005)
    full = _reference(data, scenario, params, 0)
    open_bars = [b for b in open_signal_bars(full.decisions) if b >= data.n_bars // 3]
    assert open_bars, f"{dataset.name}: the full run should hold a signal open after a third"
    case = GoLive(scenario, data, open_bars[0], "open")
    ref = _reference(data, scenario, params, case.bar)
    assert ref.fills and ref.fills != full.fills, "the go-live run must trade, and differently"
    (fast,) = _run("fast", case, [params])
    (bt,) = _run("backtrader", case, [params])
    assert fast.fills == ref.fills and fast.metrics == ref.metrics
    assert bt.fills is not None
    assert_same_fills(bt.fills, ref.fills, dataset.name)
    _agree(bt.metrics, ref.metrics, dataset.name)


@pytest.mark.parametrize("engine", ["reference", "fast", "backtrader"])
@pytest.mark.parametrize("bar", [-1, 40, 41])
def test_a_go_live_bar_outside_the_data_is_refused_by_every_engine(engine: str, bar: int) -> None:
    dataset = sp.single_pair(5, n_bars=40)
    data = align_closes(dataset.prices, dataset.tickers)
    with pytest.raises(ConfigError, match=r"trade_from_bar.*outside the 40 bars"):
        get_engine(engine).run(data, dataset.pairs, [StrategyParams()], trade_from_bar=bar)


def test_backtest_command_trades_from_the_given_date_like_the_engines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = sp.portfolio(4, n_pairs=2, n_bars=120)
    closes = as_daily(dataset.prices)
    config = config_for(closes, list(dataset.pairs), window=15, entry_z=1.4, stake=40)
    prices, config_json = tmp_path / "prices.csv", tmp_path / "config.json"
    closes.to_csv(prices)
    config_json.write_text(json.dumps(config.model_dump(mode="json")), encoding="utf-8")
    base = ["backtest", "--prices", str(prices), "--config", str(config_json), "--json"]
    go_live = closes.index[70]
    assert main([*base, "--engine", "fast", "--trade-from", go_live.isoformat(), "--verify"]) == 0
    printed = json.loads(capsys.readouterr().out)
    ref = simulate(
        closes.to_numpy(),
        list(closes.columns),
        config.pair_list,
        config.params,
        config.initial_cash,
        config.commission,
        trade_from_bar=70,
    )
    assert ref.fills, "the case must trade after go-live"
    for key, value in ref.metrics.as_dict().items():
        assert value is not None and math.isclose(printed[key], value, rel_tol=1e-9), key
    assert main([*base, "--trade-from", "2099-01-02"]) == 2
    assert "after the last session" in capsys.readouterr().err
