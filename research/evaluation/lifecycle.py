"""Walk-forward as one account that lives: each fold's config is handed over to at its test start.

Stitching (:mod:`research.evaluation.walkforward`) trades every fold's config on its own, flat
at the fold's start and with fresh cash. A deployed strategy does not: the account keeps its
cash and positions, and at each refit it hands over to the new config by the shared rules
(:mod:`shared.handover`): kept pairs continue, dropped pairs drain or close, added pairs start
flat with a filter warmed from the new config's first session. This module runs that account
over the folds' test span on the reference lifecycle backtest (:mod:`shared.lifecycle`, the
specification the daemon's hand-over is checked against), so research and a daemon replay that
deploys each fold's config on the same sessions decide alike.

Not applied here: the daemon's pair-health rule (a slot is never suspended for health).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from research.data.market_data import AlignedCloses, align_closes, pair_symbols
from research.evaluation.performance import QuotedMetrics, quoted_metrics
from shared.config import ProdConfig
from shared.errors import DataError
from shared.handover import HandoverRule, Slot, roster_of
from shared.lifecycle import Generation, LifecycleResult, simulate_lifecycle
from shared.metrics import Metrics, compute_metrics, daily_returns
from shared.orders import Fill
from shared.schema import DEFAULT_ACCOUNT
from shared.strategy import Pair, StrategyParams


@dataclass(frozen=True)
class Deployment:
    """A fold's config as the account receives it: its pairs as slots, the hand-over session
    (the fold's first test session: its first decision) and the session its filters warm from
    (the config's first session, its train window's first session)."""

    fold: int
    start: pd.Timestamp
    slots: tuple[Slot, ...]
    warm_from: pd.Timestamp

    @property
    def symbols(self) -> list[str]:
        return pair_symbols([s.pair for s in self.slots])


def deployment(
    fold: int,
    start: pd.Timestamp,
    pairs: Sequence[Pair],
    params: StrategyParams,
    config_id: str,
    warm_from: date | pd.Timestamp,
    half_lives: Sequence[float | None] | None = None,
) -> Deployment:
    first = pd.Timestamp(warm_from)
    slots = roster_of(pairs, params, config_id, first.date(), half_lives)
    return Deployment(fold, pd.Timestamp(start), slots, first)


def deployment_of_config(fold: int, start: pd.Timestamp, config: ProdConfig) -> Deployment:
    """What a daemon deploying ``config`` at ``start`` trades: its pairs, parameters, id and
    formation half-lives, warmed from its ``data.first_session``."""
    lives = [p.half_life for p in config.pairs]
    return deployment(
        fold,
        start,
        config.pair_list,
        config.params,
        config.config_id,
        config.data.first_session,
        lives,
    )


def require_priced(
    prices: pd.DataFrame, symbols: Sequence[str], first: pd.Timestamp, last: pd.Timestamp
) -> None:
    """The lifecycle is one account on one calendar, so every ticker any fold trades needs a
    close on every session from the first warm-up to the last test session. A gap (a ticker
    that starts late, or a hole) is refused with the ticker's name rather than silently
    shortening every fold."""
    window = prices.loc[(prices.index >= first) & (prices.index <= last)]
    for symbol in symbols:
        column = pd.to_numeric(window[symbol], errors="coerce")
        gaps = column.index[column.isna()]
        if len(gaps):
            priced = column.first_valid_index()
            since = "never" if priced is None else f"from {priced:%Y-%m-%d}"
            raise DataError(
                f"--handover: {symbol} has no close on {gaps[0]:%Y-%m-%d} ({len(gaps)} "
                f"session(s) without one between {first:%Y-%m-%d} and {last:%Y-%m-%d}; it is "
                f"priced {since}); the lifecycle account needs every traded ticker on every "
                "session: pass a later --start or leave the ticker out of the price table",
                symbol=symbol,
            )


@dataclass(frozen=True)
class LifecycleRun:
    """The continuous account over the folds' test span. ``data``: the closes it ran on (from
    the earliest warm-up); bars ``oos_from..`` are the out-of-sample sessions."""

    data: AlignedCloses
    oos_from: int
    deployments: tuple[Deployment, ...]
    rule: HandoverRule
    result: LifecycleResult
    initial_cash: float

    @property
    def oos_dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.data.dates[self.oos_from :])

    @property
    def oos_values(self) -> np.ndarray:
        return np.asarray(self.result.values[self.oos_from :], dtype=np.float64)

    @property
    def oos_returns(self) -> np.ndarray:
        return daily_returns(self.oos_values, self.initial_cash)

    @property
    def oos_fills(self) -> list[Fill]:
        """Fills with bars counted from the first test session (the warm-up bars never fill)."""
        return [
            Fill(f.bar - self.oos_from, f.symbol, f.signed_quantity, f.price, f.commission)
            for f in self.result.fills
        ]

    def metrics(self) -> tuple[Metrics, QuotedMetrics]:
        fills = self.oos_fills
        values = self.oos_values
        return (
            compute_metrics(values, self.initial_cash, fills),
            quoted_metrics(values, self.initial_cash, fills),
        )

    def plan_rows(self, idle: Sequence[tuple[int, pd.Timestamp]] = ()) -> list[dict[str, Any]]:
        """Every hand-over's plan, one row per pair: fold, session, action, pair, detail.
        ``idle``: folds that produced no config (no pair passed the screen), as a row each:
        there is nothing to hand over to, so the account keeps trading its roster."""
        fold_at = {d.start: d.fold for d in self.deployments}
        rows = [
            {"fold": fold, "date": f"{session:%Y-%m-%d}", "action": "none", "pair": ""}
            | {"detail": "no config (no pair passed the screen): the roster trades on"}
            for fold, session in idle
        ]
        for bar, plan in self.result.handovers:
            session = pd.Timestamp(self.data.dates[bar])
            for row in plan:
                rows.append(
                    {
                        "fold": fold_at[session],
                        "date": f"{session:%Y-%m-%d}",
                        "action": row.action.value,
                        "pair": row.pair,
                        "detail": row.detail,
                    }
                )
        return sorted(rows, key=lambda row: row["fold"])  # stable: plan order within a fold

    def fill_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "date": f"{self.data.dates[f.bar]:%Y-%m-%d}",
                "symbol": f.symbol,
                "quantity": f.signed_quantity,
                "price": f.price,
                "commission": f.commission,
            }
            for f in self.result.fills
        ]

    def action_counts(self) -> dict[str, int]:
        """keep/drop/add/change over every hand-over (the first deployment's adds included)."""
        counts = Counter(row.action.value for _, plan in self.result.handovers for row in plan)
        return {action: counts.get(action, 0) for action in ("keep", "drop", "add", "change")}


def run_lifecycle(
    prices: pd.DataFrame,
    deployments: Sequence[Deployment],
    rule: HandoverRule,
    *,
    oos_first: pd.Timestamp,
    oos_last: pd.Timestamp,
    initial_cash: float = DEFAULT_ACCOUNT.initial_cash,
    commission: float = DEFAULT_ACCOUNT.commission,
) -> LifecycleRun:
    """One account from ``oos_first`` to ``oos_last`` handing over to each deployment at its
    start (deployments in increasing start order; none: the account holds cash)."""
    starts = [d.start for d in deployments]
    if starts != sorted(set(starts)):
        raise DataError(f"deployments must start on increasing sessions, got {starts}")
    first = min([oos_first, *(d.warm_from for d in deployments)])
    symbols = pair_symbols([s.pair for d in deployments for s in d.slots])
    require_priced(prices, symbols, first, oos_last)
    window = prices.loc[(prices.index >= first) & (prices.index <= oos_last)]
    data = (
        align_closes(window, symbols)
        if symbols
        else AlignedCloses((), pd.DatetimeIndex(window.index), np.empty((len(window), 0)))
    )
    generations = [
        Generation(_bar(data, d.start), d.slots, _bar(data, d.warm_from)) for d in deployments
    ]
    result = simulate_lifecycle(
        data.closes, data.symbols, generations, rule, initial_cash, commission
    )
    oos_from = _bar(data, oos_first)
    return LifecycleRun(data, oos_from, tuple(deployments), rule, result, initial_cash)


def _bar(data: AlignedCloses, session: pd.Timestamp) -> int:
    bar = int(data.dates.searchsorted(session, side="left"))
    if bar >= data.n_bars or data.dates[bar] != session:
        raise DataError(f"session {session:%Y-%m-%d} is not in the price table's calendar")
    return bar
