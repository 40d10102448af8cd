"""How walk-forward runs a grid on one window: through any backtest engine, with a warm-up.

A walk-forward fold needs, for every config, the end-of-bar values and the fills of a backtest
that trades only from ``trade_from_bar`` on (the bars before only warm the Kalman filter and the
z-window up). Engines implementing :class:`research.engine_api.BacktestEngine` that accept a
``trade_from_bar`` keyword run that themselves. The compiled engine gets it from its plan
layer: before the go-live bar every z is set to NaN, which the kernel treats as "skip the bar"
(no decision, state and positions stay flat) while the Kalman and spread paths are the ones
computed from the train start, exactly :func:`shared.strategy.observe_pair`. For any other
engine the pure reference simulation (:func:`shared.simulation.simulate`, which defines the
semantics) runs the warm-started part.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from research.engine_api import BacktestEngine
from research.market_data import AlignedCloses
from shared.metrics import Metrics
from shared.orders import Fill
from shared.simulation import simulate
from shared.strategy import Pair, StrategyParams


@dataclass(frozen=True)
class Run:
    """One config's backtest on one window: seed metrics, end-of-bar values, fills."""

    metrics: Metrics
    values: np.ndarray
    fills: list[Fill]


class GridRunner(Protocol):
    def __call__(
        self,
        data: AlignedCloses,
        pairs: Sequence[Pair],
        grid: Sequence[StrategyParams],
        trade_from_bar: int,
    ) -> list[Run]: ...


@dataclass
class ReferenceRunner:
    """The pure reference simulation, config by config (slow: tests and small checks)."""

    initial_cash: float = 100_000.0
    commission: float = 0.0005
    name: str = "reference"

    def __call__(
        self,
        data: AlignedCloses,
        pairs: Sequence[Pair],
        grid: Sequence[StrategyParams],
        trade_from_bar: int,
    ) -> list[Run]:
        runs = []
        for params in grid:
            result = simulate(
                data.closes,
                data.symbols,
                pairs,
                params,
                self.initial_cash,
                self.commission,
                trade_from_bar=trade_from_bar,
            )
            runs.append(Run(result.metrics, result.values, list(result.fills)))
        return runs


def supports_trade_from_bar(engine: BacktestEngine) -> bool:
    try:
        return "trade_from_bar" in inspect.signature(engine.run).parameters
    except (TypeError, ValueError):
        return False


def warm_start_path(engine: BacktestEngine) -> str:
    """How ``engine``'s warm-started runs are done: ``native``, ``fast-mask`` or ``reference``."""
    if supports_trade_from_bar(engine):
        return "native"
    return "fast-mask" if engine.name == "fast" else "reference"


def fast_warm_runs(
    data: AlignedCloses,
    pairs: Sequence[Pair],
    grid: Sequence[StrategyParams],
    trade_from_bar: int,
    initial_cash: float,
    commission: float,
) -> list[Run]:
    """The compiled kernel with no decision before ``trade_from_bar`` (NaN z: bar skipped)."""
    from research.fast.plan import ConfigBatch, build_paths, metrics_rows, run_batch
    from research.fast_engine import portfolio_of

    portfolio, symbols = portfolio_of(data, pairs)
    runs = []
    for params in grid:
        batch = ConfigBatch.from_params([params])
        paths = build_paths(portfolio, batch)
        paths.zs[:, :trade_from_bar] = np.nan
        out = run_batch(
            portfolio, batch, paths, initial_cash=initial_cash, commission=commission, detail=True
        )
        fills = [
            Fill(int(b), symbols[int(s)], int(q), float(p), float(c)) for b, s, q, p, c in out.fills
        ]
        metrics = metrics_rows(out.metrics, data.n_bars)[0]
        runs.append(Run(metrics, out.values[0].copy(), fills))
    return runs


@dataclass
class EngineRunner:
    """A registered engine; warm-started runs fall back to the reference when the engine has
    no ``trade_from_bar``. ``engines_used`` says which engine ran what, for the report."""

    engine: BacktestEngine
    initial_cash: float = 100_000.0
    commission: float = 0.0005
    engines_used: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.engine.name

    def __call__(
        self,
        data: AlignedCloses,
        pairs: Sequence[Pair],
        grid: Sequence[StrategyParams],
        trade_from_bar: int,
    ) -> list[Run]:
        path = warm_start_path(self.engine)
        if trade_from_bar and path == "fast-mask":
            self.engines_used.add("fast")
            return fast_warm_runs(
                data, pairs, grid, trade_from_bar, self.initial_cash, self.commission
            )
        if trade_from_bar and path == "reference":
            self.engines_used.add("reference")
            return ReferenceRunner(self.initial_cash, self.commission)(
                data, pairs, grid, trade_from_bar
            )
        extra = {"trade_from_bar": trade_from_bar} if trade_from_bar else {}
        results = self.engine.run(
            data,
            pairs,
            grid,
            initial_cash=self.initial_cash,
            commission=self.commission,
            with_details=True,
            **extra,
        )
        self.engines_used.add(self.engine.name)
        runs = []
        for result in results:
            if result.values is None or result.fills is None:
                raise TypeError(
                    f"engine '{self.engine.name}' returned no values/fills with with_details=True"
                )
            runs.append(Run(result.metrics, np.asarray(result.values), list(result.fills)))
        return runs
