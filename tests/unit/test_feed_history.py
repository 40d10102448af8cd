"""Fresh histories a re-adjustment cannot explain: a shift, another series, an unadjusted feed
stop the session; a factor that changes inside the history, a dropped row, a row from the
future and a near-miss ticker are reported. Re-downloads keep working exactly as before."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from daemon.adapters.csv.bars import CsvBarSource, near_matches
from daemon.adapters.csv.events import CsvActions
from daemon.core.errors import HistoryMismatch
from daemon.feeds.bars import merge_bars
from daemon.feeds.reports import is_feed_problem, log_feed_problem
from daemon.feeds.revisions import (
    DEFAULT_TOLERANCE,
    allowed_revisions,
    compare_symbol,
)
from daemon.feeds.sanity import dates_through_today
from daemon.infra.logging import make_logger
from shared.errors import DataError
from tests.unit.daemon_helpers import log_events, make_closes

N = 200
SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]


def _history() -> pd.DataFrame:
    return make_closes(N + 1).round(6)  # six decimals, as the feed prints them


def _noisy(frame: pd.DataFrame, factors: Any, seed: int = 3) -> pd.DataFrame:
    """``frame`` re-anchored by ``factors`` (per column, or per row and column) with the noise
    two real downloads show (up to ~1.4e-6 relative), printed to six decimals: the re-download
    fixture of test_feed_faults."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-1.4e-6, 1.4e-6, frame.shape)
    return (frame * factors * (1 + noise)).round(6)


def _redownload(frame: pd.DataFrame) -> pd.DataFrame:
    return _noisy(frame, np.array([0.9713, 1.0021, 0.25, 1.0]))


def _kinked(
    frame: pd.DataFrame, at: int, before: float = 0.99, after: float = 0.98
) -> pd.DataFrame:
    """AAA re-adjusted by ``before`` up to row ``at`` and by ``after`` from it on (a vendor
    fixing an adjustment it had missed); the others re-downloaded as usual."""
    factors = np.ones(frame.shape)
    factors[:, 0] = np.where(np.arange(len(frame)) < at, before, after)
    return _noisy(frame, factors)


def _shifted(frame: pd.DataFrame, by: int) -> pd.DataFrame:
    """Every close dated ``by`` sessions later (earlier when negative), as a time-zone bug in a
    vendor does; the rows at the edge keep the nearest close."""
    return frame.shift(by).bfill().ffill()


def _merge(stored: pd.DataFrame, fresh: pd.DataFrame, tolerance: float = DEFAULT_TOLERANCE) -> Any:
    days = list(fresh.index)
    return merge_bars(stored, fresh, SYMBOLS, days[-1], days, tolerance, "feed")


def _stored() -> pd.DataFrame:
    return _history().iloc[:N]


# --- what keeps working as before ------------------------------------------------------------


def test_a_redownload_is_one_factor_per_ticker_with_no_revision_and_no_stop() -> None:
    fresh = _redownload(_history())
    update = _merge(_stored(), fresh)
    for symbol, want in zip(SYMBOLS, [0.9713, 1.0021, 0.25, 1.0], strict=True):
        found = update.comparisons[symbol]
        assert not found.restated and not found.changes and found.mismatch is None
        # exactly the median of fresh/stored over the overlap, as before
        ratio = fresh[symbol].iloc[:N] / _stored()[symbol]
        median = float(np.median(ratio))
        assert found.factor == (1.0 if abs(median - 1) <= DEFAULT_TOLERANCE else median)
        assert found.factor == pytest.approx(want, rel=1e-5)
    assert update.dropped == [] and update.late_filled == []


def test_a_few_restated_bars_are_reported_and_never_stop() -> None:
    fresh = _redownload(_history())
    restated = [10, 50, 51, 120, 180]  # up to the floor of allowed revisions
    for k, i in enumerate(restated):
        fresh.iloc[i, 1] *= 1.03 + 0.01 * k
    update = _merge(_stored(), fresh)
    found = update.comparisons["BBB"]
    assert sorted(found.restated) == [fresh.index[i] for i in restated]
    assert not found.changes and found.mismatch is None
    assert found.factor == pytest.approx(1.0021, rel=1e-5)


def test_noise_beyond_a_too_tight_tolerance_is_restated_bars_not_a_stop() -> None:
    fresh = _redownload(_history())
    found = compare_symbol(_stored()["AAA"], fresh["AAA"], 1e-7, "AAA")
    assert len(found.restated) > allowed_revisions(N)  # nothing explains it at 1e-7 ...
    assert found.mismatch is None  # ... but it is noise, not another series


def test_a_bad_restatement_of_the_last_stored_bar_keeps_the_factor_of_the_rest() -> None:
    fresh = _redownload(_history())
    fresh.iloc[N - 1, 0] *= 100
    update = _merge(_stored(), fresh)
    assert list(update.comparisons["AAA"].restated) == [fresh.index[N - 1]]
    assert update.comparisons["AAA"].factor == pytest.approx(0.9713, rel=1e-5)


# --- a factor that changes inside the history ------------------------------------------------


@pytest.mark.parametrize("at", [60, N - 2], ids=["mid-history", "last-two-sessions"])
def test_a_kink_uses_the_factor_at_the_end_and_reports_the_change(at: int) -> None:
    history = _history()
    fresh = _kinked(history, at)
    update = _merge(_stored(), fresh)
    found = update.comparisons["AAA"]
    assert found.mismatch is None and not found.restated
    assert found.factor == pytest.approx(0.98, rel=1e-5)
    [change] = found.changes
    assert change.session == history.index[at]
    assert (change.before, change.after) == (pytest.approx(0.99, rel=1e-5), pytest.approx(0.98))
    # the new bar continues the stored history: the step never enters it
    new = update.strategy_closes.at[history.index[N], "AAA"]
    assert new == pytest.approx(history.iat[N, 0], rel=1e-5)


def test_three_factor_changes_are_still_explained_four_are_not() -> None:
    history = _history()
    steps = np.ones(len(history))
    for k, at in enumerate([40, 80, 120, 160]):
        steps[at:] *= 1.01 ** (1 if k % 2 else -1)
    three = _noisy(history[["AAA"]], np.where(np.arange(N + 1) < 160, steps, steps[159])[:, None])
    found = compare_symbol(_stored()["AAA"], three["AAA"], DEFAULT_TOLERANCE, "AAA")
    assert len(found.changes) == 3 and found.mismatch is None
    four = _noisy(history[["AAA"]], steps[:, None])
    found = compare_symbol(_stored()["AAA"], four["AAA"], DEFAULT_TOLERANCE, "AAA")
    assert found.mismatch is not None and "changes 4 times" in found.mismatch


# --- histories that are not the stored one ---------------------------------------------------


@pytest.mark.parametrize(
    ("by", "words"),
    [
        (1, "shifted by one session: each stored close is dated one session later"),
        (-1, "shifted by one session: each stored close is dated one session earlier"),
        (2, "shifted by two sessions: each stored close is dated two sessions later"),
        (-2, "shifted by two sessions: each stored close is dated two sessions earlier"),
    ],
)
def test_a_shifted_feed_stops_before_anything_is_stored_naming_the_shift(
    by: int, words: str
) -> None:
    stored = _stored()
    fresh = _redownload(_shifted(_history(), by))
    with pytest.raises(HistoryMismatch) as err:
        _merge(stored, fresh)
    message = str(err.value)
    assert f"fresh AAA equals the stored bars {words}" in message
    assert "fresh DDD equals the stored bars" in message  # every symbol is named
    assert "pairs-daemon rewarm" in message and "Nothing stored or traded" in message
    assert err.value.symbol == "AAA" and err.value.session == fresh.index[-1].isoformat()
    assert isinstance(err.value, DataError) and is_feed_problem(err.value)


def test_another_series_under_a_ticker_stops_naming_it() -> None:
    fresh = _redownload(_history())
    fresh["BBB"] = _history()["DDD"] * 0.6  # another ticker's closes in BBB's column
    with pytest.raises(HistoryMismatch) as err:
        _merge(_stored(), fresh)
    message = str(err.value)
    assert "fresh BBB is not the stored history re-adjusted" in message
    assert "no shift by one or two sessions explains it: another series under BBB?" in message
    assert err.value.symbol == "BBB" and "AAA" not in message


def test_many_gross_restatements_stop_a_few_do_not() -> None:
    history = _history()
    fresh = _redownload(history)
    allowed = allowed_revisions(N)
    rows = np.random.default_rng(5).choice(N, allowed + 1, replace=False)
    for k, i in enumerate(rows[:allowed]):  # each by its own size: no two agree on a factor
        fresh.iloc[i, 2] *= 1.05 + 0.01 * k
    assert _merge(_stored(), fresh).comparisons["CCC"].mismatch is None
    fresh.iloc[rows[allowed], 2] *= 1.5
    with pytest.raises(HistoryMismatch, match=rf"{allowed + 1} of {N} stored sessions differ"):
        _merge(_stored(), fresh)


def test_the_mismatch_event_and_the_feed_problem() -> None:
    logs = io.StringIO()
    exc = HistoryMismatch("csv: fresh AAA ...", symbol="AAA", session="2023-10-24")
    log_feed_problem(make_logger("json", logs), exc)
    [event] = log_events(logs)
    assert event["event"] == "history_mismatch" and event["level"] == "error"
    assert event["symbol"] == "AAA" and event["bar_session"] == "2023-10-24"


# --- dropped rows, rows from the future ------------------------------------------------------


def test_a_stored_session_deleted_from_the_feed_is_reported() -> None:
    fresh = _redownload(_history())
    gone = fresh.index[77]
    update = _merge(_stored(), fresh.drop(index=gone))
    assert update.dropped == [gone]
    assert gone in update.strategy_closes.index  # the stored bar stays


def test_rows_after_today_are_never_sessions_and_are_named_once_a_day() -> None:
    dates = [date(2025, 3, 18), date(2025, 3, 19), date(2030, 1, 2)]
    today = [date(2025, 3, 20)]
    logs = io.StringIO()
    current = dates_through_today(lambda: dates, lambda: today[0], "price file p.csv", None)
    assert current() == dates[:2]  # without a log: nothing said
    current = dates_through_today(
        lambda: dates, lambda: today[0], "price file p.csv", make_logger("json", logs)
    )
    assert current() == dates[:2] and current() == dates[:2]
    today[0] = date(2025, 3, 21)
    assert current() == dates[:2]
    events = log_events(logs)
    assert [e["event"] for e in events] == ["bar_refused", "bar_refused"]  # once a day
    assert events[0]["level"] == "warning" and events[0]["sessions"] == ["2030-01-02"]
    assert "after today (2025-03-20): 2030-01-02" in events[0]["error"]
    assert "its real session is missing too" in events[0]["error"]


# --- ticker names ----------------------------------------------------------------------------


def test_near_matches_are_case_and_surrounding_spaces_only() -> None:
    names = ["dia", " DIA ", "DIA2", "DI A", "DIA"]
    assert near_matches("DIA", names) == ["dia", " DIA "]
    assert near_matches("SPY", names) == []


@pytest.mark.parametrize(
    ("columns", "hint"),
    [
        (["aaa", "BBB"], "has no column for AAA, but 'aaa': rename that column to AAA"),
        (["AAA ", "BBB"], "has no column for AAA, but 'AAA ': rename that column to AAA"),
        (["aaa", "Aaa", "BBB"], "but 'aaa' and 'Aaa': keep one column named AAA"),
    ],
)
def test_a_price_column_that_is_a_ticker_but_for_case_or_spaces_is_named(
    tmp_path: Path, columns: list[str], hint: str
) -> None:
    path = tmp_path / "p.csv"
    frame = pd.DataFrame(
        np.ones((3, len(columns))), index=_history().index[:3], columns=columns
    ).rename_axis("date")
    frame.to_csv(path)
    with pytest.raises(DataError) as err:
        CsvBarSource(path).daily_closes(["AAA", "BBB"], date(2023, 1, 1), date(2023, 12, 31))
    assert hint in str(err.value) and "missing leg" not in str(err.value)
    assert err.value.symbol == "AAA"


def test_a_price_file_without_the_ticker_at_all_is_still_a_missing_leg(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    pd.DataFrame({"BBB": [1.0]}, index=_history().index[:1]).rename_axis("date").to_csv(path)
    with pytest.raises(DataError, match=r"has no column for AAA \(a missing leg\)"):
        CsvBarSource(path).daily_closes(["AAA", "BBB"], date(2023, 1, 1), date(2023, 12, 31))


HEADER = "symbol,type,ex_date,ratio,amount,payable_date\n"


def _events(tmp_path: Path, body: str) -> CsvActions:
    path = tmp_path / "events.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    return CsvActions(path)


def test_an_event_for_a_ticker_in_another_case_is_refused_naming_the_line(tmp_path: Path) -> None:
    source = _events(tmp_path, "BBB,split,2024-01-10,2:1,,\naaa,split,2024-03-04,2:1,,\n")
    with pytest.raises(DataError) as err:
        source.corporate_actions(["AAA", "BBB"], date(2024, 1, 1), date(2024, 12, 31))
    message = str(err.value)
    assert f"events file {source.path}, line 3, column symbol" in message
    assert "'aaa' is not a traded ticker, but AAA is: write AAA" in message
    # a symbol nobody trades is no business of this config
    assert source.corporate_actions(["BBB"], date(2024, 1, 1), date(2024, 12, 31))


@pytest.mark.parametrize("cell", ["AAA ", " AAA"])
def test_an_event_symbol_with_spaces_around_it_is_refused(tmp_path: Path, cell: str) -> None:
    source = _events(tmp_path, f"{cell},split,2024-03-04,2:1,,\n")
    with pytest.raises(DataError) as err:
        source.corporate_actions(["AAA"], date(2024, 1, 1), date(2024, 12, 31))
    message = str(err.value)
    assert f"line 2, column symbol: {cell!r} has spaces around it; write 'AAA'" in message
