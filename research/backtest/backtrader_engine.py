"""Backtrader as a backtest engine: the seed's measurement, driven by the shared strategy core.

``PairsStrategy.next`` is a thin adapter: for each pair it reads the actual positions from the
broker and calls :func:`shared.strategy.step_pair`, then sends the returned orders (before the
go-live bar ``trade_from_bar`` it calls :func:`shared.strategy.observe_pair`, which never orders). Cerebro is set
up exactly as the seed's ``run_backtest_for_params`` (same feeds, broker cash and commission, same
analyzers, same post-processing), so :class:`BacktraderEngine`'s metrics *are* the seed's numbers.

Measured on backtrader 1.9.78.123 (and pinned by the parity tests):

* ``notify_order`` for an order created on bar t arrives before ``next()`` of bar t+1, so the
  fill's bar index is ``len(self) - 1`` there.
* An order whose opening part is nullified at execution time (cash would go below 0 at the real
  fill price, see ``shared.fill_model``) is notified with status ``Margin`` and no executed size;
  an order refused by the submission check is notified ``Margin`` too. Neither is a fill.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import backtrader as bt
import numpy as np
import pandas as pd

from research.backtest.api import EngineResult, check_trade_from_bar
from research.data.market_data import AlignedCloses
from shared.fill_model import MARGIN
from shared.metrics import Metrics
from shared.orders import Fill, OrderIntent, Rejection, Side
from shared.schema import DEFAULT_ACCOUNT
from shared.strategy import Decision, Pair, PairState, StrategyParams, observe_pair, step_pair


class PairsStrategy(bt.Strategy):
    """The seed's ``KalmanPairsTrading`` as an adapter around ``step_pair``."""

    params = (("pairs", ()), ("config", StrategyParams()), ("trade_from_bar", 0))

    def __init__(self) -> None:
        self.pairs: list[Pair] = list(self.p.pairs)
        if not self.pairs:
            raise ValueError("pairs must be provided")
        self.states = [PairState.initial(p) for p in self.pairs]
        self.fills: list[Fill] = []
        self.rejections: list[Rejection] = []
        self.nullified_at_fill = 0  # margin refusals of orders that had passed submission
        self.values: list[float] = []
        self._accepted: set[int] = set()

    def notify_order(self, order: Any) -> None:
        if order.status == order.Accepted:
            self._accepted.add(order.ref)
        elif order.status == order.Margin:
            self.nullified_at_fill += order.ref in self._accepted
            self.rejections.append(
                Rejection(
                    len(self) - 1, order.data._name, int(order.size - order.executed.size), MARGIN
                )
            )
        elif order.status in (order.Completed, order.Partial) and order.executed.size:
            self._record_fill(order)

    def _record_fill(self, order: Any) -> None:
        self.fills.append(
            Fill(
                bar=len(self) - 1,
                symbol=order.data._name,
                signed_quantity=int(order.executed.size),
                price=float(order.executed.price),
                commission=float(order.executed.comm),
            )
        )

    def next(self) -> None:
        warming_up = len(self) - 1 < self.p.trade_from_bar
        for k, pair in enumerate(self.pairs):
            decision = self._observe(k, pair) if warming_up else self._step(k, pair)
            self.states[k] = decision.state
            for order in decision.orders:
                self._send(order)
        self.values.append(float(self.broker.getvalue()))

    def _step(self, k: int, pair: Pair) -> Decision:
        data_a = self.getdatabyname(pair.asset_1)
        data_b = self.getdatabyname(pair.asset_2)
        return step_pair(
            k,
            pair,
            self.states[k],
            float(data_a.close[0]),
            float(data_b.close[0]),
            int(self.getposition(data_a).size),
            int(self.getposition(data_b).size),
            self.p.config,
        )

    def _observe(self, k: int, pair: Pair) -> Decision:
        """Before the go-live bar: the filter and the z-window move, nothing is traded."""
        return observe_pair(
            k,
            pair,
            self.states[k],
            float(self.getdatabyname(pair.asset_1).close[0]),
            float(self.getdatabyname(pair.asset_2).close[0]),
            self.p.config,
        )

    def _send(self, order: OrderIntent) -> None:
        data = self.getdatabyname(order.symbol)
        if order.side is Side.BUY:
            self.buy(data, size=order.quantity)
        else:
            self.sell(data, size=order.quantity)


def _ohlc_frame(dates: pd.DatetimeIndex, close: np.ndarray) -> pd.DataFrame:
    """The seed's ``make_ohlc_from_close``: open = high = low = close, dummy volume."""
    return pd.DataFrame(
        {"open": close, "high": close, "low": close, "close": close, "volume": 1_000_000},
        index=dates,
    )


def _nan_to_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else value


def run_cerebro(
    data: AlignedCloses,
    pairs: Sequence[Pair],
    params: StrategyParams,
    *,
    initial_cash: float = DEFAULT_ACCOUNT.initial_cash,
    commission: float = DEFAULT_ACCOUNT.commission,
    trade_from_bar: int = 0,
) -> tuple[Metrics, PairsStrategy]:
    """One backtest set up and measured exactly as the seed's ``run_backtest_for_params``
    (trading from bar ``trade_from_bar`` on, see ``BacktestEngine.run``)."""
    cerebro = bt.Cerebro()
    for symbol in data.symbols:  # the seed's order: sorted tickers
        frame = _ohlc_frame(data.dates, data.column(symbol))
        cerebro.adddata(bt.feeds.PandasData(dataname=frame), name=symbol)
    cerebro.addstrategy(
        PairsStrategy, pairs=tuple(pairs), config=params, trade_from_bar=trade_from_bar
    )
    cerebro.broker.setcash(initial_cash)
    cerebro.broker.setcommission(commission=commission)
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="timereturn", timeframe=bt.TimeFrame.Days)
    cerebro.addanalyzer(
        bt.analyzers.SharpeRatio, _name="sharpe", timeframe=bt.TimeFrame.Days, riskfreerate=0.0
    )
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="dd")
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    strat: PairsStrategy = cerebro.run()[0]
    return _seed_metrics(strat, initial_cash), strat


def _seed_metrics(strat: Any, initial_cash: float) -> Metrics:
    """The seed's post-processing of its four analyzers, line for line."""
    ret_series = pd.Series(strat.analyzers.timereturn.get_analysis(), dtype=np.float64)
    equity_curve = (1 + ret_series).cumprod() * initial_cash
    final_value = float(equity_curve.iloc[-1]) if len(equity_curve) > 0 else initial_cash
    sharpe = strat.analyzers.sharpe.get_analysis().get("sharperatio", np.nan)
    dd = strat.analyzers.dd.get_analysis()
    trades = strat.analyzers.trades.get_analysis()
    return Metrics(
        final_value=final_value,
        total_return=final_value / initial_cash - 1,
        sharpe_ratio=_nan_to_none(sharpe),
        max_dd_pct=float(dd.get("max", {}).get("drawdown", np.nan)),
        max_dd_abs=float(dd.get("max", {}).get("moneydown", np.nan)),
        total_trades=int(trades.get("total", {}).get("closed", 0)),
        n_days=len(ret_series),
    )


class BacktraderEngine:
    """``research.backtest.api.BacktestEngine`` on backtrader: slow (~0.25 ms/bar), authoritative."""

    name = "backtrader"

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
            metrics, strat = run_cerebro(
                data,
                pairs,
                params,
                initial_cash=initial_cash,
                commission=commission,
                trade_from_bar=go_live,
            )
            results.append(
                EngineResult(
                    params=params,
                    metrics=metrics,
                    fills=list(strat.fills) if with_details else None,
                    values=np.asarray(strat.values) if with_details else None,
                )
            )
        return results
