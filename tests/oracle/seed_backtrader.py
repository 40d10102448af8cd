"""The seed notebook's ``KalmanPairsTrading`` and ``run_backtest_for_params``, transcribed
verbatim (only the notebook globals ``tickers``/``ohlc_dict``/``pair_list`` became arguments and
the print was dropped). This is the oracle every engine is held to; do not "improve" it.
"""

# ruff: noqa
# mypy: ignore-errors
from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd


def make_ohlc_from_close(close_series):
    df = pd.DataFrame(index=close_series.index)
    df["close"] = close_series
    df["open"] = close_series
    df["high"] = close_series
    df["low"] = close_series
    df["volume"] = 1_000_000  # dummy volume
    return df


def build_ohlc_dict(prices: pd.DataFrame, tickers):
    """The seed's data preparation: dropna per ticker, then intersect the dates."""
    ohlc_dict = {}
    for ticker in tickers:
        series = prices[ticker].dropna()
        ohlc_dict[ticker] = make_ohlc_from_close(series)
    common_index = ohlc_dict[tickers[0]].index
    for t in tickers[1:]:
        common_index = common_index.intersection(ohlc_dict[t].index)
    for t in tickers:
        ohlc_dict[t] = ohlc_dict[t].loc[common_index]
    return ohlc_dict


class KalmanPairsTrading(bt.Strategy):
    params = dict(
        pair_list=None,
        window=60,
        entry_z=2.5,
        exit_z=0.5,
        stop_z=4.0,
        stake=50,
        long_only=False,
        delta=1e-5,
        R=0.001,
    )

    def __init__(self):
        if not self.p.pair_list:
            raise ValueError("pair_list must be provided")

        self.data_dict = {d._name: d for d in self.datas}

        self.pairs = []
        for cfg in self.p.pair_list:
            a1 = cfg["asset_1"]
            a2 = cfg["asset_2"]
            hedge_ratio = cfg.get("hedge_ratio", 1.0)

            if a1 not in self.data_dict or a2 not in self.data_dict:
                continue

            self.pairs.append(
                {
                    "asset_1": a1,
                    "asset_2": a2,
                    "data_A": self.getdatabyname(a1),
                    "data_B": self.getdatabyname(a2),
                    "beta": hedge_ratio,
                    "P": 1.0,
                    "spread_buffer": [],
                    "state": 0,
                }
            )

    def next(self):
        for pair in self.pairs:
            data_A = pair["data_A"]
            data_B = pair["data_B"]

            if len(data_A) == 0 or len(data_B) == 0:
                continue

            price_A = data_A.close[0]
            price_B = data_B.close[0]

            # === Kalman update ===
            beta = pair["beta"]
            P = pair["P"]

            Q = self.p.delta / (1 - self.p.delta)
            beta_prior = beta
            P_prior = P + Q

            if price_B != 0:
                S = P_prior * price_B**2 + self.p.R
                K = (P_prior * price_B) / S
                y = price_A - beta_prior * price_B

                beta = beta_prior + K * y
                P = (1 - K * price_B) * P_prior

            pair["beta"] = beta
            pair["P"] = P

            # === Spread + Z-score ===
            spread = price_A - beta * price_B
            pair["spread_buffer"].append(spread)

            if len(pair["spread_buffer"]) < self.p.window:
                continue

            buf = pair["spread_buffer"][-self.p.window :]
            mean = np.mean(buf)
            std = np.std(buf)
            if std == 0:
                continue

            z = (spread - mean) / std

            state = pair["state"]
            pos_A = self.getposition(data_A).size
            pos_B = self.getposition(data_B).size

            # === ENTRY ===
            if state == 0 and pos_A == 0 and pos_B == 0:
                # Long spread
                if z < -self.p.entry_z:
                    qty_B = self.p.stake
                    qty_A = int(beta * qty_B)
                    self.buy(data_A, size=qty_A)
                    self.sell(data_B, size=qty_B)
                    pair["state"] = 1

                # Short spread
                elif not self.p.long_only and z > self.p.entry_z:
                    qty_B = self.p.stake
                    qty_A = int(beta * qty_B)
                    self.sell(data_A, size=qty_A)
                    self.buy(data_B, size=qty_B)
                    pair["state"] = -1

            # === EXIT (mean reversion or stop loss) ===
            elif state != 0:
                if abs(z) < self.p.exit_z or abs(z) > self.p.stop_z:
                    if pos_A > 0:
                        self.sell(data_A, size=pos_A)
                    elif pos_A < 0:
                        self.buy(data_A, size=abs(pos_A))

                    if pos_B > 0:
                        self.sell(data_B, size=pos_B)
                    elif pos_B < 0:
                        self.buy(data_B, size=abs(pos_B))

                    pair["state"] = 0


def run_backtest_for_params(
    tickers,
    ohlc_dict,
    pair_list,
    window,
    entry_z,
    exit_z,
    stop_z,
    stake,
    long_only,
    delta=1e-5,
    R=0.001,
    initial_cash=100000.0,
    commission=0.0005,
):
    cerebro = bt.Cerebro()

    # Rebuild fresh data feeds for this run
    for ticker in tickers:
        df_t = ohlc_dict[ticker].copy()
        df_t = df_t[["open", "high", "low", "close", "volume"]]
        data_feed = bt.feeds.PandasData(dataname=df_t)
        cerebro.adddata(data_feed, name=ticker)

    cerebro.addstrategy(
        KalmanPairsTrading,
        pair_list=pair_list,
        window=window,
        entry_z=entry_z,
        exit_z=exit_z,
        stop_z=stop_z,
        stake=stake,
        long_only=long_only,
        delta=delta,
        R=R,
    )

    cerebro.broker.setcash(initial_cash)
    cerebro.broker.setcommission(commission=commission)

    # Analyzers
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="timereturn", timeframe=bt.TimeFrame.Days)
    cerebro.addanalyzer(
        bt.analyzers.SharpeRatio, _name="sharpe", timeframe=bt.TimeFrame.Days, riskfreerate=0.0
    )
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="dd")
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")

    results = cerebro.run()
    strat = results[0]

    # TimeReturn → daily returns
    ret_series = pd.Series(strat.analyzers.timereturn.get_analysis())
    equity_curve = (1 + ret_series).cumprod() * initial_cash

    final_value = equity_curve.iloc[-1] if len(equity_curve) > 0 else initial_cash
    total_return = (final_value / initial_cash) - 1

    # Sharpe
    sharpe_dict = strat.analyzers.sharpe.get_analysis()
    sharpe_ratio = sharpe_dict.get("sharperatio", np.nan)

    # Drawdown
    dd_dict = strat.analyzers.dd.get_analysis()
    max_dd_pct = dd_dict.get("max", {}).get("drawdown", np.nan)
    max_dd_abs = dd_dict.get("max", {}).get("moneydown", np.nan)

    # Trades
    trades_dict = strat.analyzers.trades.get_analysis()
    total_trades = trades_dict.get("total", {}).get("closed", 0)

    metrics = {
        "window": window,
        "entry_z": entry_z,
        "exit_z": exit_z,
        "stop_z": stop_z,
        "stake": stake,
        "long_only": long_only,
        "delta": delta,
        "R": R,
        "final_value": final_value,
        "total_return": total_return,
        "sharpe_ratio": sharpe_ratio,
        "max_dd_pct": max_dd_pct,
        "max_dd_abs": max_dd_abs,
        "total_trades": total_trades,
        "n_days": len(ret_series),
    }

    return metrics
