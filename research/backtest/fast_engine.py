"""The compiled backtest engine: ``research.backtest.api.BacktestEngine`` on numba kernels.

It reproduces docs/strategy.md bit for bit where it can (Kalman path, z-score, fills, cash) and
the seed metrics to rounding, and is held to backtrader by ``tests/parity``. The kernels compile on
first use (cached on disk afterwards); :attr:`FastEngine.compile_seconds` reports that cost.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from research.backtest.api import EngineResult, check_trade_from_bar
from research.backtest.fast.plan import (
    ConfigBatch,
    PathTables,
    Portfolio,
    SlicePlan,
    build_paths,
    metrics_rows,
    plan_slice,
    run_batch,
    run_pairs,
)
from research.data.market_data import AlignedCloses
from shared.errors import DataError
from shared.orders import Fill
from shared.schema import DEFAULT_ACCOUNT
from shared.strategy import Pair, StrategyParams


class FastEngine:
    """Backtests a whole parameter list in one kernel call; details (fills, values) on demand."""

    name = "fast"

    def __init__(self) -> None:
        self.compile_seconds: float | None = None

    def warm_up(self) -> float:
        """Compile (or load from the on-disk cache) every kernel; returns the seconds it took."""
        if self.compile_seconds is None:
            started = time.perf_counter()
            compile_kernels()
            self.compile_seconds = time.perf_counter() - started
        return self.compile_seconds

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
        self.warm_up()
        if not params_list:
            return []
        portfolio, symbols = portfolio_of(data, pairs)
        plan = _plan(tuple(params_list))
        batch = plan.batch
        paths = observe_until(build_paths(portfolio, batch, plan.layout), go_live)
        out = run_batch(
            portfolio, batch, paths, initial_cash=initial_cash, commission=commission, plan=plan
        )
        results = []
        all_metrics = metrics_rows(out.metrics, data.n_bars)
        for i, (params, metrics) in enumerate(zip(params_list, all_metrics, strict=True)):
            if not with_details:
                results.append(EngineResult(params=params, metrics=metrics))
                continue
            detail = run_batch(
                portfolio,
                _take(batch, i),
                _take_paths(paths, i),
                initial_cash=initial_cash,
                commission=commission,
                detail=True,
            )
            fills = [
                Fill(int(b), symbols[int(s)], int(q), float(p), float(c))
                for b, s, q, p, c in detail.fills
            ]
            results.append(EngineResult(params, metrics, fills, detail.values[0].copy()))
        return results


@lru_cache(maxsize=16)
def _plan(params: tuple[StrategyParams, ...]) -> SlicePlan:
    """The batch of a parameter list and its plan, made once: optimize, walk-forward and the
    benchmarks run the same list again and again, and planning it costs as much as running it
    on a single pair."""
    return plan_slice(ConfigBatch.from_params(params))


def portfolio_of(data: AlignedCloses, pairs: Sequence[Pair]) -> tuple[Portfolio, list[str]]:
    """The closes of the pairs' tickers (in ``data.symbols`` order, as the broker values them)
    and each leg's column."""
    if not pairs:
        raise DataError("no pairs to backtest: the pair list is empty")
    wanted = {s for p in pairs for s in (p.asset_1, p.asset_2)}
    missing = sorted(wanted - set(data.symbols))
    if missing:
        raise DataError(
            f"ticker(s) {', '.join(missing)} of the pair list are not in the aligned closes",
            symbol=missing[0],
        )
    symbols = [s for s in data.symbols if s in wanted]
    column = {s: i for i, s in enumerate(symbols)}
    closes = np.ascontiguousarray(data.closes[:, [data.symbols.index(s) for s in symbols]])
    portfolio = Portfolio(
        closes=closes.astype(np.float64),
        leg_a=np.array([column[p.asset_1] for p in pairs], dtype=np.int64),
        leg_b=np.array([column[p.asset_2] for p in pairs], dtype=np.int64),
        hedge_ratio=np.array([float(p.hedge_ratio) for p in pairs], dtype=np.float64),
    )
    return portfolio, symbols


def observe_until(paths: PathTables, trade_from_bar: int) -> PathTables:
    """``paths`` with no decision before ``trade_from_bar``.

    The kernel skips a bar whose z is NaN (warming up, or a zero std): no signal, the state and
    the positions stay as they are. Before the go-live bar both are flat, so a NaN z there is
    exactly :func:`shared.strategy.observe_pair`, while the betas and the z from the go-live bar
    on are the ones filtered from the first bar. The rows are shared by every config of the
    batch, which all go live on the same bar, so one masked table serves them all.
    """
    if trade_from_bar:
        paths.zs[:, :trade_from_bar] = np.nan
    return paths


def _take(batch: ConfigBatch, i: int) -> ConfigBatch:
    return ConfigBatch(**{k: v[i : i + 1] for k, v in vars(batch).items()})


def _take_paths(paths: PathTables, i: int) -> PathTables:
    return PathTables(paths.betas, paths.zs, paths.beta_rows[i : i + 1], paths.z_rows[i : i + 1])


def compile_kernels() -> None:
    """Run every kernel once on a tiny portfolio so numba compiles (or loads) them."""
    closes = np.array([[10.0, 5.0], [11.0, 5.5], [9.0, 5.0], [12.0, 5.0]])
    portfolio = Portfolio(closes, np.array([0], np.int64), np.array([1], np.int64), np.array([2.0]))
    batch = ConfigBatch.from_params([StrategyParams(window=2, entry_z=0.5, exit_z=0.1)])
    paths = build_paths(portfolio, batch)
    cash, fee = DEFAULT_ACCOUNT.initial_cash, DEFAULT_ACCOUNT.commission
    run_batch(portfolio, batch, paths, initial_cash=cash, commission=fee)
    run_batch(portfolio, batch, paths, initial_cash=cash, commission=fee, detail=True)
    # The sweep's whole-task kernel, so that a sweep's workers load it instead of compiling.
    plan = plan_slice(batch)
    run_pairs(plan, [closes], np.array([0]), np.array([2.0]), initial_cash=cash, commission=fee)
