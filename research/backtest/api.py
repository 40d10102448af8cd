"""The contract every backtest engine implements (backtrader, the pure reference, the compiled
engine), so ``optimize``, ``backtest``, sweeps and walk-forward can switch engines by name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from research.data.market_data import AlignedCloses
from shared.errors import ConfigError
from shared.metrics import Metrics
from shared.orders import Fill
from shared.schema import DEFAULT_ACCOUNT
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
        initial_cash: float = DEFAULT_ACCOUNT.initial_cash,
        commission: float = DEFAULT_ACCOUNT.commission,
        with_details: bool = False,
        trade_from_bar: int = 0,
    ) -> list[EngineResult]:
        """Backtest every ``params`` on the same data and pairs (one portfolio per params).
        ``with_details`` asks for fills and the value series as well.

        ``trade_from_bar`` is the go-live bar: the bars before it only warm the Kalman filter
        and the z-window up (:func:`shared.strategy.observe_pair`: no order, the signal state
        stays flat) and trading starts on it, as the daemon does after its go-live date. The
        values and metrics still cover every bar (flat at the initial cash before it)."""
        ...


def check_trade_from_bar(trade_from_bar: int, n_bars: int) -> int:
    """``trade_from_bar`` as an int in ``[0, n_bars)``, or a clear error."""
    if isinstance(trade_from_bar, bool) or not isinstance(trade_from_bar, (int, np.integer)):
        raise ConfigError(
            f"must be a whole number of bars, got {trade_from_bar!r}", key="trade_from_bar"
        )
    if not 0 <= trade_from_bar < n_bars:
        raise ConfigError(
            f"go-live bar {trade_from_bar} is outside the {n_bars} bars of the data "
            f"(valid: 0..{n_bars - 1}); pick a go-live date inside the backtest window",
            key="trade_from_bar",
        )
    return int(trade_from_bar)
