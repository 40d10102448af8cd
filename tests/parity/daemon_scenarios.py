"""The fixed parity scenarios: deterministic closes and configs the daemon is replayed on."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd

from research.backtest.registry import get_engine
from research.data.market_data import align_closes
from research.data.synthetic import PLANTED, generate_universe
from research.search.grid import SEED_GRID
from research.search.optimize import rank_results, row_params, run_grid
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
