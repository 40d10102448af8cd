"""The local Alpaca server applies corporate actions the way Alpaca does: positions, cash and
adjusted bars change as its clock passes an ex-date, and alpaca-py's real clients read the
corporate-actions endpoint and the adjusted history over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, time

import pytest
import requests
from alpaca.data.enums import CorporateActionsType
from alpaca.data.historical.corporate_actions import CorporateActionsClient
from alpaca.data.models.corporate_actions import CashDividend, ForwardSplit, ReverseSplit
from alpaca.data.requests import CorporateActionsRequest

from tests.alpaca_server.harness import Harness, running_harness

# The book's clock starts the evening of Tuesday 2024-01-02.
D1, D2, D3, D4, D5 = (date(2024, 1, d) for d in (2, 3, 4, 5, 8))


@pytest.fixture
def harness() -> Iterator[Harness]:
    with running_harness(actions_page_size=2) as h:
        yield h


def actions_client(harness: Harness) -> CorporateActionsClient:
    return CorporateActionsClient(
        harness.book.key_id, harness.book.secret_key, url_override=harness.server.url
    )


def announce_events(harness: Harness) -> None:
    book = harness.book
    book.add_split("AAA", D3, 2.0)
    book.add_split("BBB", D4, 0.25)
    book.add_dividend("AAA", D2, 0.5, payable_date=D5)
    book.add_dividend("CCC", D5, 0.1)
    book.add_split("CCC", date(2024, 2, 1), 1.5)


def test_alpaca_py_parses_every_event_type_across_pages(harness: Harness) -> None:
    announce_events(harness)
    request = CorporateActionsRequest(start=D1, end=date(2024, 3, 1))
    found = actions_client(harness).get_corporate_actions(request).data
    forward = found["forward_splits"]
    assert all(isinstance(a, ForwardSplit) for a in forward)
    assert [(a.symbol, a.ex_date, a.new_rate, a.old_rate) for a in forward] == [
        ("AAA", D3, 2.0, 1.0),
        ("CCC", date(2024, 2, 1), 3.0, 2.0),
    ]
    (reverse,) = found["reverse_splits"]
    assert isinstance(reverse, ReverseSplit)
    assert (reverse.symbol, reverse.new_rate, reverse.old_rate) == ("BBB", 1.0, 4.0)
    assert reverse.old_cusip != reverse.new_cusip
    dividends = found["cash_dividends"]
    assert all(isinstance(a, CashDividend) for a in dividends)
    assert [(a.symbol, a.rate, a.ex_date, a.payable_date) for a in dividends] == [
        ("AAA", 0.5, D2, D5),
        ("CCC", 0.1, D5, D5),
    ]
    pages = [p for _, path, p in harness.book.requests if path == "/v1/corporate-actions"]
    assert len(pages) == 3  # five events, two per page


def test_endpoint_filters_by_symbols_types_and_ex_date_range(harness: Harness) -> None:
    announce_events(harness)
    client = actions_client(harness)
    by_symbol = client.get_corporate_actions(
        CorporateActionsRequest(symbols=["AAA"], start=D1, end=date(2024, 3, 1))
    ).data
    assert {k: [a.symbol for a in v] for k, v in by_symbol.items()} == {
        "forward_splits": ["AAA"],
        "cash_dividends": ["AAA"],
    }
    by_type = client.get_corporate_actions(
        CorporateActionsRequest(
            types=[CorporateActionsType.REVERSE_SPLIT, CorporateActionsType.CASH_DIVIDEND],
            start=D3,
            end=D4,
        )
    ).data
    assert {k: [a.symbol for a in v] for k, v in by_type.items()} == {"reverse_splits": ["BBB"]}
    assert client.get_corporate_actions(CorporateActionsRequest(start=D5, end=D5)).data == {
        "cash_dividends": client.get_corporate_actions(
            CorporateActionsRequest(symbols=["CCC"], types=["cash_dividend"], start=D5, end=D5)
        ).data["cash_dividends"]
    }
    sent = [p for _, path, p in harness.book.requests if path == "/v1/corporate-actions"]
    assert sent[0]["symbols"] == "AAA" and sent[0]["sort"] == "asc"
    assert sent[1]["types"] == "reverse_split,cash_dividend"
    assert (sent[1]["start"], sent[1]["end"]) == ("2024-01-04", "2024-01-05")


def test_endpoint_defaults_to_the_clocks_date_and_rejects_a_bad_date(harness: Harness) -> None:
    announce_events(harness)
    harness.book.set_time(D4, time(20, 0))
    found = actions_client(harness).get_corporate_actions(CorporateActionsRequest()).data
    assert [a.symbol for a in found["reverse_splits"]] == ["BBB"] and len(found) == 1
    answer = requests.get(
        f"{harness.server.url}/v1/corporate-actions",
        params={"start": "2024-13-01"},
        headers={
            "APCA-API-KEY-ID": harness.book.key_id,
            "APCA-API-SECRET-KEY": harness.book.secret_key,
        },
        timeout=5,
    )
    assert answer.status_code == 400 and "start" in answer.json()["message"]
