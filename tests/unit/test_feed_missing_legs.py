"""One short ticker never stops the yfinance feed: a ticker with no bar for the requested
session while the others have one is a missing leg (its pairs hold, the others trade); no
ticker with the session is a stale feed; a ticker with no data at all is an error naming it.
Recorded yfinance frames, no network."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from daemon.adapters.yfinance.bars import YFinanceBarSource
from daemon.core.errors import StaleFeed
from daemon.feeds.bars import BarUpdate, merge_bars
from daemon.timing.sessions import xnys_sessions
from shared.adapters.yahoo import FetchAnswer
from shared.errors import DataError
from tests.fixtures.yfinance_frames import CLOSES, download_frame
from tests.unit.test_yahoo_adapter import ScriptedFetcher

SYMBOLS = ["SPY", "DIA", "QQQ"]
START, END = date(2024, 1, 2), date(2024, 1, 8)  # the recorded frames' five sessions
SESSIONS = xnys_sessions(START, END)


def _short(frame: pd.DataFrame, ticker: str, sessions: int) -> pd.DataFrame:
    """``ticker``'s last ``sessions`` bars missing while the others have them."""
    frame = frame.copy()
    frame.loc[frame.index[-sessions:], (slice(None), ticker)] = float("nan")
    return frame


def _merge(fresh: pd.DataFrame, session: date = END) -> BarUpdate:
    empty = pd.DataFrame(columns=SYMBOLS, dtype=float)
    expected = xnys_sessions(START, session)
    return merge_bars(empty, fresh, SYMBOLS, session, expected, 1e-5, "yfinance")


def test_a_ticker_short_of_the_last_session_is_a_missing_leg_for_that_session() -> None:
    short = FetchAnswer(_short(download_frame(SYMBOLS), "DIA", 1))
    fetch = ScriptedFetcher([short])
    frame = YFinanceBarSource(fetch, attempts=2, backoff_s=0.0).daily_closes(SYMBOLS, START, END)
    assert fetch.calls == [SYMBOLS, ["DIA"]]  # asked again before giving up on it
    assert list(frame.index) == SESSIONS and list(frame.columns) == SYMBOLS
    assert frame["DIA"].iloc[:-1].tolist() == CLOSES["DIA"][:-1]
    assert frame["DIA"].isna().tolist() == [False] * 4 + [True]
    update = _merge(frame)
    assert update.missing == ("DIA",)  # DIA's pairs hold; SPY and QQQ trade
    assert update.real_closes["DIA"] == CLOSES["DIA"][-2]  # marked at its last close
    assert update.real_closes["SPY"] == CLOSES["SPY"][-1]


def test_a_ticker_two_sessions_short_is_missing_on_both() -> None:
    fetch = ScriptedFetcher([FetchAnswer(_short(download_frame(SYMBOLS), "QQQ", 2))])
    frame = YFinanceBarSource(fetch, attempts=1).daily_closes(SYMBOLS, START, END)
    assert frame["QQQ"].isna().tolist() == [False] * 3 + [True] * 2
    update = _merge(frame)
    assert update.missing == ("QQQ",)
    assert update.strategy_closes["QQQ"].isna().tolist() == [False] * 3 + [True] * 2


def test_a_short_ticker_that_catches_up_on_a_retry_is_complete() -> None:
    answers = [FetchAnswer(_short(download_frame(SYMBOLS), "DIA", 1))]
    answers.append(FetchAnswer(download_frame(["DIA"])))
    frame = YFinanceBarSource(ScriptedFetcher(answers), backoff_s=0.0).daily_closes(
        SYMBOLS, START, END
    )
    assert frame.notna().all().all() and _merge(frame).missing == ()


def test_no_ticker_with_the_requested_session_is_a_stale_feed() -> None:
    late = date(2024, 1, 9)  # a session nobody has yet
    fetch = ScriptedFetcher([FetchAnswer(_short(download_frame(SYMBOLS), "DIA", 1))])
    frame = YFinanceBarSource(fetch, attempts=1).daily_closes(SYMBOLS, START, late)
    with pytest.raises(StaleFeed, match="no bar for session 2024-01-09"):
        _merge(frame, late)


def test_a_ticker_with_no_data_at_all_is_an_error_naming_it() -> None:
    answer = FetchAnswer(
        _short(download_frame(SYMBOLS, failed=("QQQ",)), "DIA", 1),
        {"QQQ": "YFPricesMissingError('possibly delisted; no price data found')"},
    )
    feed = YFinanceBarSource(ScriptedFetcher([answer]), attempts=1)
    with pytest.raises(DataError, match=r"no bars at all for QQQ.*delisted") as err:
        feed.daily_closes(SYMBOLS, START, END)
    assert err.value.symbol == "QQQ" and not isinstance(err.value, StaleFeed)


def test_a_symbol_the_feed_no_longer_sends_is_marked_at_its_stored_close_on_the_feed_scale() -> (
    None
):
    """Alpaca after a rename answers nothing for the old symbol: it is a missing leg marked at
    its last stored close times the known fresh/stored factor, which it keeps."""
    stored = pd.DataFrame(
        {s: CLOSES[s][:4] for s in SYMBOLS}, index=SESSIONS[:4], dtype=float
    )  # the first four sessions were stored; DIA's scale has since doubled (a 1:2 adjustment)
    fresh = stored.copy()
    fresh.loc[END] = [CLOSES[s][4] for s in SYMBOLS]
    fresh["DIA"] = float("nan")  # nothing at all for DIA
    update = merge_bars(
        stored, fresh, SYMBOLS, END, SESSIONS, 1e-5, "alpaca", known_factors={"DIA": 2.0}
    )
    assert update.missing == ("DIA",)
    assert update.real_closes["DIA"] == CLOSES["DIA"][3] * 2.0
    assert update.factors == {"DIA": 2.0}  # not reset to 1.0 for lack of bars to compare
    without = merge_bars(stored, fresh, SYMBOLS, END, SESSIONS, 1e-5, "alpaca")
    assert without.real_closes["DIA"] == CLOSES["DIA"][3] and without.factors == {}


def test_a_symbol_with_no_close_anywhere_is_still_an_error_naming_it() -> None:
    fresh = pd.DataFrame({s: CLOSES[s] for s in SYMBOLS}, index=SESSIONS, dtype=float)
    fresh["QQQ"] = float("nan")
    with pytest.raises(DataError, match=r"no close for QQQ .*Check the symbol"):
        _merge(fresh)
