"""Backtest engines by name: ``fast`` (compiled, the default), ``backtrader`` (the seed's
measurement) and ``reference`` (the pure ``shared.simulation`` backtest)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

from research.backtest.api import BacktestEngine, EngineResult, check_trade_from_bar
from research.data.market_data import AlignedCloses
from shared.errors import PairsError
from shared.schema import DEFAULT_ACCOUNT
from shared.simulation import simulate
from shared.strategy import Pair, StrategyParams

DEFAULT_ENGINE = "fast"
ENGINE_NAMES: tuple[str, ...] = ("fast", "backtrader", "reference")


class EngineError(PairsError):
    """An engine is unknown or cannot be loaded."""


class ReferenceEngine:
    """``shared.simulation.simulate`` behind the engine protocol: readable, slow-ish, exact."""

    name = "reference"

    def run(
        self,
        data: AlignedCloses,
        pairs: Sequence[Pair],
        params_list: Sequence[StrategyParams],
        *,
        initial_cash: float = DEFAULT_ACCOUNT.initial_cash,
        commission: float = DEFAULT_ACCOUNT.commission,
        with_details: bool = False,
        trade_from_bar: int = 0,
    ) -> list[EngineResult]:
        go_live = check_trade_from_bar(trade_from_bar, data.n_bars)
        results = []
        for params in params_list:
            sim = simulate(
                data.closes,
                data.symbols,
                pairs,
                params,
                initial_cash,
                commission,
                trade_from_bar=go_live,
            )
            results.append(
                EngineResult(
                    params=params,
                    metrics=sim.metrics,
                    fills=sim.fills if with_details else None,
                    values=sim.values if with_details else None,
                )
            )
        return results


def _backtrader() -> BacktestEngine:
    from research.backtest.backtrader_engine import BacktraderEngine  # backtrader is slow to import

    return BacktraderEngine()


def _fast() -> BacktestEngine:
    try:
        module = importlib.import_module("research.backtest.fast_engine")
    except ImportError as exc:
        raise EngineError(
            f"the fast engine is not available ({exc}); run with `--engine backtrader` "
            "(or `--engine reference`) instead"
        ) from exc
    engine: BacktestEngine = module.FastEngine()
    return engine


_FACTORIES: dict[str, Callable[[], BacktestEngine]] = {
    "fast": _fast,
    "backtrader": _backtrader,
    "reference": ReferenceEngine,
}


def engine_names() -> tuple[str, ...]:
    return tuple(_FACTORIES)


def register_engine(name: str, factory: Callable[[], BacktestEngine]) -> None:
    """Make another engine selectable by name (an experimental engine, or a fake in tests)."""
    _FACTORIES[name] = factory


def unregister_engine(name: str) -> None:
    if name in ENGINE_NAMES:
        raise EngineError(f"engine '{name}' is built in and cannot be removed")
    _FACTORIES.pop(name, None)


def get_engine(name: str) -> BacktestEngine:
    """The engine called ``name``; a clear error for an unknown or unloadable one."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise EngineError(
            f"unknown engine '{name}': choose one of {', '.join(engine_names())}"
        ) from None
    return factory()
