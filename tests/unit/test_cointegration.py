"""The screen's table: columns, order, NaN alignment, directions, selection, q-values, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from research.screen.coint.multiple_testing import bh_qvalues
from research.screen.coint.universe import build_universe, ordered_pairs
from research.screen.pipeline import (
    SEED_COLUMNS,
    MultipleTestingWarning,
    run_screen,
)
from shared.errors import ConfigError, DataError


def _universe(n: int = 400, seed: int = 5) -> pd.DataFrame:
    """Two cointegrated pairs (AAA/BBB, CCC/DDD) and a free walk (EEE), columns unsorted."""
    rng = np.random.default_rng(seed)
    walk = lambda start: start + np.cumsum(rng.normal(0, 1, n))  # noqa: E731
    b, d = walk(100.0), walk(60.0)
    spread = np.zeros(n)
    for t in range(1, n):
        spread[t] = 0.8 * spread[t - 1] + rng.normal()
    dates = pd.bdate_range("2021-01-04", periods=n)
    return pd.DataFrame(
        {
            "EEE": walk(80.0),
            "BBB": b,
            "AAA": 10.0 + 0.5 * b + spread,
            "DDD": d,
            "CCC": 5.0 + 1.5 * d + 2.0 * spread[::-1],
        },
        index=dates,
    )


def _quiet_screen(prices: pd.DataFrame, **kw: object) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleTestingWarning)
        return run_screen(prices, progress=False, **kw).table  # type: ignore[arg-type]


def test_bh_qvalues_match_a_hand_computation() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.20, np.nan])
    # m = 4; sorted 0.01, 0.03, 0.04, 0.20 -> 4p/rank = 0.04, 0.06, 0.0533.., 0.20;
    # running min from the top: 0.04, 0.0533.., 0.0533.., 0.20
    expected = np.array([0.04, 0.16 / 3, 0.16 / 3, 0.20, np.nan])
    np.testing.assert_allclose(bh_qvalues(p), expected, rtol=1e-15)
    assert bh_qvalues(np.array([0.9, 0.95])).max() <= 1.0


def test_table_has_seed_columns_first_sorted_by_pvalue_with_sorted_assets() -> None:
    table = _quiet_screen(_universe(), engine="fast", pvalue_threshold=1.0)
    assert tuple(table.columns[: len(SEED_COLUMNS)]) == SEED_COLUMNS
    assert list(table.columns[len(SEED_COLUMNS) :]) == ["lag", "qvalue"]
    assert len(table) == 10  # every pair of 5 tickers at threshold 1
    assert (table["asset_1"] < table["asset_2"]).all()
    assert table["pvalue"].is_monotonic_increasing
    assert set(table.iloc[:2][["asset_1", "asset_2"]].itertuples(index=False)) == {
        ("AAA", "BBB"),
        ("CCC", "DDD"),
    }


def test_threshold_keeps_only_pairs_below_it() -> None:
    table = _quiet_screen(_universe(), engine="fast", pvalue_threshold=0.05)
    assert (table["pvalue"] < 0.05).all()
    assert {("AAA", "BBB"), ("CCC", "DDD")} <= set(
        table[["asset_1", "asset_2"]].itertuples(index=False)
    )


def test_hedge_ratio_and_intercept_are_ols_of_asset_1_on_asset_2() -> None:
    prices = _universe()
    row = _quiet_screen(prices, engine="fast").set_index(["asset_1", "asset_2"]).loc[("AAA", "BBB")]
    slope, intercept = np.polyfit(prices["BBB"], prices["AAA"], 1)
    assert row["hedge_ratio"] == pytest.approx(slope, rel=1e-10)
    assert row["intercept"] == pytest.approx(intercept, rel=1e-10)
    returns = np.log(prices[["AAA", "BBB"]]).diff().dropna()
    assert row["corr"] == pytest.approx(returns["AAA"].corr(returns["BBB"]), rel=1e-12)


def test_pairs_are_aligned_pairwise_like_the_seed_dropna() -> None:
    prices = _universe()
    prices.iloc[:50, prices.columns.get_loc("EEE")] = np.nan  # a late listing
    prices.iloc[200, prices.columns.get_loc("AAA")] = np.nan  # a missing day
    table = _quiet_screen(prices, engine="fast", pvalue_threshold=1.0)
    by_pair = table.set_index(["asset_1", "asset_2"])
    assert by_pair.loc[("BBB", "EEE"), "n_obs"] == 350
    assert by_pair.loc[("AAA", "EEE"), "n_obs"] == 349
    assert by_pair.loc[("CCC", "DDD"), "n_obs"] == 400
    alone = _quiet_screen(
        prices[["AAA", "EEE"]].dropna(), engine="statsmodels", pvalue_threshold=1.0
    )
    assert by_pair.loc[("AAA", "EEE"), "coint_t"] == pytest.approx(alone["coint_t"][0], rel=1e-12)


def test_both_directions_report_both_rows_of_a_kept_pair() -> None:
    prices = _universe()
    either = _quiet_screen(prices, engine="fast", direction="both", keep="either")
    both = _quiet_screen(prices, engine="fast", direction="both", keep="both")
    pairs_either = {frozenset(p) for p in either[["asset_1", "asset_2"]].itertuples(index=False)}
    for pair in pairs_either:
        rows = either[either.apply(lambda r, p=pair: {r.asset_1, r.asset_2} == p, axis=1)]
        assert len(rows) == 2 and rows["pvalue"].min() < 0.05
    assert len(both) <= len(either)
    pvalue_pairs = both.assign(key=both.apply(lambda r: frozenset((r.asset_1, r.asset_2)), axis=1))
    assert (pvalue_pairs.groupby("key")["pvalue"].max() < 0.05).all()


def test_selecting_on_qvalue_keeps_a_subset_and_raw_pvalues_warn() -> None:
    prices = _universe()
    with pytest.warns(MultipleTestingWarning, match=r"10 tests at 0.05 .* about 0\.5 pairs"):
        by_p = run_screen(prices, engine="fast", progress=False).table
    by_q = _quiet_screen(prices, engine="fast", select_on="qvalue")
    assert (by_q["qvalue"] < 0.05).all()
    assert set(by_q.index) <= set(by_p.index)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MultipleTestingWarning)
        run_screen(prices, engine="fast", progress=False, select_on="qvalue")


def test_johansen_path_screens_symmetrically() -> None:
    result = run_screen(_universe(), method="johansen", progress=False, select_on="qvalue")
    table = result.table
    assert tuple(table.columns[: len(SEED_COLUMNS)]) == SEED_COLUMNS
    assert "max_eig_stat" in table.columns
    assert set(table["pvalue"]) <= {0.01, 0.05}
    assert ((table["coint_t"] > table["crit_5pct"]) | (table["pvalue"] == 0.01)).all()
    assert ("AAA", "BBB") in set(table[["asset_1", "asset_2"]].itertuples(index=False))
    with pytest.raises(ConfigError, match=r"0\.01, 0\.05 or 0\.10"):
        run_screen(_universe(), method="johansen", pvalue_threshold=0.03, progress=False)


def test_verify_reports_agreement_with_statsmodels() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleTestingWarning)
        result = run_screen(_universe(), engine="fast", progress=False, verify=3)
    assert result.verification is not None
    assert result.verification.checked == 3
    assert result.verification.max_t_diff < 1e-12
    assert result.verification.lag_mismatches == 0


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"AAA": [1.0, 2.0]}), "at least two ticker columns"),
        (pd.DataFrame({"AAA": [1.0, -2.0], "BBB": [1.0, 2.0]}), "ticker AAA has a non-positive"),
        (pd.DataFrame([[1.0, 2.0]], columns=["AAA", "AAA"]), "AAA appear twice"),
        (pd.DataFrame({"AAA": ["x", "y"], "BBB": [1.0, 2.0]}), "non-numeric"),
    ],
)
def test_bad_price_tables_are_rejected_with_the_ticker_named(
    frame: pd.DataFrame, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        build_universe(frame)


def test_unknown_options_are_config_errors_naming_the_option() -> None:
    with pytest.raises(ConfigError, match="engine"):
        run_screen(_universe(), engine="gpu")
    with pytest.raises(ConfigError, match="direction"):
        run_screen(_universe(), method="johansen", direction="both")
    with pytest.raises(ConfigError, match="pvalue_threshold"):
        run_screen(_universe(), pvalue_threshold=0.0)


def test_pairs_with_too_little_overlap_are_skipped_not_tested() -> None:
    prices = _universe(n=120)
    prices.iloc[:110, prices.columns.get_loc("EEE")] = np.nan
    result = run_screen(
        prices, engine="fast", progress=False, pvalue_threshold=1.0, select_on="qvalue"
    )
    assert result.info.skipped_short == 4
    assert result.tested == 6
    assert "EEE" not in set(result.table["asset_1"]) | set(result.table["asset_2"])


def test_ordered_pairs_seed_then_reversed() -> None:
    assert ordered_pairs(3, "seed").tolist() == [[0, 1], [0, 2], [1, 2]]
    assert ordered_pairs(3, "both").tolist()[3:] == [[1, 0], [2, 0], [2, 1]]


def test_distributed_tiles_cover_every_pair_once_with_few_tickers_each() -> None:
    from research.screen.coint.engines import tile_tasks

    pairs = ordered_pairs(23, "both")
    rows = np.arange(len(pairs))
    seen: list[int] = []
    for group, tickers, local in tile_tasks(pairs, rows, tile=5):
        assert len(tickers) <= 10  # two blocks of 5
        assert (tickers[local] == pairs[group]).all()  # local indices map back to the pairs
        seen.extend(group.tolist())
    assert sorted(seen) == rows.tolist()
