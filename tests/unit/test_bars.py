"""Bar validation: every kind of bad bar stops the session with an error naming it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from daemon.adapters.csv.bars import CsvBarSource
from daemon.feeds.bars import merge_bars, validate_closes
from daemon.timing.sessions import xnys_sessions
from shared.errors import DataError

SYMBOLS = ["AAA", "BBB"]
SESSIONS = xnys_sessions(date(2024, 11, 25), date(2024, 12, 3))  # Thanksgiving week


def _frame(rows: dict[date, tuple[float, float]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index", columns=SYMBOLS)


def _good() -> pd.DataFrame:
    return _frame({d: (10.0 + i, 20.0 + i) for i, d in enumerate(SESSIONS)})


def _merge(fresh: pd.DataFrame, session: date = SESSIONS[-1]) -> object:
    empty = pd.DataFrame(columns=SYMBOLS, dtype=float)
    return merge_bars(empty, fresh, SYMBOLS, session, SESSIONS, 1e-6, "feed")


def test_good_bars_pass_and_come_back_sorted() -> None:
    frame = _good().iloc[::-1]
    out = validate_closes(frame, SYMBOLS, SESSIONS, "feed")
    assert list(out.index) == SESSIONS


def test_a_nan_close_is_a_missing_leg_marked_at_its_last_close() -> None:
    frame = _good()
    frame.loc[SESSIONS[-1], "BBB"] = np.nan
    update = _merge(frame)
    assert update.missing == ("BBB",)  # type: ignore[attr-defined]
    assert np.isnan(update.strategy_closes.at[SESSIONS[-1], "BBB"])  # type: ignore[attr-defined]
    last_good = 20.0 + len(SESSIONS) - 2
    assert update.real_closes == {"AAA": 10.0 + len(SESSIONS) - 1, "BBB": last_good}  # type: ignore[attr-defined]


def test_a_missing_leg_with_no_close_ever_names_symbol_and_session() -> None:
    frame = _good()
    frame["BBB"] = np.nan
    frame.loc[SESSIONS[0], "AAA"] = 10.0
    with pytest.raises(DataError, match="BBB") as err:
        _merge(frame)
    assert err.value.symbol == "BBB" and err.value.session == SESSIONS[-1].isoformat()


def test_a_session_with_no_close_at_all_is_refused_naming_it() -> None:
    frame = _good()
    frame.loc[SESSIONS[2]] = np.nan
    with pytest.raises(DataError, match="no close for any symbol") as err:
        _merge(frame)
    assert err.value.session == SESSIONS[2].isoformat()


def test_non_positive_close_names_symbol_and_session() -> None:
    frame = _good()
    frame.loc[SESSIONS[1], "AAA"] = 0.0
    with pytest.raises(DataError, match=r"implausible close 0\.0") as err:
        _merge(frame)
    assert err.value.symbol == "AAA" and err.value.session == SESSIONS[1].isoformat()


def test_duplicated_date_is_refused() -> None:
    frame = pd.concat([_good(), _good().iloc[[3]]])
    with pytest.raises(DataError, match="more than once") as err:
        _merge(frame)
    assert err.value.session == SESSIONS[3].isoformat()


def test_a_missing_xnys_session_is_refused() -> None:
    frame = _good().drop(index=SESSIONS[2])
    with pytest.raises(DataError, match="missing") as err:
        _merge(frame)
    assert err.value.session == SESSIONS[2].isoformat()


def test_a_missing_leg_is_refused() -> None:
    frame = _good().drop(columns=["BBB"])
    with pytest.raises(DataError, match="missing leg") as err:
        _merge(frame)
    assert err.value.symbol == "BBB"


def test_a_stale_feed_has_no_bar_for_the_requested_session() -> None:
    frame = _good().iloc[:-1]
    with pytest.raises(DataError, match="stale") as err:
        _merge(frame)
    assert err.value.session == SESSIONS[-1].isoformat()


def test_csv_feed_reads_a_wide_file_and_names_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    _good().rename_axis("date").to_csv(path)
    feed = CsvBarSource(path)
    assert feed.sessions() == SESSIONS
    got = feed.daily_closes(SYMBOLS, SESSIONS[1], SESSIONS[2])
    assert list(got.index) == SESSIONS[1:3]
    with pytest.raises(DataError, match="ZZZ"):
        feed.daily_closes(["ZZZ"], SESSIONS[0], SESSIONS[-1])


@pytest.mark.network
def test_yfinance_feed_returns_dated_float_columns() -> None:
    from daemon.adapters.yfinance.bars import YFinanceBarSource

    frame = YFinanceBarSource().daily_closes(["SPY", "QQQ"], date(2024, 11, 25), date(2024, 12, 3))
    out = validate_closes(frame, ["SPY", "QQQ"], SESSIONS, "yfinance")
    assert list(out.index) == SESSIONS and (out > 0).all().all()
