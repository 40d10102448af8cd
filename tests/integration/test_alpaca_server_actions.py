"""The local Alpaca server applies corporate actions the way Alpaca does: positions, cash and
adjusted bars change as its clock passes an ex-date, and alpaca-py's real clients read the
corporate-actions endpoint and the adjusted history over HTTP."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, time

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import Adjustment, CorporateActionsType, DataFeed
from alpaca.data.historical.corporate_actions import CorporateActionsClient
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.models import Bar
from alpaca.data.models.corporate_actions import CashDividend, ForwardSplit, ReverseSplit
from alpaca.data.requests import CorporateActionsRequest, StockBarsRequest
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.models import Order, Position, TradeAccount
from alpaca.trading.requests import MarketOrderRequest

from tests.alpaca_server.harness import Harness, running_harness
from tests.alpaca_server.state import NEW_YORK

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


# ---- positions and cash on the ex-date and the payable date -------------------------------


def trading(harness: Harness) -> TradingClient:
    return TradingClient(
        harness.book.key_id, harness.book.secret_key, url_override=harness.server.url
    )


def hold(harness: Harness, fills: dict[str, tuple[int, float]]) -> None:
    """Orders placed the evening of D1 fill at D2's close: qty > 0 buys, < 0 sells short."""
    for symbol, (qty, _) in fills.items():
        harness.book.submit(
            {"symbol": symbol, "qty": str(abs(qty)), "side": "buy" if qty > 0 else "sell"}
            | {"time_in_force": "cls", "client_order_id": f"open-{symbol}"}
        )
    harness.book.advance_session({s: price for s, (_, price) in fills.items()}, D2)


def position(harness: Harness, symbol: str) -> Position:
    found = trading(harness).get_open_position(symbol)
    assert isinstance(found, Position)
    return found


def account(harness: Harness) -> TradeAccount:
    found = trading(harness).get_account()
    assert isinstance(found, TradeAccount)
    return found


def test_split_changes_qty_avg_price_and_mark_when_the_clock_reaches_the_ex_date(
    harness: Harness,
) -> None:
    hold(harness, {"AAA": (100, 80.0)})
    harness.book.add_split("AAA", D3, 2.0)  # announced ahead of its ex-date
    before = position(harness, "AAA")
    assert (before.qty, before.avg_entry_price, before.current_price) == (
        "100",
        "80.000000",
        "80.0000",
    )
    equity = account(harness).equity
    harness.book.set_time(D3, time(9, 0))  # the morning of the ex-date
    after = position(harness, "AAA")
    assert (after.qty, after.avg_entry_price, after.current_price) == (
        "200",
        "40.000000",
        "40.0000",
    )
    assert account(harness).equity == equity  # a split moves no value
    harness.book.set_time(D3, time(12, 0))
    assert position(harness, "AAA").qty == "200"  # booked once, not at every clock move


def test_split_is_booked_before_the_ex_dates_fills_and_open_orders_stay_as_they_are(
    harness: Harness,
) -> None:
    hold(harness, {"AAA": (100, 80.0)})
    harness.book.add_split("AAA", D3, 2.0)
    queued = harness.book.submit(
        {"symbol": "AAA", "qty": "200", "side": "sell", "time_in_force": "cls"}
        | {"client_order_id": "exit-AAA"}
    )
    harness.book.advance_session({"AAA": 41.0}, D3)  # the raw post-split close
    assert queued.qty == 200 and queued.filled_qty == 200  # not re-sized by the server
    assert queued.json()["filled_avg_price"] == "41.000000"  # fills at the raw close
    assert trading(harness).get_all_positions() == []
    assert float(account(harness).cash) == pytest.approx(100_000 - 100 * 80.0 + 200 * 41.0)


def test_a_split_announced_after_its_ex_date_is_booked_at_once(harness: Harness) -> None:
    hold(harness, {"AAA": (100, 80.0)})
    harness.book.advance_session({"AAA": 40.5}, D3)  # the raw close is post-split already
    harness.book.add_split("AAA", D3, 2.0)
    booked = position(harness, "AAA")
    assert (booked.qty, booked.current_price, booked.avg_entry_price) == (
        "200",
        "40.5000",
        "40.000000",
    )


@pytest.mark.parametrize(
    ("booking", "long_qty", "short_qty", "cash_moved"),
    [
        # 10 -> 2.5 and -6 -> -1.5 shares; the half shares are paid / charged at 4x the close
        ("cash", "2", "-1", 0.5 * 40.0 * 4 - 0.5 * 20.0 * 4),
        ("fractional", "2.5", "-1.5", 0.0),
    ],
)
def test_reverse_split_books_the_fraction_as_the_book_says(
    harness: Harness, booking: str, long_qty: str, short_qty: str, cash_moved: float
) -> None:
    harness.book.fraction_booking = booking  # type: ignore[assignment]
    hold(harness, {"BBB": (10, 40.0), "CCC": (-6, 20.0)})
    harness.book.add_split("BBB", D3, 0.25)
    harness.book.add_split("CCC", D3, 0.25)
    cash, equity = float(account(harness).cash), float(account(harness).equity)
    harness.book.advance_session({}, D3)
    assert (position(harness, "BBB").qty, position(harness, "CCC").qty) == (long_qty, short_qty)
    assert position(harness, "BBB").avg_entry_price == "160.000000"
    assert position(harness, "CCC").current_price == "80.0000"
    after = account(harness)
    assert float(after.cash) == pytest.approx(cash + cash_moved)
    assert float(after.equity) == pytest.approx(equity)  # value kept, in shares or in cash


def test_reverse_split_of_fewer_shares_than_one_new_share_closes_the_position_in_cash(
    harness: Harness,
) -> None:
    hold(harness, {"BBB": (3, 40.0)})
    harness.book.add_split("BBB", D3, 0.25)
    harness.book.advance_session({}, D3)
    assert trading(harness).get_all_positions() == []
    assert float(account(harness).cash) == pytest.approx(100_000 - 3 * 40.0 + 0.75 * 160.0)


def test_dividends_are_fixed_on_the_ex_date_and_paid_on_the_payable_date(
    harness: Harness,
) -> None:
    hold(harness, {"AAA": (100, 80.0), "BBB": (-50, 40.0)})
    harness.book.add_dividend("AAA", D3, 0.5, payable_date=D5)
    harness.book.add_dividend("BBB", D3, 0.2, payable_date=D5)
    cash = float(account(harness).cash)
    for symbol, qty in (("AAA", 100), ("BBB", -50)):  # close both on the ex-date
        harness.book.submit(
            {"symbol": symbol, "qty": str(abs(qty)), "side": "sell" if qty > 0 else "buy"}
            | {"time_in_force": "cls", "client_order_id": f"exit-{symbol}"}
        )
    harness.book.advance_session({"AAA": 79.5, "BBB": 39.8}, D3)
    harness.book.advance_session({"AAA": 79.5, "BBB": 39.8}, D4)
    traded = 100 * 79.5 - 50 * 39.8
    assert float(account(harness).cash) == pytest.approx(cash + traded)  # not paid yet
    harness.book.advance_session({"AAA": 79.5, "BBB": 39.8}, D5)
    paid = 100 * 0.5 - 50 * 0.2  # the long receives, the short pays
    assert float(account(harness).cash) == pytest.approx(cash + traded + paid)
    assert float(account(harness).equity) == pytest.approx(cash + traded + paid)


def test_a_position_opened_on_the_ex_date_gets_no_dividend(harness: Harness) -> None:
    harness.book.add_dividend("AAA", D2, 1.0)  # ex-date = payable date = D2
    hold(harness, {"AAA": (100, 80.0)})  # fills at D2's close: bought ex-dividend
    assert float(account(harness).cash) == pytest.approx(100_000 - 100 * 80.0)


# ---- adjusted bars ----------------------------------------------------------------------


def daily_bars(harness: Harness, symbol: str, adjustment: Adjustment | None) -> list[Bar]:
    client = StockHistoricalDataClient(
        harness.book.key_id, harness.book.secret_key, url_override=harness.server.url
    )
    request = StockBarsRequest(
        symbol_or_symbols=symbol,
        timeframe=TimeFrame.Day,
        start=datetime.combine(D1, time.min, NEW_YORK),
        feed=DataFeed.IEX,
        adjustment=adjustment,
    )
    return list(client.get_stock_bars(request).data.get(symbol, []))


def closes(harness: Harness, symbol: str, adjustment: Adjustment | None) -> list[float]:
    return [bar.close for bar in daily_bars(harness, symbol, adjustment)]


def test_adjusted_history_rescales_only_once_the_clock_passes_the_ex_date(
    harness: Harness,
) -> None:
    harness.book.add_bars("AAA", {D1: 100.0, D2: 102.0})
    harness.book.add_bars("CCC", {D1: 49.0, D2: 50.0})
    harness.book.add_split("AAA", D3, 2.0)
    harness.book.add_dividend("CCC", D3, 1.0, payable_date=D5)
    harness.book.set_time(D2, time(20, 0))
    assert closes(harness, "AAA", Adjustment.ALL) == [100.0, 102.0]  # ex-date not reached
    assert closes(harness, "CCC", Adjustment.ALL) == [49.0, 50.0]
    harness.book.advance_session({"AAA": 51.5, "CCC": 49.2}, D3)
    assert closes(harness, "AAA", Adjustment.ALL) == [50.0, 51.0, 51.5]
    assert closes(harness, "AAA", Adjustment.SPLIT) == [50.0, 51.0, 51.5]
    assert closes(harness, "AAA", Adjustment.RAW) == [100.0, 102.0, 51.5]
    assert closes(harness, "AAA", None) == [100.0, 102.0, 51.5]  # Alpaca's default is raw
    factor = 1 - 1.0 / 50.0  # the dividend over the close before the ex-date
    assert closes(harness, "CCC", Adjustment.ALL) == pytest.approx([49 * factor, 50 * factor, 49.2])
    assert closes(harness, "CCC", Adjustment.DIVIDEND) == closes(harness, "CCC", Adjustment.ALL)
    assert closes(harness, "CCC", Adjustment.SPLIT) == [49.0, 50.0, 49.2]


def test_adjusted_volume_scales_with_the_split(harness: Harness) -> None:
    harness.book.add_bars("AAA", {D1: 100.0, D2: 102.0})
    harness.book.add_split("AAA", D3, 0.25)
    harness.book.advance_session({"AAA": 410.0}, D3)
    bars = daily_bars(harness, "AAA", Adjustment.ALL)
    assert [(b.close, b.volume) for b in bars] == [
        (400.0, 25_000),
        (408.0, 25_000),
        (410.0, 100_000),
    ]


def test_the_daemons_bars_adapter_reads_history_on_the_post_split_scale(harness: Harness) -> None:
    harness.book.add_bars("AAA", {D1: 100.0, D2: 102.0})
    harness.book.add_split("AAA", D3, 2.0)
    harness.book.advance_session({"AAA": 51.5}, D3)
    frame = harness.bars(feed="iex").daily_closes(["AAA"], D1, D3)
    assert frame["AAA"].tolist() == [50.0, 51.0, 51.5]


def test_a_fractional_position_closes_with_a_day_order_only(harness: Harness) -> None:
    harness.book.fraction_booking = "fractional"
    hold(harness, {"BBB": (10, 40.0)})
    harness.book.add_split("BBB", D3, 0.25)
    harness.book.set_time(D3, time(10, 0))
    client = trading(harness)

    def sell(qty: float, tif: TimeInForce) -> MarketOrderRequest:
        return MarketOrderRequest(symbol="BBB", qty=qty, side=OrderSide.SELL, time_in_force=tif)

    with pytest.raises(APIError, match="fractional orders must be DAY orders"):
        client.submit_order(sell(2.5, TimeInForce.CLS))
    with pytest.raises(APIError, match="cannot be sold short"):
        client.submit_order(sell(3.5, TimeInForce.DAY))
    order = client.submit_order(sell(2.5, TimeInForce.DAY))
    assert isinstance(order, Order) and order.qty == "2.5"
    harness.book.advance_session({"BBB": 161.0}, D3)
    assert client.get_all_positions() == []
    assert client.get_order_by_id(order.id).filled_qty == "2.5"  # type: ignore[union-attr]


def test_the_interactive_server_announces_actions_typed_on_stdin() -> None:
    tool = subprocess.Popen(
        [sys.executable, "-m", "tests.alpaca_server", "--port", "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert tool.stdin is not None and tool.stdout is not None
    url = tool.stdout.readline().split()[-1]
    key, secret = (tool.stdout.readline().strip().split("=", 1)[1] for _ in range(2))
    answers = []
    for line in (f"split AAA {D3} 1:4", f"dividend AAA {D3} 0.5", "split AAA soon 2"):
        tool.stdin.write(line + "\n")
        tool.stdin.flush()
        answers.append(tool.stdout.readline())
    client = CorporateActionsClient(key, secret, url_override=url)
    found = client.get_corporate_actions(CorporateActionsRequest(start=D3, end=D3)).data
    tool.stdin.write("\n")
    tool.stdin.flush()
    assert tool.wait(timeout=10) == 0
    assert answers[0].startswith("announced") and answers[1].startswith("announced")
    assert answers[2].startswith("expected split SYMBOL YYYY-MM-DD NEW:OLD")
    assert [a.new_rate for a in found["reverse_splits"]] == [1.0]
    assert [a.rate for a in found["cash_dividends"]] == [0.5]


def test_a_dividend_after_a_split_adjusts_in_post_split_prices(harness: Harness) -> None:
    harness.book.add_bars("AAA", {D1: 100.0, D2: 102.0})
    harness.book.add_split("AAA", D3, 2.0)
    harness.book.add_dividend("AAA", D4, 0.5)  # per post-split share
    harness.book.advance_session({"AAA": 50.0}, D3)
    harness.book.advance_session({"AAA": 49.0}, D4)
    factor = 1 - 0.5 / 50.0  # over D3's raw, post-split close
    assert closes(harness, "AAA", Adjustment.ALL) == pytest.approx(
        [50.0 * factor, 51.0 * factor, 50.0 * factor, 49.0]
    )
    assert closes(harness, "AAA", Adjustment.RAW) == [100.0, 102.0, 50.0, 49.0]


def test_the_book_refuses_an_event_twice_and_a_nonsense_ratio(harness: Harness) -> None:
    harness.book.add_split("AAA", D3, 2.0)
    with pytest.raises(ValueError, match="split of AAA on 2024-01-04 is known"):
        harness.book.add_split("AAA", D3, 2.0)
    with pytest.raises(ValueError, match=r"ratio 1\.0"):
        harness.book.add_split("BBB", D3, 1.0)
    with pytest.raises(ValueError, match="payable 2024-01-02 before ex-date"):
        harness.book.add_dividend("BBB", D3, 0.1, payable_date=D1)
