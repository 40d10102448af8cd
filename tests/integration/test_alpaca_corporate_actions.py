"""AlpacaCorporateActions over real HTTP: the local server's ``GET /v1/corporate-actions``,
built the way the daemon builds it (``build_alpaca_actions`` / ``build_actions``), paged, with
Alpaca's failures as the project's errors and the keys kept out of them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from daemon.adapters.alpaca.corporate_actions import AlpacaCorporateActions
from daemon.adapters.alpaca.errors import AlpacaAuthError, AlpacaUnavailableError
from daemon.adapters.alpaca.factory import build_alpaca_actions
from daemon.adapters.registry import build_actions
from daemon.config.settings import AlpacaSettings, DaemonSettings, DataSettings
from daemon.core.corporate_actions import ActionKind, CorporateAction
from shared.errors import DataError
from tests.alpaca_server.harness import SLOW_ANSWER_S, Harness, running_harness
from tests.alpaca_server.state import Fault

PATH = "/v1/corporate-actions"
START, END = date(2024, 1, 1), date(2024, 12, 31)


@pytest.fixture
def harness() -> Iterator[Harness]:
    with running_harness(actions_page_size=2) as h:
        h.book.add_split("AAA", date(2024, 3, 4), 2.0)
        h.book.add_split("BBB", date(2024, 5, 6), 0.25)
        h.book.add_dividend("AAA", date(2024, 6, 14), 0.485, date(2024, 7, 1))
        h.book.add_dividend("BBB", date(2024, 9, 3), 1.25)
        h.book.add_split("CCC", date(2024, 4, 1), 1.5)  # not asked for
        yield h


def _source(harness: Harness) -> AlpacaCorporateActions:
    return build_alpaca_actions(harness.env, harness.settings, retry=harness.retry)


def _requests(harness: Harness) -> list[dict[str, str]]:
    return [p for _, path, p in harness.book.requests if path == PATH]


def test_splits_reverse_splits_and_dividends_in_the_projects_conventions(
    harness: Harness,
) -> None:
    got = _source(harness).corporate_actions(["AAA", "BBB"], START, END)
    assert sorted(got, key=lambda a: a.ex_date) == [
        CorporateAction("AAA", ActionKind.SPLIT, date(2024, 3, 4), ratio=2.0, source="alpaca"),
        CorporateAction("BBB", ActionKind.SPLIT, date(2024, 5, 6), ratio=0.25, source="alpaca"),
        CorporateAction(
            "AAA",
            ActionKind.DIVIDEND,
            date(2024, 6, 14),
            amount=0.485,
            payable_date=date(2024, 7, 1),
            source="alpaca",
        ),
        CorporateAction(
            "BBB",
            ActionKind.DIVIDEND,
            date(2024, 9, 3),
            amount=1.25,
            payable_date=date(2024, 9, 3),
            source="alpaca",
        ),
    ]


def test_every_page_is_read_with_the_symbols_types_and_inclusive_range(harness: Harness) -> None:
    got = _source(harness).corporate_actions(["AAA", "BBB"], START, END)
    assert len(got) == 4
    sent = _requests(harness)
    assert len(sent) == 2  # four events, two per page
    assert [("page_token" in p) for p in sent] == [False, True]
    first = sent[0]
    assert first["symbols"] == "AAA,BBB"
    assert set(first["types"].split(",")) == {"forward_split", "reverse_split", "cash_dividend"}
    assert (first["start"], first["end"]) == ("2024-01-01", "2024-12-31")
    on_the_day = _source(harness).corporate_actions(["AAA"], date(2024, 3, 4), date(2024, 6, 14))
    assert [a.ex_date for a in sorted(on_the_day, key=lambda a: a.ex_date)] == [
        date(2024, 3, 4),
        date(2024, 6, 14),
    ]


def test_no_events_in_range_is_an_empty_list(harness: Harness) -> None:
    assert _source(harness).corporate_actions(["AAA"], date(2025, 1, 1), date(2025, 6, 30)) == []


def test_a_server_error_on_a_later_page_refetches_under_the_retry_policy(
    harness: Harness,
) -> None:
    harness.server.inject(Fault("GET", PATH, status=500, after=1))
    got = _source(harness).corporate_actions(["AAA", "BBB"], START, END)
    assert len(got) == 4 and harness.sleeps == [0.5]


def test_a_timeout_is_retried_and_an_outage_is_unavailable_naming_the_symbols(
    harness: Harness,
) -> None:
    harness.server.inject(Fault("GET", PATH, delay_s=SLOW_ANSWER_S))
    assert len(_source(harness).corporate_actions(["AAA", "BBB"], START, END)) == 4
    assert harness.sleeps == [0.5]  # the slow answer timed out once, then was asked again
    harness.server.inject(Fault("GET", PATH, status=503, times=99))
    with pytest.raises(AlpacaUnavailableError, match="corporate actions for AAA, BBB") as info:
        _source(harness).corporate_actions(["AAA", "BBB"], START, END)
    assert info.value.retryable


def test_refused_keys_stop_at_once_without_retries_or_the_secret(harness: Harness) -> None:
    source = _source(harness)
    secret = harness.book.secret_key
    harness.book.secret_key = "rotated-secret"
    with pytest.raises(AlpacaAuthError, match="APCA_API_KEY_ID") as info:
        source.corporate_actions(["AAA"], START, END)
    assert info.value.status == 401 and harness.sleeps == []
    assert secret not in str(info.value) and secret not in repr(source)


def test_bad_range_is_refused_before_any_request(harness: Harness) -> None:
    with pytest.raises(DataError, match="before it starts"):
        _source(harness).corporate_actions(["AAA"], END, START)
    assert _source(harness).corporate_actions([], START, END) == []
    assert _requests(harness) == []


def test_the_alpaca_feed_gets_alpacas_corporate_actions_from_its_data_url(
    harness: Harness,
) -> None:
    settings = DaemonSettings(
        data=DataSettings(feed="alpaca"),
        alpaca=AlpacaSettings(data_url=harness.server.url, timeout_s=harness.timeout_s),
    )
    env = {k: v for k, v in harness.env.items() if k != "APCA_API_DATA_URL"}
    source = build_actions(settings, env)
    assert isinstance(source, AlpacaCorporateActions)
    assert len(source.corporate_actions(["BBB"], START, END)) == 2
