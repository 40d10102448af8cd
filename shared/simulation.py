"""A pure, readable reference backtest: the shared strategy core driven bar by bar through the
shared fill model. It is the specification the compiled engine and the daemon are held to, and
it is itself held to backtrader by the parity tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from shared.fill_model import Book, process_bar
from shared.health import EntryRule
from shared.kalman import innovation
from shared.metrics import Metrics, compute_metrics
from shared.orders import Fill, OrderIntent, Rejection
from shared.schema import DEFAULT_ACCOUNT
from shared.strategy import (
    ENTRIES,
    Decision,
    Pair,
    PairState,
    StrategyParams,
    observe_pair,
    step_pair,
)


@dataclass(frozen=True, slots=True)
class SimulationResult:
    metrics: Metrics
    fills: list[Fill]
    rejections: list[Rejection]
    values: np.ndarray  # end-of-bar portfolio value
    decisions: list[list[Decision]] = field(repr=False)  # [bar][pair]
    # Entries the health rule blocked: (bar, pair index, why); their decisions keep the
    # action but no orders, and the pair stays flat (the daemon's blocked entry).
    blocked: list[tuple[int, int, str]] = field(default_factory=list)


def simulate(
    closes: np.ndarray,
    symbols: Sequence[str],
    pairs: Sequence[Pair],
    params: StrategyParams,
    initial_cash: float = DEFAULT_ACCOUNT.initial_cash,
    commission: float = DEFAULT_ACCOUNT.commission,
    trade_from_bar: int = 0,
    entry_rule: EntryRule | None = None,
) -> SimulationResult:
    """Run the strategy over ``closes`` (bars × symbols, common dates, no NaN).

    Bars before ``trade_from_bar`` only warm the filter and the z-window up (see
    :func:`shared.strategy.observe_pair`); trading starts on that bar. With ``entry_rule``
    (the daemon's ``[health] on_degraded = "no_new_entries"``), an entry of a pair whose health
    (:mod:`shared.health`, on the closes through the bar) is degraded is blocked.
    """
    closes = np.asarray(closes, dtype=np.float64)
    index = {s: i for i, s in enumerate(symbols)}
    book = Book(cash=float(initial_cash), positions={s: 0 for s in symbols})
    states = [PairState.initial(p) for p in pairs]
    pending: list[OrderIntent] = []
    fills: list[Fill] = []
    rejections: list[Rejection] = []
    values = np.empty(closes.shape[0])
    decisions: list[list[Decision]] = []
    blocked: list[tuple[int, int, str]] = []
    innovations: list[list[float]] = [[] for _ in pairs]  # e/√S per bar, per pair
    for bar in range(closes.shape[0]):
        prices = {s: float(closes[bar, i]) for s, i in index.items()}
        book, bar_fills, bar_rejections = process_bar(book, pending, prices, bar, commission)
        fills += bar_fills
        rejections += bar_rejections
        pending = []
        bar_decisions = []
        for k, pair in enumerate(pairs):
            price_a, price_b = prices[pair.asset_1], prices[pair.asset_2]
            if entry_rule is not None:
                e, S = innovation(states[k].kalman, price_a, price_b, params.delta, params.R)
                innovations[k].append(e / math.sqrt(S))
            if bar < trade_from_bar:
                decision = observe_pair(k, pair, states[k], price_a, price_b, params)
            else:
                decision = step_pair(
                    k,
                    pair,
                    states[k],
                    price_a,
                    price_b,
                    book.position(pair.asset_1),
                    book.position(pair.asset_2),
                    params,
                )
            if entry_rule is not None and decision.action in ENTRIES:
                health = entry_rule.blocks(
                    k,
                    closes[: bar + 1, index[pair.asset_1]],
                    closes[: bar + 1, index[pair.asset_2]],
                    np.asarray(innovations[k]),
                )
                if health is not None:
                    kept = replace(decision.state, state=states[k].state)
                    decision = replace(decision, state=kept, orders=())
                    blocked.append((bar, k, health.describe()))
            states[k] = decision.state
            pending.extend(decision.orders)
            bar_decisions.append(decision)
        decisions.append(bar_decisions)
        values[bar] = book.value(prices)
    metrics = compute_metrics(values, initial_cash, fills)
    return SimulationResult(metrics, fills, rejections, values, decisions, blocked)
