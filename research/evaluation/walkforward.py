"""Walk-forward validation: choose on the past, trade the next stretch, never look ahead.

For each fold the pipeline sees only the train window: it (optionally) re-screens and
re-selects pairs there, runs the grid there and keeps the seed's best config. That config then
trades the test window with the Kalman filter and the z-window carried over from train: the
strategy runs from the train start with trading enabled only from the test start
(``trade_from_bar``, see :func:`shared.simulation.simulate`), so there is no cold start and no
position carried in. Each fold reads bars ``[train_start, test_end)`` and nothing later.

The out-of-sample (OOS) daily returns of the folds are chained into one equity curve; each
fold starts flat with the initial cash and marks its open positions to market on its last bar.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from research.data.market_data import align_closes, pair_symbols
from research.evaluation.overfitting import (
    DEFAULT_PBO_BLOCKS,
    probabilistic_sharpe_ratio,
    selection_evidence,
    sharpe_moments,
)
from research.evaluation.performance import QuotedMetrics, quoted_metrics
from research.evaluation.walkforward_runs import GridRunner, Run
from research.ranking import rank_metrics
from shared.errors import DataError
from shared.metrics import Metrics, compute_metrics, daily_returns
from shared.orders import Fill
from shared.schema import DEFAULT_ACCOUNT
from shared.strategy import Pair, StrategyParams

PairChooser = Callable[[pd.DataFrame], Sequence[Pair]]
_SPAN = re.compile(r"^\s*(\d+)\s*([ymYM]?)\s*$")


@dataclass(frozen=True)
class Span:
    """A window length: a number of sessions, or of calendar months (``"5y"`` = 60 months)."""

    sessions: int | None = None
    months: int | None = None

    @classmethod
    def parse(cls, text: str) -> Span:
        match = _SPAN.match(str(text))
        if not match or int(match.group(1)) < 1:
            raise DataError(
                f"window length '{text}' is not understood: give sessions (e.g. 1255) or "
                "years/months (e.g. 5y, 6m)"
            )
        n, unit = int(match.group(1)), match.group(2).lower()
        if unit == "y":
            return cls(months=12 * n)
        return cls(months=n) if unit == "m" else cls(sessions=n)

    def __str__(self) -> str:
        if self.sessions is not None:
            return f"{self.sessions} sessions"
        months = self.months or 0
        return f"{months // 12}y" if months % 12 == 0 else f"{months}m"


@dataclass(frozen=True)
class Fold:
    """Bar positions in the calendar: train ``[train_start, test_start)``, test
    ``[test_start, test_end)``."""

    index: int
    train_start: int
    test_start: int
    test_end: int


def _shift(dates: pd.DatetimeIndex, bar: int, span: Span, sign: int) -> int:
    """The bar ``span`` after (sign +1) or before (sign -1) ``bar``, clipped to the calendar."""
    if span.sessions is not None:
        return max(bar + sign * span.sessions, 0)
    target = dates[bar] + pd.DateOffset(months=sign * (span.months or 0))
    return int(dates.searchsorted(target, side="left"))


def make_folds(
    dates: pd.DatetimeIndex, train: Span, test: Span, anchored: bool = False
) -> list[Fold]:
    """Consecutive test windows after a first train window; the last test may be shorter.
    Rolling folds keep the train length; anchored ones keep the train start at bar 0."""
    n = len(dates)
    first_test = _shift(dates, 0, train, +1)
    if first_test >= n:
        raise DataError(
            f"the data has {n} sessions ({dates[0]:%Y-%m-%d} .. {dates[-1]:%Y-%m-%d}), not more "
            f"than the train window ({train}); shorten --train or widen the dates"
        )
    folds: list[Fold] = []
    test_start = first_test
    while test_start < n:
        if test.sessions is not None:
            test_end = min(test_start + test.sessions, n)
        else:  # calendar steps from the first test date, so months do not drift
            step = Span(months=(test.months or 0) * (len(folds) + 1))
            test_end = min(_shift(dates, first_test, step, +1), n)
        train_start = 0 if anchored else _shift(dates, test_start, train, -1)
        folds.append(Fold(len(folds), train_start, test_start, max(test_end, test_start + 1)))
        test_start = folds[-1].test_end
    return folds


def seed_order(metrics: Sequence[Metrics]) -> list[int]:
    """The seed's ranking (:mod:`research.ranking`) of the runs' metrics."""
    return rank_metrics(metrics)


@dataclass(frozen=True)
class FoldResult:
    fold: Fold
    train_dates: tuple[pd.Timestamp, pd.Timestamp]
    test_dates: pd.DatetimeIndex
    pairs: tuple[Pair, ...]
    chosen: int | None  # grid index of the config kept on train (None: no pair to trade)
    is_metrics: Metrics | None
    is_quoted: QuotedMetrics | None
    oos_metrics: Metrics | None
    oos_quoted: QuotedMetrics | None
    oos_returns: np.ndarray  # chosen config's daily returns on the test bars
    oos_fills: tuple[Fill, ...]  # bars counted from the test start
    is_sharpes: np.ndarray  # every config's daily Sharpe on train (NaN: undefined)
    oos_sharpes: np.ndarray  # every config's daily Sharpe on test
    evidence: dict[str, Any]  # DSR/PBO of the train-window selection
    oos_all: bool = True  # whether every config was traded OOS (else only the chosen one)

    @property
    def oos_rank_fraction(self) -> float | None:
        """Share of configs the chosen one beat out of sample (ties count half)."""
        if self.chosen is None or not self.oos_all:
            return None
        # An undefined Sharpe (a config that never traded) is 'no edge', as in the grid stats.
        oos = np.nan_to_num(self.oos_sharpes, nan=0.0)
        mine = oos[self.chosen]
        others = np.delete(oos, self.chosen)
        if others.size == 0:
            return None
        return float((np.sum(others < mine) + 0.5 * np.sum(others == mine)) / others.size)


def _sharpe_array(runs: Sequence[Metrics]) -> np.ndarray:
    return np.array([math.nan if m.sharpe_ratio is None else m.sharpe_ratio for m in runs])


def _test_slice(run: Run, from_bar: int, initial_cash: float) -> tuple[np.ndarray, list[Fill]]:
    values = np.asarray(run.values, dtype=np.float64)[from_bar:]
    fills = [
        Fill(f.bar - from_bar, f.symbol, f.signed_quantity, f.price, f.commission)
        for f in run.fills
        if f.bar >= from_bar
    ]
    return values, fills


def run_fold(
    prices: pd.DataFrame,
    fold: Fold,
    grid: Sequence[StrategyParams],
    choose_pairs: PairChooser,
    runner: GridRunner,
    *,
    initial_cash: float,
    n_splits: int = 16,
    pbo_blocks: str = DEFAULT_PBO_BLOCKS,
    oos_all: bool = True,
) -> FoldResult:
    """One fold: choose pairs and config on train, trade the test bars with a warm filter."""
    train = prices.iloc[fold.train_start : fold.test_start]
    window = prices.iloc[fold.train_start : fold.test_end]
    test_dates = pd.DatetimeIndex(prices.index[fold.test_start : fold.test_end])
    train_dates = (pd.Timestamp(train.index[0]), pd.Timestamp(train.index[-1]))
    pairs = tuple(choose_pairs(train))
    if not pairs:
        return _flat_fold(fold, train_dates, test_dates, len(grid))
    symbols = pair_symbols(pairs)
    train_data = align_closes(train, symbols)
    train_runs = runner(train_data, pairs, grid, 0)
    is_metrics = [r.metrics for r in train_runs]
    chosen = seed_order(is_metrics)[0]
    matrix = np.column_stack([daily_returns(r.values, initial_cash) for r in train_runs])
    evidence = selection_evidence(
        matrix, len(grid) * len(pairs), chosen=chosen, n_splits=n_splits, pbo_blocks=pbo_blocks
    )
    full = align_closes(window, symbols)
    go_live = int(full.dates.searchsorted(test_dates[0], side="left"))
    # Every config's OOS run feeds the IS-vs-OOS comparison; the chosen one's is the result.
    traded = list(range(len(grid))) if oos_all else [chosen]
    test_runs = runner(full, pairs, [grid[i] for i in traded], go_live)
    oos = [_test_slice(r, go_live, initial_cash) for r in test_runs]
    oos_sharpes = np.full(len(grid), math.nan)
    oos_sharpes[traded] = _sharpe_array([compute_metrics(v, initial_cash, f) for v, f in oos])
    values, fills = oos[traded.index(chosen)]
    return FoldResult(
        fold=fold,
        train_dates=train_dates,
        test_dates=pd.DatetimeIndex(full.dates[go_live:]),
        pairs=pairs,
        chosen=chosen,
        is_metrics=is_metrics[chosen],
        is_quoted=quoted_metrics(train_runs[chosen].values, initial_cash, train_runs[chosen].fills),
        oos_metrics=compute_metrics(values, initial_cash, fills),
        oos_quoted=quoted_metrics(values, initial_cash, fills),
        oos_returns=daily_returns(values, initial_cash),
        oos_fills=tuple(fills),
        is_sharpes=_sharpe_array(is_metrics),
        oos_sharpes=oos_sharpes,
        evidence=evidence,
        oos_all=oos_all,
    )


def _flat_fold(
    fold: Fold,
    train_dates: tuple[pd.Timestamp, pd.Timestamp],
    test_dates: pd.DatetimeIndex,
    n_configs: int,
) -> FoldResult:
    """No pair passed the train-window screen: the pipeline would hold cash for the fold."""
    nan = np.full(n_configs, math.nan)
    return FoldResult(
        fold, train_dates, test_dates, (), None, None, None, None, None,
        np.zeros(len(test_dates)), (), nan, nan, {},
    )  # fmt: skip


@dataclass(frozen=True)
class WalkForwardResult:
    folds: list[FoldResult]
    grid: tuple[StrategyParams, ...]
    initial_cash: float
    anchored: bool
    train: Span
    test: Span

    @property
    def oos_dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(np.concatenate([f.test_dates.to_numpy() for f in self.folds]))

    @property
    def oos_returns(self) -> np.ndarray:
        return np.concatenate([f.oos_returns for f in self.folds])

    @property
    def oos_equity(self) -> np.ndarray:
        """The folds' OOS returns chained from the initial cash."""
        return self.initial_cash * np.cumprod(1.0 + self.oos_returns)

    def stitched_metrics(self) -> tuple[Metrics, QuotedMetrics]:
        """Seed and quoted metrics of the chained OOS equity. Each fold starts flat and leaves
        its open positions marked to market, so trade counts, exposure, turnover and holding
        periods are summed or length-weighted over the folds rather than read off one fill
        stream (positions do not carry from one fold to the next)."""
        equity = self.oos_equity
        seed = compute_metrics(equity, self.initial_cash, [])
        quoted = quoted_metrics(equity, self.initial_cash, [])
        parts = [(len(f.test_dates), f.oos_quoted) for f in self.folds]
        bars = sum(n for n, _ in parts)
        trades = sum(q.closed_trades for _, q in parts if q)
        held = sum((q.avg_holding_bars or 0.0) * q.closed_trades for _, q in parts if q)
        quoted = replace(
            quoted,
            exposure=sum(n * q.exposure for n, q in parts if q) / bars,
            turnover_annualized=sum(n * q.turnover_annualized for n, q in parts if q) / bars,
            avg_holding_bars=held / trades if trades else None,
            closed_trades=trades,
        )
        seed_trades = sum(f.oos_metrics.total_trades for f in self.folds if f.oos_metrics)
        return replace(seed, total_trades=seed_trades), quoted

    def summary(self) -> dict[str, Any]:
        """Overall IS vs OOS figures, JSON-ready (also what the config's evidence records)."""
        seed, quoted = self.stitched_metrics()
        sharpe, skewness, kurt, n_obs = sharpe_moments(self.oos_returns)
        traded = [f for f in self.folds if f.chosen is not None]
        is_sharpes = [f.is_metrics.sharpe_ratio or 0.0 for f in traded if f.is_metrics]
        ranks = [r for f in traded if (r := f.oos_rank_fraction) is not None]
        dsrs = [f.evidence["dsr"] for f in traded if f.evidence.get("dsr") is not None]
        pbos = [f.evidence["pbo"] for f in traded if f.evidence.get("pbo") is not None]
        return {
            "mode": "anchored" if self.anchored else "rolling",
            "train": str(self.train),
            "test": str(self.test),
            "folds": len(self.folds),
            "folds_without_pairs": len(self.folds) - len(traded),
            "first_test_session": f"{self.oos_dates[0]:%Y-%m-%d}",
            "last_test_session": f"{self.oos_dates[-1]:%Y-%m-%d}",
            "oos_sessions": int(n_obs),
            "oos_sharpe_daily": seed.sharpe_ratio,
            "oos_sharpe_annualized": quoted.sharpe_annualized,
            "oos_psr": _finite(probabilistic_sharpe_ratio(sharpe, n_obs, skewness, kurt)),
            "oos_total_return": seed.total_return,
            "oos_max_dd_pct": seed.max_dd_pct,
            "oos_total_trades": seed.total_trades,
            "oos_quoted": quoted.as_dict(),
            "is_sharpe_daily_mean": float(np.mean(is_sharpes)) if is_sharpes else None,
            "oos_beat_share_mean": float(np.mean(ranks)) if ranks else None,
            "oos_below_median_share": float(np.mean([r <= 0.5 for r in ranks])) if ranks else None,
            "fold_dsr_mean": float(np.mean(dsrs)) if dsrs else None,
            "fold_pbo_mean": float(np.mean(pbos)) if pbos else None,
        }


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined statistic is recorded as null."""
    return None if math.isnan(value) else value


def walk_forward(
    prices: pd.DataFrame,
    grid: Sequence[StrategyParams],
    choose_pairs: PairChooser,
    runner: GridRunner,
    *,
    train: Span,
    test: Span,
    anchored: bool = False,
    initial_cash: float = DEFAULT_ACCOUNT.initial_cash,
    n_splits: int = 16,
    pbo_blocks: str = DEFAULT_PBO_BLOCKS,
    oos_all: bool = True,
    progress: Callable[[FoldResult], None] | None = None,
) -> WalkForwardResult:
    """Every fold of ``prices`` (a wide close table on its session calendar), in order.
    ``oos_all=False`` trades only each fold's chosen config out of sample (no per-config
    OOS Sharpe ratios), for engines that cannot warm-start a whole grid quickly."""
    if not grid:
        raise DataError("the grid is empty: nothing to choose from")
    dates = pd.DatetimeIndex(prices.index)
    if not dates.is_monotonic_increasing or dates.has_duplicates:
        raise DataError("the price table's dates must be unique and increasing")
    results = []
    for fold in make_folds(dates, train, test, anchored):
        result = run_fold(
            prices,
            fold,
            grid,
            choose_pairs,
            runner,
            initial_cash=initial_cash,
            n_splits=n_splits,
            pbo_blocks=pbo_blocks,
            oos_all=oos_all,
        )
        results.append(result)
        if progress is not None:
            progress(result)
    return WalkForwardResult(results, tuple(grid), initial_cash, anchored, train, test)


def fixed_pairs(pairs: Sequence[Pair]) -> PairChooser:
    """A chooser that always trades ``pairs`` (their hedge ratios come from outside the fold:
    if they were fitted on the whole history, that is look-ahead the caller chose)."""
    kept = tuple(pairs)
    return lambda _train: kept
