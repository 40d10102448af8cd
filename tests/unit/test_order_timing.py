"""Alpaca's order windows and the fill session of an order, as pure rules (New York time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from daemon.core.ports import TimeInForce
from daemon.timing.order_timing import bars_final_at, fill_session, sessions_late, window

NY = ZoneInfo("America/New_York")
CLS, OPG, DAY = TimeInForce.CLS, TimeInForce.OPG, TimeInForce.DAY


@dataclass(frozen=True)
class Day:
    session: date
    open: datetime
    close: datetime


def day(d: date, close: time = time(16, 0)) -> Day:
    return Day(d, datetime.combine(d, time(9, 30), NY), datetime.combine(d, close, NY))


# Wed 2024-07-03 closes early (13:00); Thu 07-04 is a holiday; Fri 07-05, Mon 07-08 normal.
WEEK = [
    day(date(2024, 7, 1)),
    day(date(2024, 7, 2)),
    day(date(2024, 7, 3), time(13, 0)),
    day(date(2024, 7, 5)),
    day(date(2024, 7, 8)),
    day(date(2024, 7, 9)),
]


def at(d: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(d, time(hh, mm), NY)


MON, TUE, WED, FRI, SAT, NEXT_MON = (
    date(2024, 7, 1),
    date(2024, 7, 2),
    date(2024, 7, 3),
    date(2024, 7, 5),
    date(2024, 7, 6),
    date(2024, 7, 8),
)


@pytest.mark.parametrize(
    ("now", "is_open", "opens_at", "fills_on"),
    [
        (at(TUE, 10), True, None, TUE),  # before the cut-off: today's close
        (at(TUE, 15, 48), True, None, TUE),
        (at(TUE, 15, 49), False, at(TUE, 19), date(2024, 7, 3)),  # a minute's margin
        (at(TUE, 15, 50), False, at(TUE, 19), date(2024, 7, 3)),  # refused until 19:00
        (at(TUE, 17), False, at(TUE, 19), date(2024, 7, 3)),
        (at(TUE, 18, 59), False, at(TUE, 19), date(2024, 7, 3)),
        (at(TUE, 19), True, None, date(2024, 7, 3)),  # queued for the next session's close
        (at(TUE, 23, 30), True, None, date(2024, 7, 3)),
        (at(WED, 12, 48), True, None, WED),  # early close: the cut-off is 12:50
        (at(WED, 12, 50), False, at(WED, 19), FRI),  # and the next session skips the holiday
        (at(SAT, 12), True, None, NEXT_MON),  # weekends queue for Monday
    ],
)
def test_cls_window_and_fill_session(
    now: datetime, is_open: bool, opens_at: datetime | None, fills_on: date
) -> None:
    found = window(CLS, now, WEEK)
    assert (found.is_open, found.opens_at, found.fill_session) == (is_open, opens_at, fills_on)


@pytest.mark.parametrize(
    ("now", "is_open", "fills_on"),
    [
        (at(TUE, 9, 26), True, TUE),  # the opening auction of today
        (at(TUE, 9, 27), False, WED),  # a minute's margin before Alpaca's 9:28
        (at(TUE, 9, 28), False, WED),
        (at(TUE, 16, 30), False, WED),
        (at(TUE, 19, 0), True, WED),
    ],
)
def test_opg_is_refused_from_9_28_to_19_00(now: datetime, is_open: bool, fills_on: date) -> None:
    found = window(OPG, now, WEEK)
    assert (found.is_open, found.fill_session) == (is_open, fills_on)


def test_day_orders_are_always_taken_and_queue_for_the_next_open_after_the_close() -> None:
    assert window(DAY, at(TUE, 12), WEEK).fill_session == TUE
    evening = window(DAY, at(TUE, 17), WEEK)
    assert evening.is_open and evening.fill_session == WED


def test_a_closed_window_says_when_it_opens_and_when_the_orders_fill() -> None:
    text = window(CLS, at(TUE, 17), WEEK).describe()
    assert "refuses cls orders at 2024-07-02 17:00" in text
    assert "from 2024-07-02 19:00" in text and "2024-07-03" in text


def test_window_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window(CLS, datetime(2024, 7, 2, 17, 0), WEEK)


def test_fill_session_of_an_order_sent_late_on_a_friday_evening_is_monday() -> None:
    assert fill_session(CLS, at(FRI, 20), WEEK) == NEXT_MON
    assert fill_session(CLS, at(date(2024, 7, 9), 20), WEEK) is None  # beyond the calendar


def test_sessions_late_counts_sessions_not_days() -> None:
    assert sessions_late(FRI, WED, WEEK) == 1  # the holiday is not a session
    assert sessions_late(NEXT_MON, TUE, WEEK) == 3
    assert sessions_late(WED, WED, WEEK) == 0
    assert sessions_late(None, WED, WEEK) is None


def test_bars_are_final_after_the_close_plus_the_feed_delay() -> None:
    close = at(TUE, 16)
    assert bars_final_at(close, timedelta(minutes=15)) == at(TUE, 16, 16)
    assert bars_final_at(close, timedelta(0)) == at(TUE, 16, 1)
