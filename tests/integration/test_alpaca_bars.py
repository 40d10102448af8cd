"""AlpacaBars over real HTTP: adjusted IEX daily bars, paged, as one frame of closes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import numpy as np
import pytest

from daemon.adapters.alpaca.errors import AlpacaUnavailableError
from shared.errors import ConfigError, DataError
from tests.alpaca_server.harness import Harness, running_harness
from tests.alpaca_server.state import Fault

SESSIONS = [date(2024, 1, 2) + timedelta(days=n) for n in range(10)]
SESSIONS = [d for d in SESSIONS if d.weekday() < 5]


@pytest.fixture
def harness() -> Iterator[Harness]:
    with running_harness(bars_page_size=3) as h:
        h.book.add_bars("AAA", {d: 100.0 + i for i, d in enumerate(SESSIONS)})
        h.book.add_bars("BBB", {d: 50.0 - i / 4 for i, d in enumerate(SESSIONS) if i != 2})
        yield h


def bar_requests(harness: Harness) -> list[dict[str, str]]:
    return [p for m, path, p in harness.book.requests if path == "/v2/stocks/bars"]


def test_closes_frame_has_session_index_and_one_column_per_symbol(harness: Harness) -> None:
    frame = harness.bars().daily_closes(["BBB", "AAA"], SESSIONS[0], SESSIONS[-1])
    assert list(frame.columns) == ["BBB", "AAA"]
    assert list(frame.index) == SESSIONS  # datetime.date objects, like the other sources
    assert all(type(d) is date for d in frame.index)
    assert frame.index.is_monotonic_increasing
    assert (frame.dtypes == np.float64).all()
    assert frame["AAA"].tolist() == [100.0 + i for i in range(len(SESSIONS))]
    assert np.isnan(frame["BBB"].iloc[2])  # the missing bar is NaN for validation to name


def test_all_pages_are_fetched_with_adjustment_all_and_the_iex_feed(harness: Harness) -> None:
    harness.bars().daily_closes(["AAA", "BBB"], SESSIONS[0], SESSIONS[-1])
    sent = bar_requests(harness)
    assert len(sent) == 5  # 15 bars, 3 per page
    assert {(p["adjustment"], p["feed"], p["timeframe"]) for p in sent} == {("all", "iex", "1Day")}
    assert [("page_token" in p) for p in sent] == [False, True, True, True, True]


def test_feed_setting_reaches_the_request(harness: Harness) -> None:
    harness.bars(feed="sip").daily_closes(["AAA"], SESSIONS[0], SESSIONS[0])
    assert bar_requests(harness)[-1]["feed"] == "sip"


def test_range_is_inclusive_of_both_ends(harness: Harness) -> None:
    frame = harness.bars().daily_closes(["AAA"], SESSIONS[1], SESSIONS[3])
    assert list(frame.index) == SESSIONS[1:4]


def test_symbol_without_bars_is_an_all_nan_column(harness: Harness) -> None:
    frame = harness.bars().daily_closes(["AAA", "ZZZ"], SESSIONS[0], SESSIONS[-1])
    assert frame["ZZZ"].isna().all() and len(frame) == len(SESSIONS)


def test_server_error_on_a_later_page_refetches_under_the_retry_policy(harness: Harness) -> None:
    harness.server.inject(Fault("GET", "/v2/stocks/bars", status=500, after=2))
    frame = harness.bars().daily_closes(["AAA", "BBB"], SESSIONS[0], SESSIONS[-1])
    assert frame["AAA"].notna().all()
    assert harness.sleeps == [0.5]


def test_outage_is_unavailable_naming_the_symbols(harness: Harness) -> None:
    harness.server.inject(Fault("GET", "/v2/stocks/bars", status=503, times=99))
    with pytest.raises(AlpacaUnavailableError, match="daily bars for AAA, BBB"):
        harness.bars().daily_closes(["AAA", "BBB"], SESSIONS[0], SESSIONS[-1])


def test_bad_arguments_are_refused_before_any_request(harness: Harness) -> None:
    bars = harness.bars()
    with pytest.raises(DataError, match="before it starts"):
        bars.daily_closes(["AAA"], SESSIONS[3], SESSIONS[0])
    with pytest.raises(DataError, match="no symbols"):
        bars.daily_closes([], SESSIONS[0], SESSIONS[3])
    assert bar_requests(harness) == []


def test_unknown_feed_is_a_config_error(harness: Harness) -> None:
    with pytest.raises(ConfigError, match="unknown Alpaca feed 'nasdaq'"):
        harness.bars(feed="nasdaq")
