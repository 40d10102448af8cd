"""Deterministic price tables for the parity tests: cointegrated pairs built to hit every branch
of the strategy and the broker (entries both ways, exits, stops, margin rejections, size-0 legs,
negative hedge ratios, several pairs sharing one cash balance, gaps that the alignment drops)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from shared.simulation import simulate
from shared.strategy import Pair, StrategyParams


@dataclass(frozen=True)
class Dataset:
    name: str
    prices: pd.DataFrame  # wide closes, DatetimeIndex, may hold NaN gaps
    pairs: tuple[Pair, ...]
    initial_cash: float = 100_000.0

    @property
    def pair_dicts(self) -> list[dict[str, object]]:
        """The seed's ``pair_list`` shape."""
        return [
            {"asset_1": p.asset_1, "asset_2": p.asset_2, "hedge_ratio": p.hedge_ratio}
            for p in self.pairs
        ]

    @property
    def tickers(self) -> list[str]:
        return sorted({s for p in self.pairs for s in (p.asset_1, p.asset_2)})


def _dates(n_bars: int) -> pd.DatetimeIndex:
    return pd.bdate_range("2021-01-04", periods=n_bars)


def cointegrated_legs(
    rng: np.random.Generator,
    n_bars: int,
    *,
    beta: float,
    level_b: float,
    intercept: float,
    spread_sd: float,
    kappa: float = 0.08,
    vol_b: float = 0.012,
) -> tuple[np.ndarray, np.ndarray]:
    """B is a geometric random walk; A = intercept + beta*B + an Ornstein-Uhlenbeck spread, so the
    pair mean-reverts and the z-score crosses the entry, exit and stop bands."""
    b = level_b * np.exp(np.cumsum(rng.normal(0.0, vol_b, n_bars)))
    ou = np.zeros(n_bars)
    for t in range(1, n_bars):
        ou[t] = ou[t - 1] * (1 - kappa) + rng.normal(0.0, spread_sd)
    jumps = rng.random(n_bars) < 0.01  # occasional shocks push |z| past the stop
    ou += np.where(jumps, rng.normal(0.0, 6 * spread_sd, n_bars), 0.0)
    a = intercept + beta * b + ou
    return np.round(a, 4), np.round(b, 4)


def single_pair(seed: int, n_bars: int = 400, *, beta: float = 0.6) -> Dataset:
    rng = np.random.default_rng(seed)
    a, b = cointegrated_legs(rng, n_bars, beta=beta, level_b=300.0, intercept=90.0, spread_sd=1.5)
    prices = pd.DataFrame({"AAA": a, "BBB": b}, index=_dates(n_bars))
    return Dataset(f"single_pair_{seed}", prices, (Pair("AAA", "BBB", beta),))


def portfolio(seed: int, n_pairs: int = 3, n_bars: int = 350) -> Dataset:
    """2-3 pairs sharing one cash balance, with NaN gaps that the seed's alignment drops."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    pairs = []
    for k in range(n_pairs):
        beta = float(rng.uniform(0.4, 2.5))
        a, b = cointegrated_legs(
            rng,
            n_bars,
            beta=beta,
            level_b=float(rng.uniform(40, 200)),
            intercept=float(rng.uniform(10, 80)),
            spread_sd=float(rng.uniform(0.5, 2.0)),
        )
        name_a, name_b = f"P{k}A", f"P{k}B"
        columns[name_a], columns[name_b] = a, b
        pairs.append(Pair(name_a, name_b, round(beta + rng.normal(0, 0.05), 6)))
    prices = pd.DataFrame(columns, index=_dates(n_bars))
    for name in prices.columns[::3]:  # holes in some tickers: dropna + intersection
        holes = rng.choice(n_bars, size=4, replace=False)
        prices.loc[prices.index[holes], name] = np.nan
    return Dataset(f"portfolio_{seed}_{n_pairs}", prices, tuple(pairs))


def margin_squeeze(seed: int, n_bars: int = 350) -> Dataset:
    """A leg so expensive that buying ``int(beta*stake)`` of it costs about the whole cash: some
    buys are refused at submission (creation price), some nullified at the fill price."""
    rng = np.random.default_rng(seed)
    a, b = cointegrated_legs(
        rng, n_bars, beta=1.0, level_b=2_000.0, intercept=0.0, spread_sd=8.0, vol_b=0.01
    )
    prices = pd.DataFrame({"BIG": a, "OTHER": b}, index=_dates(n_bars))
    return Dataset(
        f"margin_squeeze_{seed}", prices, (Pair("BIG", "OTHER", 1.0),), initial_cash=60_000.0
    )


def tiny_beta(seed: int, n_bars: int = 350) -> Dataset:
    """beta * stake < 1: ``int(beta*stake) == 0`` and the A leg is never sent."""
    rng = np.random.default_rng(seed)
    a, b = cointegrated_legs(rng, n_bars, beta=0.005, level_b=500.0, intercept=20.0, spread_sd=0.3)
    prices = pd.DataFrame({"TINY": a, "HUGE": b}, index=_dates(n_bars))
    return Dataset(f"tiny_beta_{seed}", prices, (Pair("TINY", "HUGE", 0.005),))


def negative_beta(seed: int, n_bars: int = 350) -> Dataset:
    """A moves against B: a negative ``int(beta*stake)`` is sent as its absolute value."""
    rng = np.random.default_rng(seed)
    a, b = cointegrated_legs(rng, n_bars, beta=-0.8, level_b=100.0, intercept=200.0, spread_sd=1.0)
    prices = pd.DataFrame({"NEG": a, "POS": b}, index=_dates(n_bars))
    return Dataset(f"negative_beta_{seed}", prices, (Pair("NEG", "POS", -0.8),))


MARGIN_AT_FILL_PARAMS = StrategyParams(window=45, entry_z=2.0, stop_z=3.5, stake=75, long_only=True)


def margin_at_fill(seed: int, n_bars: int = 300) -> Dataset:
    """Cash set between the creation-price and the fill-price cost of the first long entry's buy
    (under :data:`MARGIN_AT_FILL_PARAMS`): the buy passes backtrader's submission check but its
    opening is nullified at execution, the check ``shared.fill_model`` documents."""
    base = single_pair(seed, n_bars)
    commission = 0.0005
    rich = simulate(
        base.prices.to_numpy(),
        list(base.prices.columns),
        base.pairs,
        MARGIN_AT_FILL_PARAMS,
        initial_cash=1e12,
        commission=commission,
    )
    for fill in rich.fills:
        if fill.signed_quantity <= 0:
            continue
        column = base.prices[fill.symbol].to_numpy()
        created, filled = column[fill.bar - 1], column[fill.bar]
        if filled > created:
            cost = fill.signed_quantity * (1 + commission)
            cash = cost * (created + filled) / 2
            return Dataset(f"margin_at_fill_{seed}", base.prices, base.pairs, initial_cash=cash)
        break  # the first buy decides: later ones depend on the cash path
    raise ValueError(f"seed {seed}: the first buy's price did not rise; pick another seed")


def broker_edge_cases() -> dict[str, tuple[Dataset, StrategyParams]]:
    """By id, a dataset and parameters that hit each broker rule every engine copies from
    backtrader: an opening nullified at fill, a buy rejected at submission, a leg of size 0 and
    three pairs sharing one cash balance."""
    return {
        "nullified_at_fill": (margin_at_fill(2), MARGIN_AT_FILL_PARAMS),
        "rejected_at_submission": (
            margin_squeeze(3),
            StrategyParams(window=45, entry_z=2.0, stop_z=3.5, stake=50),
        ),
        "size_zero_leg": (
            tiny_beta(4, n_bars=300),
            StrategyParams(window=60, entry_z=2.5, stake=25),
        ),
        "three_pairs_one_cash": (
            portfolio(2, n_pairs=3, n_bars=300),
            StrategyParams(window=45, entry_z=2.0, stake=75),
        ),
    }
