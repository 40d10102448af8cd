"""XNYS session helpers: holidays, neighbours, early closes, aware datetimes."""

from __future__ import annotations

from datetime import UTC, date, datetime

from daemon.timing.sessions import (
    is_early_close,
    is_session,
    next_session,
    previous_session,
    session_close,
    xnys_sessions,
)


def test_thanksgiving_is_not_a_session_and_the_day_after_closes_early() -> None:
    assert not is_session(date(2024, 11, 28))
    assert is_session(date(2024, 11, 29))
    assert is_early_close(date(2024, 11, 29))
    assert session_close(date(2024, 11, 29)) == datetime(2024, 11, 29, 18, 0, tzinfo=UTC)
    assert session_close(date(2024, 11, 27)) == datetime(2024, 11, 27, 21, 0, tzinfo=UTC)


def test_sessions_between_dates_skip_weekends_and_holidays() -> None:
    got = xnys_sessions(date(2024, 11, 27), date(2024, 12, 2))
    assert got == [date(2024, 11, 27), date(2024, 11, 29), date(2024, 12, 2)]
    assert xnys_sessions(date(2024, 12, 2), date(2024, 11, 27)) == []


def test_neighbours_work_from_non_session_days() -> None:
    assert previous_session(date(2024, 11, 29)) == date(2024, 11, 27)
    assert next_session(date(2024, 11, 27)) == date(2024, 11, 29)
    assert previous_session(date(2024, 12, 1)) == date(2024, 11, 29)  # a Sunday
    assert next_session(date(2024, 12, 25)) == date(2024, 12, 26)
