"""The seed's greedy selection of top non-overlapping pairs."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from research.screen.selection import pairs_from_table, select_top_non_overlapping_pairs
from shared.errors import DataError
from shared.strategy import Pair


def _table(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"asset_1": a, "asset_2": b, "corr": c, "pvalue": p, "hedge_ratio": 1.0 + i / 10}
            for i, (a, b, c, p) in enumerate(rows)
        ]
    )


def _picked(df: pd.DataFrame) -> list[str]:
    return [f"{a}/{b}" for a, b in zip(df["asset_1"], df["asset_2"], strict=True)]


SEED_SCREEN = _table(
    [
        ("DIA", "SPY", 0.920666, 0.016986),
        ("DIA", "XLK", 0.766556, 0.022805),
        ("DIA", "QQQ", 0.780279, 0.041631),
    ]
)


def test_the_seeds_screen_selects_only_dia_spy() -> None:
    # The seed's notebook printed exactly this: three pairs share DIA, one is kept.
    assert _picked(select_top_non_overlapping_pairs(SEED_SCREEN)) == ["DIA/SPY"]


def test_pairs_are_taken_by_pvalue_and_skipped_when_a_ticker_is_used() -> None:
    table = _table(
        [
            ("A", "B", 0.5, 0.03),
            ("C", "D", 0.6, 0.01),
            ("A", "C", 0.9, 0.001),
            ("B", "E", 0.4, 0.02),
            ("F", "G", 0.3, 0.04),
        ]
    )
    assert _picked(select_top_non_overlapping_pairs(table)) == ["A/C", "B/E", "F/G"]
    assert _picked(select_top_non_overlapping_pairs(table, max_pairs=2)) == ["A/C", "B/E"]


def test_corr_sorts_descending() -> None:
    table = _table([("A", "B", 0.5, 0.01), ("C", "D", 0.9, 0.02), ("A", "D", 0.95, 0.03)])
    assert _picked(select_top_non_overlapping_pairs(table, sort_by="corr")) == ["A/D"]
    table2 = _table([("A", "B", 0.5, 0.01), ("C", "D", 0.9, 0.02), ("E", "F", 0.7, 0.03)])
    assert _picked(select_top_non_overlapping_pairs(table2, sort_by="corr")) == [
        "C/D",
        "E/F",
        "A/B",
    ]


def test_none_keeps_the_tables_order() -> None:
    table = _table([("A", "B", 0.1, 0.04), ("C", "D", 0.9, 0.01)])
    assert _picked(select_top_non_overlapping_pairs(table, sort_by="none")) == ["A/B", "C/D"]


def test_ties_keep_the_screens_order() -> None:
    table = _table([(f"T{i}", f"U{i}", 0.8, 0.01) for i in range(12)])
    picked = select_top_non_overlapping_pairs(table, max_pairs=12)
    assert _picked(picked) == [f"T{i}/U{i}" for i in range(12)]
    picked = select_top_non_overlapping_pairs(table, max_pairs=12, sort_by="corr")
    assert _picked(picked) == [f"T{i}/U{i}" for i in range(12)]


def test_missing_pvalues_sort_last() -> None:
    table = _table([("A", "B", 0.5, math.nan), ("C", "D", 0.5, 0.2)])
    assert _picked(select_top_non_overlapping_pairs(table)) == ["C/D", "A/B"]


def test_all_columns_are_kept_and_the_index_is_fresh() -> None:
    picked = select_top_non_overlapping_pairs(SEED_SCREEN.iloc[::-1])
    assert list(picked.columns) == list(SEED_SCREEN.columns) and list(picked.index) == [0]


def test_an_empty_screen_gives_an_empty_selection_with_the_columns() -> None:
    picked = select_top_non_overlapping_pairs(SEED_SCREEN.iloc[0:0])
    assert picked.empty and list(picked.columns) == list(SEED_SCREEN.columns)


def test_pairs_from_table_builds_the_strategy_pair_list() -> None:
    assert pairs_from_table(SEED_SCREEN.iloc[:1]) == [Pair("DIA", "SPY", 1.0)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sort_by": "sharpe"}, "unknown sort key 'sharpe'"),
        ({"max_pairs": 0}, "max_pairs must be at least 1"),
    ],
)
def test_bad_options_are_rejected(kwargs, message) -> None:
    with pytest.raises(DataError, match=message):
        select_top_non_overlapping_pairs(SEED_SCREEN, **kwargs)


def test_a_table_without_the_sort_column_names_it() -> None:
    with pytest.raises(DataError, match=r"lacks column.*corr"):
        select_top_non_overlapping_pairs(SEED_SCREEN.drop(columns="corr"), sort_by="corr")


TICKERS = st.sampled_from(list("ABCDEFGH"))
ROWS = st.lists(
    st.tuples(TICKERS, TICKERS, st.floats(-1, 1), st.floats(0, 0.05)).filter(lambda r: r[0] < r[1]),
    max_size=25,
)


@settings(derandomize=True, max_examples=100, deadline=None)
@given(rows=ROWS, max_pairs=st.integers(1, 5))
def test_selection_is_greedy_and_never_overlaps(rows, max_pairs) -> None:
    table = _table(rows)
    picked = select_top_non_overlapping_pairs(table, max_pairs=max_pairs) if rows else None
    if picked is None:
        return
    legs = [t for pair in zip(picked["asset_1"], picked["asset_2"], strict=True) for t in pair]
    assert len(legs) == len(set(legs)) and len(picked) <= max_pairs
    assert list(picked["pvalue"]) == sorted(picked["pvalue"])
    # Greedy: every better-ranked pair not kept overlaps one kept before it.
    ordered = table.sort_values("pvalue", kind="mergesort")
    used: set[str] = set()
    expected = []
    for a, b in zip(ordered["asset_1"], ordered["asset_2"], strict=True):
        if len(expected) < max_pairs and a not in used and b not in used:
            expected.append(f"{a}/{b}")
            used |= {a, b}
    assert _picked(picked) == expected
