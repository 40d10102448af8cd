"""Parsing yfinance frames and the download logic (cache, retries, per-ticker failures)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd
import pytest

from research.commands.prices import clean_and_write, load_raw
from research.data.yahoo import (
    FetchAnswer,
    YFinanceFetcher,
    _ErrorCapture,
    cache_path,
    download_closes,
    parse_yfinance_frame,
)
from research.layout import ArtifactLayout
from tests.fixtures.yfinance_frames import CLOSES, SESSIONS, download_frame, history_frame

START, END = date(2024, 1, 2), date(2024, 1, 8)


def _expected(ticker: str) -> pd.Series:
    return pd.Series(CLOSES[ticker], index=SESSIONS.rename("date"), name=ticker)


@pytest.mark.parametrize(
    "shape",
    [
        {"group_by": "column"},
        {"group_by": "ticker"},
    ],
)
def test_multi_ticker_frames_give_each_tickers_close(shape: dict[str, str]) -> None:
    frame = download_frame(["SPY", "DIA", "QQQ"], **shape)  # type: ignore[arg-type]
    parsed = parse_yfinance_frame(frame, ["SPY", "DIA", "QQQ"])
    for t in ("SPY", "DIA", "QQQ"):
        pd.testing.assert_series_equal(parsed[t], _expected(t))


@pytest.mark.parametrize("multi_level_index", [True, False])
def test_single_ticker_frames_in_both_column_shapes(multi_level_index: bool) -> None:
    frame = download_frame(["DIA"], multi_level_index=multi_level_index)
    assert isinstance(frame.columns, pd.MultiIndex) is multi_level_index
    pd.testing.assert_series_equal(parse_yfinance_frame(frame, ["DIA"])["DIA"], _expected("DIA"))


def test_a_failed_ticker_parses_to_an_empty_series_and_others_are_intact() -> None:
    frame = download_frame(["SPY", "ZZZZ"], failed=("ZZZZ",))
    parsed = parse_yfinance_frame(frame, ["SPY", "ZZZZ", "ABSENT"])
    assert parsed["ZZZZ"].empty and parsed["ABSENT"].empty
    pd.testing.assert_series_equal(parsed["SPY"], _expected("SPY"))


def test_tz_aware_sessions_become_local_calendar_dates() -> None:
    frame = history_frame("QQQ", tz="America/New_York")
    parsed = parse_yfinance_frame(frame, ["QQQ"])["QQQ"]
    assert parsed.index.tz is None
    assert list(parsed.index) == list(SESSIONS)


def test_adj_close_is_preferred_when_present() -> None:
    frame = history_frame("SPY", tz=None)
    frame["Adj Close"] = frame["Close"] * 0.5
    parsed = parse_yfinance_frame(frame, ["SPY"])["SPY"]
    assert parsed.iloc[0] == pytest.approx(CLOSES["SPY"][0] * 0.5)


class RecordedFetcher:
    """Answers from recorded frames; can fail the first calls or withhold tickers."""

    def __init__(
        self,
        *,
        unknown: tuple[str, ...] = (),
        raise_first: int = 0,
        empty_first: int = 0,
    ) -> None:
        self.unknown = unknown
        self.raise_first = raise_first
        self.empty_first = empty_first
        self.calls: list[tuple[list[str], date, date]] = []

    def __call__(self, tickers: Sequence[str], start: date, end_exclusive: date) -> FetchAnswer:
        self.calls.append((list(tickers), start, end_exclusive))
        if len(self.calls) <= self.raise_first:
            raise ConnectionError("Connection reset by peer")
        failed = tuple(t for t in tickers if t in self.unknown)
        if len(self.calls) <= self.empty_first:
            failed = tuple(tickers)
        errors = {
            t: "YFPricesMissingError('possibly delisted; no price data found')" for t in failed
        }
        return FetchAnswer(download_frame(list(tickers), failed=failed), errors)


def test_download_caches_each_ticker_and_reuses_the_cache(tmp_path) -> None:
    fetch = RecordedFetcher()
    first = download_closes(
        ["spy", "DIA"], START, END, cache_dir=tmp_path, fetch=fetch, progress=False
    )
    assert fetch.calls == [(["SPY", "DIA"], START, END + timedelta(days=1))]  # end inclusive
    assert cache_path(tmp_path, "SPY", START, END).is_file()
    again = download_closes(["SPY", "DIA"], START, END, cache_dir=tmp_path, fetch=fetch)
    assert len(fetch.calls) == 1 and sorted(again.from_cache) == ["DIA", "SPY"]
    pd.testing.assert_frame_equal(again.wide(), first.wide(), check_freq=False)
    download_closes(["SPY"], START, END, cache_dir=tmp_path, fetch=fetch, refresh=True)
    assert len(fetch.calls) == 2


def test_transient_errors_are_retried_with_exponential_backoff(tmp_path) -> None:
    fetch, sleeps = RecordedFetcher(raise_first=2), []
    result = download_closes(
        ["SPY"],
        START,
        END,
        cache_dir=tmp_path,
        fetch=fetch,
        attempts=3,
        backoff_seconds=1.5,
        sleep=sleeps.append,
        progress=False,
    )
    assert sleeps == [1.5, 3.0]
    assert not result.failed and list(result.closes) == ["SPY"]


def test_an_unknown_ticker_is_reported_by_name_and_the_others_download(tmp_path) -> None:
    fetch = RecordedFetcher(unknown=("NOPE",))
    result = download_closes(
        ["SPY", "NOPE", "DIA"],
        START,
        END,
        cache_dir=tmp_path,
        fetch=fetch,
        sleep=lambda s: None,
        progress=False,
    )
    assert sorted(result.closes) == ["DIA", "SPY"]
    assert list(result.failed) == ["NOPE"]
    assert "possibly delisted" in result.failed["NOPE"]
    assert [c[0] for c in fetch.calls] == [["SPY", "NOPE", "DIA"], ["NOPE"], ["NOPE"]]
    assert not cache_path(tmp_path, "NOPE", START, END).exists()


def test_a_ticker_that_never_answers_names_the_transport_error(tmp_path) -> None:
    result = download_closes(
        ["SPY"],
        START,
        END,
        cache_dir=tmp_path,
        fetch=RecordedFetcher(raise_first=99),
        attempts=2,
        sleep=lambda s: None,
        progress=False,
    )
    assert result.failed == {"SPY": "download failed: ConnectionError: Connection reset by peer"}


def test_prices_outside_the_requested_range_do_not_count(tmp_path) -> None:
    result = download_closes(
        ["SPY"],
        date(2023, 6, 1),
        date(2023, 6, 30),
        cache_dir=tmp_path,
        fetch=RecordedFetcher(),
        sleep=lambda s: None,
        progress=False,
    )
    assert "no prices between 2023-06-01 and 2023-06-30" in result.failed["SPY"]


def test_yfinance_log_lines_map_errors_to_tickers() -> None:
    capture = _ErrorCapture()
    logger = logging.getLogger("yfinance.test-capture")
    logger.addHandler(capture)
    try:
        logger.error("\n2 Failed downloads:")
        logger.error("['NOPE', 'ZZZZ']: YFTzMissingError('possibly delisted; no timezone found')")
    finally:
        logger.removeHandler(capture)
    assert capture.by_ticker(["NOPE", "ZZZZ", "SPY"]) == {
        "NOPE": "YFTzMissingError('possibly delisted; no timezone found')",
        "ZZZZ": "YFTzMissingError('possibly delisted; no timezone found')",
    }


@pytest.mark.network
def test_real_download_returns_adjusted_closes_for_known_tickers(tmp_path) -> None:
    result = download_closes(
        ["SPY", "DIA", "NOT_A_TICKER_XYZ"],
        date(2024, 1, 2),
        date(2024, 3, 28),
        cache_dir=tmp_path,
        fetch=YFinanceFetcher(),
        progress=False,
    )
    assert sorted(result.closes) == ["DIA", "SPY"]
    assert "NOT_A_TICKER_XYZ" in result.failed
    wide = result.wide()
    assert len(wide) > 55 and (wide > 0).all().all()
    assert wide.index.min() >= pd.Timestamp("2024-01-02")


def test_the_download_step_reports_failed_tickers_among_the_dropped(tmp_path, capsys) -> None:
    args = argparse.Namespace(
        source_kind="download",
        tickers="SPY,DIA,NOPE",
        tickers_file=None,
        start=START,
        end=END,
        refresh=False,
        attempts=1,
        no_progress=True,
        min_coverage=0.9,
        min_bars=5,
    )
    layout = ArtifactLayout(tmp_path)
    raw, source, failed = load_raw(args, layout, fetch=RecordedFetcher(unknown=("NOPE",)))
    cleaned, report = clean_and_write(raw, source, args, layout, failed)
    assert source == "yfinance" and list(cleaned.columns) == ["SPY", "DIA"]
    assert [d.symbol for d in report.dropped] == ["NOPE"]
    assert report.dropped[0].reason.startswith("download failed: Yahoo: YFPricesMissingError")
    assert "download failed for NOPE" in capsys.readouterr().err
    assert sorted(p.name.split("_")[0] for p in layout.raw_dir.iterdir()) == ["DIA", "SPY"]
