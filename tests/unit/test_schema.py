"""One schema: every strategy parameter, metric and screen statistic is declared once in
``shared`` and the grid, the production config, the results columns, the engines' columns and the
kernel's arguments follow from it, by name."""

from __future__ import annotations

import dataclasses
import inspect
import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from research.backtest.api import BacktestEngine
from research.backtest.backtrader_engine import BacktraderEngine, run_cerebro
from research.backtest.fast import account
from research.backtest.fast import portfolio_kernel as pk
from research.backtest.fast.plan import COLUMN_DTYPES, SIGNAL_PARAMS, ConfigBatch
from research.backtest.fast_engine import FastEngine
from research.backtest.registry import ReferenceEngine
from research.evaluation.walkforward import walk_forward
from research.evaluation.walkforward_runs import EngineRunner, ReferenceRunner
from research.report.plots import write_report_plots
from research.screen.coint.engines import STAT_FIELDS
from research.screen.pipeline import SEED_COLUMNS
from research.search.grid import AXES, SCALARS, Grid, grid_from_mapping
from research.search.optimize import (
    METRIC_COLUMNS,
    PAIR_STAT_COLUMNS,
    PARAM_COLUMNS,
    result_row,
    row_params,
)
from research.search.sweep_table import RESULT_COLUMNS, result_schema
from research.search.sweep_worker import grid_batch
from research.search.verification import VERIFY_METRICS
from shared.config import PairConfig, ProdConfig, parse_config
from shared.errors import ConfigError
from shared.metrics import METRIC_NAMES, RUN_METRICS, Metrics
from shared.schema import (
    ACCOUNT_SPECS,
    DEFAULT_ACCOUNT,
    SCREEN_STATISTICS,
    THRESHOLD_ORDER,
    ParamSpec,
)
from shared.simulation import simulate
from shared.strategy import PARAM_NAMES, PARAM_SPECS, StrategyParams

# A grid whose axes share no value, so a value landing on the wrong parameter is visible.
DISTINCT_GRID = Grid(
    window=(7, 11),
    entry_z=(1.25, 1.75),
    exit_z=(0.125,),
    stop_z=(5.5, 6.5),
    stake=(13, 17, 19),
    long_only=(False, True),
    delta=(3e-5, 4e-4),
    R=(0.0625,),
)


def _config_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        **dataclasses.asdict(StrategyParams()),
        "initial_cash": 100_000.0,
        "commission": 0.0005,
        "pairs": [{"asset_1": "AAA", "asset_2": "BBB", "hedge_ratio": 0.5}],
        "data": {"first_session": "2024-01-02", "last_session": "2024-06-28", "n_sessions": 124},
    }
    payload.update(overrides)
    return payload


def _outside(spec: ParamSpec) -> list[Any]:
    """Values just past each of the spec's bounds, and of the wrong type."""
    if spec.kind is bool:
        return ["yes", 1]
    step = 1 if spec.kind is int else 1e-9
    out: list[Any] = [float("nan")] if spec.kind is float else [2.5]
    out += [spec.ge - step] if spec.ge is not None else []
    out += [spec.gt] if spec.gt is not None else []
    # a relative step for floats: 1e12 + 1e-9 is 1e12 again
    out += [spec.le + max(step, abs(spec.le) * step)] if spec.le is not None else []
    out += [spec.lt] if spec.lt is not None else []
    return out


def test_strategy_params_can_only_be_built_by_keyword() -> None:
    with pytest.raises(TypeError):
        StrategyParams(60, 2.5)  # type: ignore[misc]


def test_every_parameter_is_a_grid_axis_a_config_field_and_a_results_column_in_order() -> None:
    assert PARAM_NAMES == AXES == PARAM_COLUMNS
    assert tuple(f.name for f in dataclasses.fields(Grid)) == (*AXES, *SCALARS)
    assert tuple(ACCOUNT_SPECS) == SCALARS
    assert tuple(f.name for f in dataclasses.fields(ConfigBatch)) == PARAM_NAMES
    config_fields = ProdConfig.model_fields
    for name, spec in {**PARAM_SPECS, **ACCOUNT_SPECS}.items():
        assert config_fields[name].annotation is spec.kind, name
        assert config_fields[name].is_required(), name
    assert tuple(RESULT_COLUMNS[4 : 4 + len(AXES)]) == AXES


def test_every_account_default_is_the_declared_one() -> None:
    """``initial_cash`` and ``commission`` default to :data:`DEFAULT_ACCOUNT` wherever they
    are taken (the grid's scalars included), and the declared defaults lie within their bounds."""
    for name, spec in ACCOUNT_SPECS.items():
        assert spec.accepts(getattr(DEFAULT_ACCOUNT, name)), name
    takers: list[Any] = [
        simulate,
        run_cerebro,
        BacktestEngine.run,
        BacktraderEngine.run,
        FastEngine.run,
        ReferenceEngine.run,
        ReferenceRunner,
        EngineRunner,
        walk_forward,
        write_report_plots,
        Grid,
    ]
    for taker in takers:
        parameters = inspect.signature(taker).parameters
        taken = [name for name in ACCOUNT_SPECS if name in parameters]
        assert taken, taker
        for name in taken:
            assert parameters[name].default == getattr(DEFAULT_ACCOUNT, name), (taker, name)


@pytest.mark.parametrize("name", [*PARAM_NAMES, *ACCOUNT_SPECS])
def test_grid_and_config_reject_the_same_out_of_bounds_values(name: str) -> None:
    spec = {**PARAM_SPECS, **ACCOUNT_SPECS}[name]
    for value in _outside(spec):
        grid_value = value if name in SCALARS else [value]
        with pytest.raises(ConfigError, match=f"key '{name}'"):
            grid_from_mapping({name: grid_value}, source="g.toml")
        with pytest.raises(ConfigError, match=f"key '{name}'"):
            parse_config(_config_payload(**{name: value}))


@pytest.mark.parametrize(
    ("lower", "upper"), list(itertools.pairwise(THRESHOLD_ORDER)), ids="<".join
)
def test_grid_and_config_both_demand_increasing_thresholds(lower: str, upper: str) -> None:
    equal = getattr(StrategyParams(), upper)
    with pytest.raises(ConfigError, match=f"every {lower} must be below every {upper}"):
        grid_from_mapping({lower: [equal], upper: [equal]})
    with pytest.raises(ConfigError, match=f"{lower} .* must be below {upper}"):
        parse_config(_config_payload(**{lower: equal, upper: equal}))


def test_grid_configurations_assign_every_value_to_its_own_parameter() -> None:
    params = DISTINCT_GRID.params()
    assert len(params) == DISTINCT_GRID.size
    for p in params:
        for axis in AXES:
            assert getattr(p, axis) in getattr(DISTINCT_GRID, axis), axis
    # the seed's product order: the last axis varies fastest
    assert [p.delta for p in params[:2]] == [3e-5, 4e-4]
    assert {p.window for p in params[: DISTINCT_GRID.size // 2]} == {7}


def test_the_compiled_engines_grid_columns_match_the_grids_configurations_by_name() -> None:
    batch = grid_batch(DISTINCT_GRID, 0, DISTINCT_GRID.size)
    for name in PARAM_NAMES:
        column = getattr(batch, name)
        assert column.dtype == COLUMN_DTYPES[name], name
        assert column.tolist() == [getattr(p, name) for p in DISTINCT_GRID.params()], name
    from_params = ConfigBatch.from_params(DISTINCT_GRID.params())
    for name in PARAM_NAMES:
        assert np.array_equal(getattr(from_params, name), getattr(batch, name)), name


def test_the_kernel_takes_the_signal_parameters_in_their_declared_order() -> None:
    names = list(inspect.signature(pk.run_configs.py_func).parameters)
    start = names.index(SIGNAL_PARAMS[0])
    assert tuple(names[start : start + len(SIGNAL_PARAMS)]) == SIGNAL_PARAMS


def test_a_results_row_turns_back_into_the_same_parameters() -> None:
    for p in DISTINCT_GRID.params()[:5]:
        row = pd.Series(result_row(p, {}))
        assert row_params(row) == p
        assert type(row_params(row).long_only) is bool


# A value other than the default for every parameter (a new parameter must be added here).
CHANGED = {
    "window": 59,
    "entry_z": 2.25,
    "exit_z": 0.25,
    "stop_z": 4.5,
    "stake": 40,
    "long_only": True,
    "delta": 2e-5,
    "R": 0.002,
}


def test_config_params_and_config_id_cover_every_parameter() -> None:
    assert set(CHANGED) == set(PARAM_NAMES)
    config = parse_config(_config_payload())
    assert config.params == StrategyParams()
    for name, value in CHANGED.items():
        other = parse_config(_config_payload(**{name: value}))
        assert other.config_id != config.config_id, name
        assert other.params == dataclasses.replace(StrategyParams(), **{name: value})


def test_metric_names_come_from_the_metrics_dataclass_everywhere() -> None:
    assert tuple(f.name for f in dataclasses.fields(Metrics)) == METRIC_NAMES
    assert METRIC_COLUMNS == VERIFY_METRICS == METRIC_NAMES
    assert RESULT_COLUMNS[-len(METRIC_NAMES) :] == METRIC_NAMES
    assert tuple(result_schema(Grid()).names) == RESULT_COLUMNS
    # The kernel's metrics matrix: one column per RUN_METRICS name, in that order.
    assert tuple(m for m in METRIC_NAMES if m != "n_days") == RUN_METRICS
    kernel_columns = {
        "final_value": account.FINAL_VALUE,
        "total_return": account.TOTAL_RETURN,
        "sharpe_ratio": account.SHARPE,
        "max_dd_pct": account.MAX_DD_PCT,
        "max_dd_abs": account.MAX_DD_ABS,
        "total_trades": account.TOTAL_TRADES,
    }
    assert {name: RUN_METRICS.index(name) for name in RUN_METRICS} == kernel_columns
    assert len(RUN_METRICS) == account.N_METRICS


def test_screen_statistics_are_the_screen_table_the_engines_and_the_config_pair() -> None:
    assert ("asset_1", "asset_2", *SCREEN_STATISTICS) == SEED_COLUMNS
    assert STAT_FIELDS[: len(SCREEN_STATISTICS)] == SCREEN_STATISTICS
    # ... plus the formation half-life research measures for the daemon's pair health.
    assert set(PairConfig.model_fields) == {"asset_1", "asset_2", *SCREEN_STATISTICS, "half_life"}
    assert set(PAIR_STAT_COLUMNS) == set(SCREEN_STATISTICS) - {"hedge_ratio"}
