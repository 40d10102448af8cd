"""The fixed parity scenarios: deterministic closes and configs the daemon is replayed on."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from daemon.config.settings import HealthSettings
from research.backtest.registry import get_engine
from research.data.market_data import align_closes
from research.data.synthetic import PLANTED, generate_universe
from research.search.grid import SEED_GRID
from research.search.optimize import rank_results, row_params, run_grid
from shared.config import parse_config
from shared.health import spread_half_life
from shared.strategy import Pair
from tests.parity import synthetic_pairs as sp
from tests.parity.daemon_cases import Case, as_daily, config_for

SEED_BEST_SESSIONS = 160  # the grid's windows are 45-90: a few trades in 160 sessions


def seed_best_case(n_sessions: int = SEED_BEST_SESSIONS) -> Case:
    """The seed grid's best config (ranked like the seed) on the generated universe's two
    independent planted pairs, with their planted hedge ratios."""
    universe = generate_universe(n_sessions=n_sessions)
    planted = [PLANTED[0], PLANTED[2]]
    pairs = [Pair(p.asset_1, p.asset_2, p.hedge) for p in planted]
    symbols = sorted({s for p in pairs for s in (p.asset_1, p.asset_2)})
    data = align_closes(universe, symbols)
    ranked = rank_results(run_grid(data, pairs, SEED_GRID, get_engine("fast"), progress=False))
    closes = as_daily(universe[symbols])
    config = config_for(
        closes,
        pairs,
        **asdict(row_params(ranked.iloc[0])),
        initial_cash=SEED_GRID.initial_cash,
        commission=SEED_GRID.commission,
    )
    return Case(f"seed_grid_best_{n_sessions}", closes, config)


def margin_and_size_zero_case(seed: int = 1, n_bars: int = 120) -> Case:
    """Two pairs on one cash balance: an expensive leg whose buys are refused for margin, and a
    pair whose ``int(beta * stake)`` truncates to 0, so its entries send the B leg only."""
    margin, tiny = sp.margin_squeeze(seed, n_bars), sp.tiny_beta(seed, n_bars)
    closes = as_daily(pd.concat([margin.prices, tiny.prices], axis=1))
    config = config_for(
        closes,
        [*margin.pairs, *tiny.pairs],
        window=10,
        entry_z=1.2,
        exit_z=0.3,
        stop_z=3.0,
        stake=20,
        initial_cash=30_000.0,
    )
    return Case(f"margin_and_size_zero_{seed}", closes, config)


def go_live_case(seed: int = 11, n_bars: int = 90, go_live_bar: int = 45) -> Case:
    """Two pairs; the daemon's first session is ``go_live_bar``: it warms up from the bars."""
    ds = sp.portfolio(seed, n_pairs=2, n_bars=n_bars)
    closes = as_daily(ds.prices)
    config = config_for(closes, list(ds.pairs), window=12, entry_z=1.3, exit_z=0.3, stake=30)
    return Case(f"go_live_{seed}_at_{go_live_bar}", closes, config, go_live_bar=go_live_bar)


def degrading_pair_case(seed: int = 0, n_bars: int = 220, break_bar: int = 110) -> Case:
    """Two mean-reverting pairs; from ``break_bar`` on, the second pair's spread also takes a
    random walk, so its health degrades (p-value, half-life) while the first stays healthy.
    The config carries each pair's half-life over the bars before the break (its formation
    window, as research records it) and the daemon runs ``[health] on_degraded =
    "no_new_entries"`` over an 80-session window: the second pair's entries are blocked."""
    rng = np.random.default_rng(seed)
    a1, b1 = sp.cointegrated_legs(
        rng, n_bars, beta=0.8, level_b=100.0, intercept=20.0, spread_sd=0.8, kappa=0.3
    )
    a2, b2 = sp.cointegrated_legs(
        rng, n_bars, beta=1.5, level_b=60.0, intercept=10.0, spread_sd=0.6, kappa=0.3
    )
    walk = np.r_[np.zeros(break_bar), np.cumsum(rng.normal(0.0, 1.0, n_bars - break_bar))]
    prices = pd.DataFrame(
        {"AAA": a1, "BBB": b1, "CCC": np.round(a2 + walk, 4), "DDD": b2},
        index=pd.bdate_range("2021-01-04", periods=n_bars),
    )
    closes = as_daily(prices)
    pairs = [Pair("AAA", "BBB", 0.8), Pair("CCC", "DDD", 1.5)]
    config = config_for(closes, pairs, window=15, entry_z=1.5, exit_z=0.4, stop_z=3.0, R=1.0)
    payload = config.model_dump(mode="json")
    formation = closes.iloc[:break_bar]
    for pair in payload["pairs"]:
        a, b = formation[pair["asset_1"]].to_numpy(), formation[pair["asset_2"]].to_numpy()
        pair["half_life"] = spread_half_life(a, b)
    health = HealthSettings(window=80, on_degraded="no_new_entries")
    return Case(
        f"degrading_pair_{seed}", closes, parse_config(payload, source="parity-case"), health=health
    )
