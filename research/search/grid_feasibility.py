"""Grids that cannot mean anything, said in plain words before and after they run.

Before: a stake (shares of the second leg per entry, and ``hedge_ratio`` times as many of the
first) whose entry costs more than the initial cash. The broker's cash checks then cannot
fill the entry as the strategy means it, and the backtest holds positions it never closes
(measured: stake 1e8 on $100,000 ends at minus billions with zero trades), ranked like any
other row.

After: a winning row that never traded (its Sharpe ratio, if any, comes from an open position
or nothing at all) or whose Sharpe ratio is undefined. No config is emitted from a winner
without trades unless the operator asks for it (``--allow-no-trades``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from research.data.market_data import AlignedCloses
from research.search.grid import Grid
from shared.errors import DataError
from shared.strategy import Pair


def stake_warnings(data: AlignedCloses, pairs: Sequence[Pair], grid: Grid) -> list[str]:
    """One line per (pair, stake) whose entry at the window's highest prices costs more than
    the initial cash."""
    lines = []
    for pair in pairs:
        a, b = data.column(pair.asset_1), data.column(pair.asset_2)
        per_share = float(np.max(abs(pair.hedge_ratio) * a + b))  # one share of B, beta of A
        for stake in sorted(set(grid.stake)):
            cost = stake * per_share
            if cost > grid.initial_cash:
                lines.append(
                    f"stake {stake:g} on {pair.asset_1}/{pair.asset_2} is infeasible: one entry "
                    f"trades up to ${cost:,.0f}, {cost / grid.initial_cash:,.1f} times the "
                    f"initial cash ${grid.initial_cash:,.0f}; the broker cannot fill such "
                    "entries, so those rows are not real results. Lower the stake or raise initial_cash."
                )
    return lines


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> str:
    return "undefined" if _missing(value) else f"{float(value):.4f}"


def result_warnings(ranked: pd.DataFrame) -> list[str]:
    """Plain-words warnings about the ranked results (rows without trades, the winner)."""
    lines = []
    trades = pd.to_numeric(ranked["total_trades"], errors="coerce")
    idle = int((trades.fillna(0) == 0).sum())
    if idle:
        lines.append(f"{idle} of {len(ranked)} configurations made no trade")
    best = ranked.iloc[0]
    if _missing(best["sharpe_ratio"]):
        lines.append(
            "the best configuration has an undefined Sharpe ratio: no configuration produced "
            "a usable return series, so the ranking means nothing"
        )
    return lines


def check_winner_traded(ranked: pd.DataFrame, allow_no_trades: bool) -> str | None:
    """Refuse (DataError) to emit a config from a winner without trades unless allowed;
    return the warning to print when allowed."""
    best = ranked.iloc[0]
    trades = best["total_trades"]
    if not _missing(trades) and int(trades) > 0:
        return None
    message = (
        f"the best configuration (window {best['window']}, entry {best['entry_z']}, stake "
        f"{best['stake']}) made no trade: final value {best['final_value']:,.2f}, Sharpe "
        f"{_number(best['sharpe_ratio'])}"
    )
    if allow_no_trades:
        return f"{message}; emitting it anyway (--allow-no-trades)"
    raise DataError(
        f"{message}; no config emitted. Check the grid (stake against initial cash, entry "
        "thresholds) and the pairs, or pass --allow-no-trades to emit it anyway"
    )
