"""The contract every backtest engine implements (backtrader, the pure reference, the compiled
engine), so ``optimize``, ``backtest``, sweeps and walk-forward can switch engines by name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from research.market_data import AlignedCloses
from shared.metrics import Metrics
from shared.orders import Fill
from shared.strategy import Pair, StrategyParams


@dataclass(frozen=True)
class EngineResult:
    params: StrategyParams
    metrics: Metrics
    fills: list[Fill] | None = None  # when requested: (bar, symbol, signed size, price, commission)
    values: np.ndarray | None = None  # when requested: end-of-bar portfolio value


class BacktestEngine(Protocol):
    name: str

    def run(
        self,
        data: AlignedCloses,
        pairs: Sequence[Pair],
        params_list: Sequence[StrategyParams],
        *,
        initial_cash: float = 100_000.0,
        commission: float = 0.0005,
        with_details: bool = False,
    ) -> list[EngineResult]:
        """Backtest every ``params`` on the same data and pairs (one portfolio per params).
        ``with_details`` asks for fills and the value series as well."""
        ...
