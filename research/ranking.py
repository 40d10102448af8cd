"""The seed's ranking of backtest results, written once.

Sharpe ratio descending, then maximum drawdown % ascending; ties keep the order the results came
in (a stable sort: grid order, or sweep order, pair then config); an undefined (NaN) value goes
last for either key, so a configuration that never traded ranks at the bottom. This is
``sort_values(["sharpe_ratio", "max_dd_pct"], ascending=[False, True])`` on the seed's table
(pandas sorts several keys with a stable lexicographic sort, ``na_position="last"``).

Every ranking in research goes through :func:`rank_order`: the optimizer's table, the sweep's
top rows and per-pair bests, the sweep summary and walk-forward's in-sample choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # a sweep's workers rank arrays only and need not load pandas
    import pandas as pd

    from shared.metrics import Metrics


def rank_order(
    sharpe: np.ndarray | Sequence[float],
    max_dd_pct: np.ndarray | Sequence[float],
    tiebreak: np.ndarray | None = None,
) -> np.ndarray:
    """Positions of the rows in the seed's ranking. Rows with equal keys keep their input
    order, or the order of ``tiebreak`` ascending when given (a sweep's rows arrive out of
    order, so they carry their own sweep position)."""
    sharpe_arr = np.asarray(sharpe, dtype=np.float64)
    dd_arr = np.asarray(max_dd_pct, dtype=np.float64)
    sharpe_key = np.where(np.isnan(sharpe_arr), np.inf, -sharpe_arr)
    dd_key = np.where(np.isnan(dd_arr), np.inf, dd_arr)
    order = np.arange(len(sharpe_arr)) if tiebreak is None else np.asarray(tiebreak)
    return np.lexsort((order, dd_key, sharpe_key))


def rank_frame(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` (with ``sharpe_ratio`` and ``max_dd_pct`` columns) in the seed's ranking,
    with a fresh index."""
    order = rank_order(
        results["sharpe_ratio"].to_numpy(float), results["max_dd_pct"].to_numpy(float)
    )
    return results.iloc[order].reset_index(drop=True)


def rank_metrics(metrics: Sequence[Metrics]) -> list[int]:
    """Positions of ``metrics`` in the seed's ranking (an undefined Sharpe is None there)."""
    sharpe = [np.nan if m.sharpe_ratio is None else m.sharpe_ratio for m in metrics]
    return rank_order(sharpe, [m.max_dd_pct for m in metrics]).tolist()


def _sharpe_key(sharpe: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(sharpe), np.inf, -sharpe)


def top_n(sharpe: np.ndarray, max_dd_pct: np.ndarray, tiebreak: np.ndarray, n: int) -> np.ndarray:
    """Positions of the best ``n`` rows, in rank order. Only rows whose Sharpe can reach the
    top ``n`` (ties at the boundary included) enter the full three-key sort."""
    candidates = np.arange(len(sharpe))
    if len(sharpe) > n > 0:
        key = _sharpe_key(sharpe)
        cutoff = np.partition(key, n - 1)[n - 1]
        candidates = np.flatnonzero(key <= cutoff)
    order = rank_order(sharpe[candidates], max_dd_pct[candidates], tiebreak[candidates])
    return candidates[order[: max(n, 0)]]


def top_k_per_row(sharpe: np.ndarray, max_dd_pct: np.ndarray, k: int) -> np.ndarray:
    """Column positions of each row's best ``k`` entries in rank order, ties in column order:
    a (rows, min(k, columns)) array, for a matrix of one pair per row and one config per
    column."""
    rows, columns = sharpe.shape
    k = min(k, columns)
    key = _sharpe_key(sharpe)
    if k < columns:
        cutoff = np.partition(key, k - 1, axis=1)[:, k - 1]
        cand_r, cand_c = np.nonzero(key <= cutoff[:, None])  # at least k per row
    else:
        cand_r, cand_c = np.divmod(np.arange(rows * columns), columns)
    dd_key = np.where(np.isnan(max_dd_pct), np.inf, max_dd_pct)
    order = np.lexsort((cand_c, dd_key[cand_r, cand_c], key[cand_r, cand_c], cand_r))
    ranked_r, ranked_c = cand_r[order], cand_c[order]
    starts = np.searchsorted(ranked_r, np.arange(rows))
    return ranked_c[starts[:, None] + np.arange(k)]
