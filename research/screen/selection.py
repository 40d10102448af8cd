"""Pair selection: the seed's ``select_top_non_overlapping_pairs``.

Sort the screened pairs (p-value ascending, or correlation descending), then walk them greedily
and keep a pair only when neither of its tickers is used by a pair already kept, until
``max_pairs`` are kept. Non-overlap matters because the strategy's pairs share one portfolio and
trade each leg's *whole* position on exit: two pairs holding one ticker would close each other.

The seed used pandas' default (quicksort) ordering; here the sort is stable (mergesort) so pairs
with equal scores keep the screen's order, which makes the result reproducible. Missing scores
(NaN) sort last.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import pandas as pd

from shared.errors import DataError
from shared.strategy import Pair

SortBy = Literal["pvalue", "corr", "none"]
SORT_CHOICES: tuple[str, ...] = ("pvalue", "corr", "none")
REQUIRED_COLUMNS: tuple[str, ...] = ("asset_1", "asset_2", "hedge_ratio")
SEED_MAX_PAIRS = 3


def select_top_non_overlapping_pairs(
    coint_df: pd.DataFrame, max_pairs: int = SEED_MAX_PAIRS, sort_by: str = "pvalue"
) -> pd.DataFrame:
    """The seed's greedy pick of up to ``max_pairs`` pairs sharing no ticker.

    ``sort_by`` is ``"pvalue"`` (ascending), ``"corr"`` (descending) or ``"none"`` (keep the
    table's order, as the seed's fallback branch does). Returns the kept rows, all columns,
    with a fresh 0..n-1 index; an empty frame with the same columns when nothing qualifies.
    """
    _check_table(coint_df, sort_by, max_pairs)
    if sort_by == "pvalue":
        ordered = coint_df.sort_values("pvalue", ascending=True, kind="mergesort")
    elif sort_by == "corr":
        ordered = coint_df.sort_values("corr", ascending=False, kind="mergesort")
    else:
        ordered = coint_df

    used: set[str] = set()
    kept: list[int] = []
    for pos, (a1, a2) in enumerate(zip(ordered["asset_1"], ordered["asset_2"], strict=True)):
        if a1 in used or a2 in used:
            continue
        kept.append(pos)
        used.update((a1, a2))
        if len(kept) >= max_pairs:
            break
    return ordered.iloc[kept].reset_index(drop=True)


def pairs_from_table(selected: pd.DataFrame) -> list[Pair]:
    """The strategy's ``pair_list`` from selected rows, in row order."""
    return [
        Pair(str(a1), str(a2), float(h))
        for a1, a2, h in zip(
            selected["asset_1"], selected["asset_2"], selected["hedge_ratio"], strict=True
        )
    ]


def _check_table(coint_df: pd.DataFrame, sort_by: str, max_pairs: int) -> None:
    if sort_by not in SORT_CHOICES:
        raise DataError(f"unknown sort key '{sort_by}': use one of {', '.join(SORT_CHOICES)}")
    if max_pairs < 1:
        raise DataError(f"max_pairs must be at least 1 (got {max_pairs})")
    needed: Sequence[str] = (*REQUIRED_COLUMNS, *((sort_by,) if sort_by != "none" else ()))
    missing = [c for c in needed if c not in coint_df.columns]
    if missing:
        raise DataError(
            f"the pairs table lacks column(s) {', '.join(missing)} (has: "
            f"{', '.join(map(str, coint_df.columns))}); re-run the screen step"
        )
