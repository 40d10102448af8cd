"""How walk-forward runs a grid on one window: through any backtest engine, with a warm-up.

A walk-forward fold needs, for every config, the end-of-bar values and the fills of a backtest
that trades only from ``trade_from_bar`` on (the bars before only warm the Kalman filter and the
z-window up). The built-in engines (``fast``, ``backtrader``, ``reference``) take that
``trade_from_bar`` keyword of :class:`research.backtest.api.BacktestEngine` and run it
themselves. For a registered engine without it, the pure reference simulation
(:func:`shared.simulation.simulate`, which defines the semantics) runs the warm-started part.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from research.backtest.api import BacktestEngine
from research.data.market_data import AlignedCloses
from shared.metrics import Metrics
from shared.orders import Fill
from shared.schema import DEFAULT_ACCOUNT
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

    initial_cash: float = DEFAULT_ACCOUNT.initial_cash
    commission: float = DEFAULT_ACCOUNT.commission
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
    """How ``engine``'s warm-started runs are done: ``native`` (the engine's own
    ``trade_from_bar``) or ``reference`` (the reference simulation instead)."""
    return "native" if supports_trade_from_bar(engine) else "reference"


@dataclass
class EngineRunner:
    """A registered engine; warm-started runs fall back to the reference when the engine has
    no ``trade_from_bar``. ``engines_used`` says which engine ran what, for the report."""

    engine: BacktestEngine
    initial_cash: float = DEFAULT_ACCOUNT.initial_cash
    commission: float = DEFAULT_ACCOUNT.commission
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
        if trade_from_bar and warm_start_path(self.engine) == "reference":
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
