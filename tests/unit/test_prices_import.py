"""Reading wide CSVs of closes and cleaning them (what is dropped, and why)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.data.prices import (
    clean_prices,
    read_cleaned,
    read_source_label,
    read_wide_csv,
    write_cleaned,
)
from research.layout import ArtifactLayout
from shared.errors import DataError


def _write(tmp_path: Path, text: str, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("date_header", ["date", "Date", "", "timestamp"])
def test_the_first_column_is_the_date_whatever_its_header(tmp_path, date_header) -> None:
    path = _write(tmp_path, f"{date_header},AAA,BBB\n2024-01-03,10,20\n2024-01-02,11,21.5\n")
    prices = read_wide_csv(path)
    assert list(prices.columns) == ["AAA", "BBB"]
    assert list(prices.index) == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")]
    assert prices.index.name == "date" and prices.loc["2024-01-02", "BBB"] == 21.5


def test_timestamps_with_an_offset_become_session_dates(tmp_path) -> None:
    path = _write(
        tmp_path, "Date,AAA\n2024-01-02 00:00:00-05:00,10\n2024-01-03 00:00:00-05:00,11\n"
    )
    assert list(read_wide_csv(path).index.strftime("%Y-%m-%d")) == ["2024-01-02", "2024-01-03"]


def test_empty_cells_are_missing_prices_not_errors(tmp_path) -> None:
    prices = read_wide_csv(_write(tmp_path, "date,AAA,BBB\n2024-01-02,10,\n2024-01-03,,21\n"))
    assert prices.isna().sum().tolist() == [1, 1]


def test_a_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(DataError, match=r"nope\.csv: no such price file"):
        read_wide_csv(tmp_path / "nope.csv")


def test_a_first_column_without_dates_is_rejected(tmp_path) -> None:
    path = _write(tmp_path, "ticker,AAA\nfoo,10\nbar,11\n")
    with pytest.raises(DataError, match="first column ticker holds no dates"):
        read_wide_csv(path)


def test_one_bad_date_is_reported_with_its_line(tmp_path) -> None:
    path = _write(tmp_path, "date,AAA\n2024-01-02,10\nnot-a-date,11\n")
    with pytest.raises(DataError, match=r"line 3: 'not-a-date' in the date column is not a date"):
        read_wide_csv(path)


def test_a_table_without_price_columns_is_rejected(tmp_path) -> None:
    with pytest.raises(DataError, match="has no price columns"):
        read_wide_csv(_write(tmp_path, "date\n2024-01-02\n"))


def test_a_header_without_rows_is_rejected(tmp_path) -> None:
    with pytest.raises(DataError, match="has a header but no rows"):
        read_wide_csv(_write(tmp_path, "date,AAA\n"))


def test_duplicated_dates_name_the_date_and_lines(tmp_path) -> None:
    path = _write(tmp_path, "date,AAA\n2024-01-02,10\n2024-01-03,11\n2024-01-02,12\n")
    with pytest.raises(DataError, match=r"2024-01-02 appears 2 times \(lines 2, 4\)"):
        read_wide_csv(path)


def test_a_non_numeric_cell_names_column_line_and_value(tmp_path) -> None:
    path = _write(tmp_path, "date,AAA,BBB\n2024-01-02,10,20\n2024-01-03,11,n/a?\n")
    with pytest.raises(DataError, match=r"line 3, column BBB \(2024-01-03\): 'n/a\?' is not a"):
        read_wide_csv(path)


def test_a_ticker_column_twice_is_rejected(tmp_path) -> None:
    with pytest.raises(DataError, match="AAA appear more than once"):
        read_wide_csv(_write(tmp_path, "date,AAA,AAA\n2024-01-02,10,11\n"))


def _table(n: int = 300, **overrides: np.ndarray) -> pd.DataFrame:
    dates = pd.bdate_range("2023-01-02", periods=n, name="date")
    rng = np.random.default_rng(0)
    data = {t: 50 + np.cumsum(rng.normal(0, 0.5, n)) for t in ("AAA", "BBB", "CCC")}
    data.update(overrides)
    return pd.DataFrame(data, index=dates)


def test_clean_keeps_complete_tickers_and_reports_the_window() -> None:
    cleaned, report = clean_prices(_table(), source="csv:x.csv", min_bars=200)
    assert list(cleaned.columns) == ["AAA", "BBB", "CCC"] and not cleaned.isna().any().any()
    assert (report.n_sessions, report.dropped, report.sessions_dropped) == (300, (), 0)
    assert report.first_session == date(2023, 1, 2)


def test_clean_restricts_to_start_and_end_inclusive() -> None:
    cleaned, report = clean_prices(
        _table(), source="t", start=date(2023, 2, 1), end=date(2023, 6, 30), min_bars=50
    )
    assert (cleaned.index[0], cleaned.index[-1]) == (
        pd.Timestamp("2023-02-01"),
        pd.Timestamp("2023-06-30"),
    )
    assert report.n_sessions == len(pd.bdate_range("2023-02-01", "2023-06-30"))


def test_a_ticker_without_data_is_dropped_with_its_reason() -> None:
    _, report = clean_prices(_table(DDD=np.full(300, np.nan)), source="t", min_bars=200)
    assert [(d.symbol, d.reason) for d in report.dropped] == [
        ("DDD", "no prices in the date range")
    ]


def test_a_nan_run_drops_the_ticker_and_reports_the_longest_gap() -> None:
    values = 40 + np.linspace(0, 5, 300)
    values[100:160] = np.nan  # 60 sessions missing: 80% coverage
    _, report = clean_prices(_table(DDD=values), source="t", min_bars=200)
    (dropped,) = report.dropped
    assert dropped.symbol == "DDD"
    assert "prices on only 240 of 300 sessions (80% < 90%)" in dropped.reason
    assert "longest gap 60 sessions from 2023-05-22 to 2023-08-11" in dropped.reason


def test_a_short_gap_is_kept_and_its_sessions_are_aligned_away() -> None:
    values = 40 + np.linspace(0, 5, 300)
    values[[10, 11, 50]] = np.nan
    cleaned, report = clean_prices(_table(DDD=values), source="t", min_bars=200)
    assert "DDD" in cleaned.columns and report.sessions_dropped == 3 and len(cleaned) == 297


def test_a_non_positive_price_drops_the_ticker_naming_date_and_value() -> None:
    values = 40 + np.linspace(0, 5, 300)
    values[7] = -1.25
    _, report = clean_prices(_table(DDD=values), source="t", min_bars=200)
    assert report.dropped[0].reason == "non-positive close -1.25 on 2023-01-11"


def test_too_few_bars_drops_the_ticker() -> None:
    cleaned, report = clean_prices(_table(n=120), source="t", min_bars=100, min_coverage=0.5)
    assert len(cleaned) == 120
    values = np.full(120, np.nan)
    values[:80] = 10.0 + np.linspace(0, 1, 80)  # not constant: that is a reason of its own
    _, report = clean_prices(_table(n=120, DDD=values), source="t", min_bars=100, min_coverage=0.5)
    assert report.dropped[0].reason == "only 80 bars (fewer than 100)"


def test_fewer_than_two_usable_tickers_is_an_error_listing_the_reasons() -> None:
    table = _table()[["AAA"]].assign(BBB=np.nan)
    with pytest.raises(DataError, match=r"fewer than two usable tickers.*BBB: no prices"):
        clean_prices(table, source="t", min_bars=200)


def test_an_empty_window_says_what_the_data_covers() -> None:
    with pytest.raises(DataError, match=r"covers 2023-01-02 \.\. 2024-02-23"):
        clean_prices(_table(), source="t", start=date(2025, 1, 1))


def test_cleaned_prices_round_trip_as_the_seed_reads_them(tmp_path) -> None:
    cleaned, report = clean_prices(_table(), source="csv:x.csv", min_bars=200)
    layout = ArtifactLayout(tmp_path)
    write_cleaned(cleaned, report, layout)
    seed_read = pd.read_csv(layout.cleaned_prices, parse_dates=["date"], index_col="date")
    pd.testing.assert_frame_equal(seed_read, cleaned, check_freq=False)
    pd.testing.assert_frame_equal(read_cleaned(layout), seed_read)
    saved = json.loads(layout.cleaning_report.read_text())
    assert saved["source"] == read_source_label(layout) == "csv:x.csv"
    assert saved["kept"] == ["AAA", "BBB", "CCC"] and saved["n_sessions"] == 300


def test_reading_cleaned_prices_before_any_prices_step_says_what_to_run(tmp_path) -> None:
    with pytest.raises(DataError, match="run `pairs-research prices"):
        read_cleaned(ArtifactLayout(tmp_path))
