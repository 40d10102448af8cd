"""The one yfinance adapter (shared.adapters.yahoo) as research and the daemon use it: rate
limits back off longer, a partial answer is asked again and then reported, never used."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd
import pytest

from daemon.adapters.yfinance.bars import YFinanceBarSource
from daemon.core.errors import StaleFeed
from shared.adapters.yahoo import (
    RATE_LIMIT_BACKOFF_MULTIPLIER,
    FetchAnswer,
    fetch_closes,
)
from shared.errors import DataError
from tests.fixtures.yfinance_frames import download_frame

START, END = date(2024, 1, 2), date(2024, 1, 8)


class ScriptedFetcher:
    """Answers from a script, one entry per call (a vendor edge: recorded frames)."""

    def __init__(self, answers: list[FetchAnswer]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, tickers: Sequence[str], start: date, end_exclusive: date) -> FetchAnswer:
        self.calls.append(list(tickers))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


def _truncated(tickers: list[str], short: str) -> pd.DataFrame:
    """DIA's last two sessions missing while SPY has them: yfinance's partial answer."""
    frame = download_frame(tickers)
    frame.loc[frame.index[-2:], (slice(None), short)] = float("nan")
    return frame


def _rate_limited(tickers: list[str]) -> FetchAnswer:
    error = "YFRateLimitError('Too Many Requests. Rate limited. Try after a while.')"
    return FetchAnswer(
        download_frame(tickers, failed=tuple(tickers)), dict.fromkeys(tickers, error)
    )


def test_a_rate_limit_backs_off_longer_then_the_answer_is_used() -> None:
    fetch = ScriptedFetcher([_rate_limited(["SPY"]), FetchAnswer(download_frame(["SPY"]))])
    sleeps: list[float] = []
    got = fetch_closes(["SPY"], START, END, fetch, backoff_seconds=2.0, sleep=sleeps.append)
    assert sleeps == [2.0 * RATE_LIMIT_BACKOFF_MULTIPLIER]
    assert not got.failed and len(got.closes["SPY"]) == 5


def test_a_partial_answer_is_asked_again_and_reported_when_it_stays_partial() -> None:
    partial = FetchAnswer(_truncated(["SPY", "DIA"], "DIA"))
    fetch = ScriptedFetcher([partial])
    got = fetch_closes(["SPY", "DIA"], START, END, fetch, attempts=3, sleep=lambda _: None)
    assert fetch.calls == [["SPY", "DIA"], ["DIA"], ["DIA"]]
    assert list(got.closes) == ["SPY"]
    assert "partial answer" in got.failed["DIA"] and "2024-01-04" in got.failed["DIA"]


def test_the_daemon_feed_keeps_a_partial_answer_with_its_missing_bars_as_nan() -> None:
    feed = YFinanceBarSource(
        ScriptedFetcher([FetchAnswer(_truncated(["SPY", "DIA"], "DIA"))]), backoff_s=0.0
    )
    frame = feed.daily_closes(["SPY", "DIA"], START, END)
    # A missing leg for those sessions (tests/unit/test_feed_missing_legs.py), never a
    # price: the later bars are NaN, not filled.
    assert frame["DIA"].isna().tolist() == [False, False, False, True, True]
    assert frame["SPY"].notna().all()


def test_the_daemon_feed_names_a_ticker_yahoo_does_not_know() -> None:
    answer = FetchAnswer(
        download_frame(["SPY", "NOPE"], failed=("NOPE",)),
        {"NOPE": "YFPricesMissingError('possibly delisted; no price data found')"},
    )
    feed = YFinanceBarSource(ScriptedFetcher([answer]), backoff_s=0.0)
    with pytest.raises(DataError, match=r"NOPE.*delisted") as err:
        feed.daily_closes(["SPY", "NOPE"], START, END)
    assert not isinstance(err.value, StaleFeed)


def test_the_daemon_feed_returns_dated_float_columns_from_a_complete_answer() -> None:
    feed = YFinanceBarSource(ScriptedFetcher([FetchAnswer(download_frame(["DIA", "SPY"]))]))
    frame = feed.daily_closes(["SPY", "DIA"], START, END)
    assert list(frame.columns) == ["SPY", "DIA"] and frame.index[0] == START
    assert frame.dtypes.eq(float).all() and len(frame) == 5
