"""The corporate-action sources of every feed: the events CSV, yfinance's actions (recorded
frames, no network), Alpaca's records mapped to the project's conventions, and the wiring in
``build_context``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from alpaca.data.models.corporate_actions import CorporateActionsSet

from daemon.adapters.alpaca.corporate_actions import to_action
from daemon.adapters.csv.events import CsvActions
from daemon.adapters.registry import build_actions
from daemon.adapters.yfinance.events import YFinanceActions
from daemon.config.settings import DaemonSettings, DataSettings, load_settings
from daemon.core.corporate_actions import ActionKind, CombinedActions, CorporateAction, NoActions
from shared.adapters.yahoo import RATE_LIMIT_BACKOFF_MULTIPLIER, fetch_actions
from shared.errors import ConfigError, DataError

HEADER = "symbol,type,ex_date,ratio,amount,payable_date\n"
START, END = date(2024, 1, 1), date(2024, 12, 31)


def _events(tmp_path: Path, body: str, header: str = HEADER) -> CsvActions:
    path = tmp_path / "events.csv"
    path.write_text(header + body, encoding="utf-8")
    return CsvActions(path)


# --- the events CSV -------------------------------------------------------------------------


def test_events_csv_reads_splits_reverse_splits_and_dividends(tmp_path: Path) -> None:
    source = _events(
        tmp_path,
        "# a comment line\n"
        "AAA,split,2024-03-04,2:1,,\n"
        "\n"
        "BBB,reverse_split,2024-05-06,1:4,,\n"
        "AAA,dividend,2024-06-14,,0.485,2024-07-01\n"
        "BBB,cash_dividend,2024-06-17,,$1.25,\n"
        "CCC,forward_split,2024-02-01,3,,\n",
    )
    got = source.corporate_actions(["AAA", "BBB"], START, END)
    assert got == [
        CorporateAction("AAA", ActionKind.SPLIT, date(2024, 3, 4), ratio=2.0, source=got[0].source),
        CorporateAction(
            "BBB", ActionKind.SPLIT, date(2024, 5, 6), ratio=0.25, source=got[0].source
        ),
        CorporateAction(
            "AAA",
            ActionKind.DIVIDEND,
            date(2024, 6, 14),
            amount=0.485,
            payable_date=date(2024, 7, 1),
            source=got[0].source,
        ),
        CorporateAction(
            "BBB", ActionKind.DIVIDEND, date(2024, 6, 17), amount=1.25, source=got[0].source
        ),
    ]
    assert got[0].source == f"csv: {tmp_path / 'events.csv'}"
    assert got[3].pays_on == date(2024, 6, 17)  # no payable date: paid on the ex-date


def test_events_csv_answers_only_the_symbols_and_the_inclusive_range_asked(
    tmp_path: Path,
) -> None:
    source = _events(
        tmp_path,
        "AAA,split,2024-03-04,2:1,,\nAAA,split,2024-09-03,3:2,,\nBBB,split,2024-03-04,2:1,,\n",
    )
    got = source.corporate_actions(["AAA"], date(2024, 3, 4), date(2024, 9, 2))
    assert [(a.symbol, a.ex_date) for a in got] == [("AAA", date(2024, 3, 4))]
    assert source.corporate_actions(["AAA"], date(2024, 3, 5), date(2024, 9, 3))[0].ratio == 1.5


def test_events_csv_columns_may_come_in_any_order_and_omit_unused_ones(tmp_path: Path) -> None:
    source = _events(tmp_path, "2024-03-04,AAA,split,1:10\n", header="ex_date,symbol,type,ratio\n")
    (got,) = source.corporate_actions(["AAA"], START, END)
    assert got.ratio == pytest.approx(0.1) and got.is_reverse


def test_events_csv_is_read_again_when_the_file_changes(tmp_path: Path) -> None:
    source = _events(tmp_path, "AAA,split,2024-03-04,2:1,,\n")
    assert len(source.corporate_actions(["AAA"], START, END)) == 1
    source.path.write_text(
        HEADER + "AAA,split,2024-03-04,2:1,,\nAAA,dividend,2024-06-14,,0.5,\n", encoding="utf-8"
    )
    later = source.path.stat().st_mtime + 5  # the same second on a coarse filesystem clock
    os.utime(source.path, (later, later))
    assert [a.kind for a in source.corporate_actions(["AAA"], START, END)] == [
        ActionKind.SPLIT,
        ActionKind.DIVIDEND,
    ]


@pytest.mark.parametrize(
    ("row", "column", "hint"),
    [
        ("AAA,split,2024-03-04,,,", "ratio", "e.g. 2:1 or 1:4"),
        ("AAA,split,2024-03-04,two,,", "ratio", "write new:old"),
        ("AAA,split,2024-03-04,1:1,,", "ratio", "changes no share count"),
        ("AAA,split,2024-03-04,-2,,", "ratio", "must be positive"),
        ("AAA,reverse_split,2024-03-04,4:1,,", "ratio", "e.g. 1:4"),
        ("AAA,forward_split,2024-03-04,1:4,,", "ratio", "reverse_split"),
        ("AAA,split,2024-03-04,2:1,0.5,", "amount", "leave it empty"),
        ("AAA,dividend,2024-06-14,,,", "amount", "dollars per share"),
        ("AAA,dividend,2024-06-14,,abc,", "amount", "dollars per share"),
        ("AAA,dividend,2024-06-14,,-0.5,", "amount", "positive"),
        ("AAA,dividend,2024-06-14,,nan,", "amount", "positive"),
        ("AAA,dividend,2024-06-14,2:1,0.5,", "ratio", "leave it empty"),
        ("AAA,dividend,2024-06-14,,0.5,2024-06-01", "payable_date", "before the ex-date"),
        ("AAA,dividend,2024-06-14,,0.5,soon", "payable_date", "YYYY-MM-DD"),
        ("AAA,split,03/04/2024,2:1,,", "ex_date", "YYYY-MM-DD"),
        ("AAA,split,,2:1,,", "ex_date", "YYYY-MM-DD"),
        ("AAA,spinoff,2024-03-04,2:1,,", "type", "split, forward_split, reverse_split"),
        (",split,2024-03-04,2:1,,", "symbol", "write the ticker"),
        ("AAA,dividend,2024-06-14,,1,000.5,", "#7", "1000.5"),
    ],
)
def test_every_bad_row_names_the_file_line_column_and_what_to_write(
    tmp_path: Path, row: str, column: str, hint: str
) -> None:
    source = _events(tmp_path, "BBB,split,2024-01-10,2:1,,\n" + row + "\n")
    with pytest.raises(DataError) as err:
        source.corporate_actions(["AAA"], START, END)
    message = str(err.value)
    assert f"events file {source.path}, line 3, column {column}" in message, message
    assert hint in message, message


def test_a_repeated_event_names_both_lines(tmp_path: Path) -> None:
    source = _events(tmp_path, "AAA,split,2024-03-04,2:1,,\nAAA,split,2024-03-04,2:1,,\n")
    with pytest.raises(DataError, match=r"line 3, column symbol: repeats .* from line 2"):
        source.corporate_actions(["AAA"], START, END)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("symbol,type,exdate,ratio\n", "unknown column 'exdate'"),
        ("symbol,ex_date,ratio\n", "no 'type' column"),
    ],
)
def test_a_bad_header_names_the_column_and_the_header_to_write(
    tmp_path: Path, header: str, expected: str
) -> None:
    source = _events(tmp_path, "", header=header)
    with pytest.raises(DataError, match=expected) as err:
        source.corporate_actions(["AAA"], START, END)
    assert "symbol,type,ex_date,ratio,amount,payable_date" in str(err.value)


def test_an_empty_or_missing_events_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is empty; its first line must be the header"):
        _events(tmp_path, "", header="").corporate_actions(["AAA"], START, END)
    with pytest.raises(DataError, match=r"not found; check data.events_csv"):
        CsvActions(tmp_path / "nope.csv").corporate_actions(["AAA"], START, END)


def test_a_header_only_file_has_no_events(tmp_path: Path) -> None:
    assert _events(tmp_path, "").corporate_actions(["AAA"], START, END) == []


# --- yfinance's actions (recorded frames) ---------------------------------------------------


def history_with_actions(
    rows: dict[str, tuple[float, float]], *, extra: Sequence[str] = ()
) -> pd.DataFrame:
    """``Ticker.history(actions=True, auto_adjust=False)`` for daily bars: prices plus
    ``Dividends`` and ``Stock Splits`` (0.0 on days without one), index ``Date`` tz-aware in
    the exchange's zone. ``rows``: session -> (dividend, split). Illustrative values."""
    sessions = sorted(set(rows) | set(extra))
    index = pd.DatetimeIndex(sessions, name="Date").tz_localize("America/New_York")
    close = np.linspace(100.0, 110.0, len(sessions))
    return pd.DataFrame(
        {
            "Open": close,
            "High": close,
            "Low": close,
            "Close": close,
            "Adj Close": close,
            "Volume": np.full(len(sessions), 1_000_000),
            "Dividends": [rows.get(d, (0.0, 0.0))[0] for d in sessions],
            "Stock Splits": [rows.get(d, (0.0, 0.0))[1] for d in sessions],
        },
        index=index,
    )


class ScriptedActions:
    """yfinance's answers from a script per ticker (a vendor edge); an exception is raised."""

    def __init__(self, answers: dict[str, list[pd.DataFrame | Exception]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, date, date]] = []

    def __call__(self, ticker: str, start: date, end_exclusive: date) -> pd.DataFrame:
        self.calls.append((ticker, start, end_exclusive))
        script = self.answers[ticker]
        answer = script[min(sum(c[0] == ticker for c in self.calls), len(script)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_yfinance_actions_map_splits_reverse_splits_and_dividends() -> None:
    fetch = ScriptedActions(
        {
            "NVDA": [history_with_actions({"2024-06-10": (0.0, 10.0), "2024-06-11": (0.01, 0.0)})],
            "XYZ": [history_with_actions({"2024-05-06": (0.5, 0.25)}, extra=["2024-05-07"])],
        }
    )
    got = YFinanceActions(fetch).corporate_actions(["NVDA", "XYZ"], START, END)
    assert [(a.symbol, a.kind, a.ex_date, a.ratio, a.amount) for a in got] == [
        ("NVDA", ActionKind.SPLIT, date(2024, 6, 10), 10.0, 0.0),
        ("NVDA", ActionKind.DIVIDEND, date(2024, 6, 11), 1.0, 0.01),
        ("XYZ", ActionKind.SPLIT, date(2024, 5, 6), 0.25, 0.0),
        ("XYZ", ActionKind.DIVIDEND, date(2024, 5, 6), 1.0, 0.5),
    ]
    assert {a.source for a in got} == {"yfinance"}
    # Yahoo publishes no payable date: the cash is booked on the ex-date.
    assert all(a.payable_date == a.ex_date for a in got if a.kind is ActionKind.DIVIDEND)


def test_yfinance_actions_keep_the_inclusive_range_and_ask_from_before_it() -> None:
    rows = {"2024-03-01": (0.2, 0.0), "2024-03-04": (0.3, 0.0), "2024-03-08": (0.4, 0.0)}
    fetch = ScriptedActions({"KO": [history_with_actions(rows)]})
    got = YFinanceActions(fetch).corporate_actions(["KO"], date(2024, 3, 4), date(2024, 3, 7))
    assert [a.amount for a in got] == [0.3]
    ((_, asked_from, asked_to),) = fetch.calls
    # yfinance's end is exclusive, and a range of only holidays has no price rows to answer.
    assert asked_from < date(2024, 3, 4) and asked_to == date(2024, 3, 8)


def test_yfinance_actions_with_no_events_are_an_empty_list() -> None:
    fetch = ScriptedActions({"KO": [history_with_actions({}, extra=["2024-03-04"])]})
    assert YFinanceActions(fetch).corporate_actions(["KO"], START, END) == []


def test_yfinance_actions_retry_a_rate_limit_longer_then_use_the_answer() -> None:
    limited = RuntimeError("YFRateLimitError('Too Many Requests. Rate limited.')")
    fetch = ScriptedActions({"KO": [limited, history_with_actions({"2024-06-14": (0.485, 0)})]})
    sleeps: list[float] = []
    got = fetch_actions(["KO"], START, END, fetch, backoff_seconds=2.0, sleep=sleeps.append)
    assert sleeps == [2.0 * RATE_LIMIT_BACKOFF_MULTIPLIER]
    assert not got.failed and got.actions["KO"][0].dividend == 0.485


def test_yfinance_actions_that_keep_failing_are_an_error_naming_the_symbol() -> None:
    fetch = ScriptedActions(
        {
            "KO": [history_with_actions({})],
            "NOPE": [RuntimeError("YFPricesMissingError('possibly delisted; no price data')")],
        }
    )
    source = YFinanceActions(fetch, attempts=2, backoff_s=0.0)
    with pytest.raises(DataError, match=r"NOPE .*2 attempt\(s\).*delisted") as err:
        source.corporate_actions(["KO", "NOPE"], START, END)
    assert err.value.symbol == "NOPE"  # never read as "no actions"


# --- Alpaca's records -----------------------------------------------------------------------

# Records as Alpaca's ``GET /v1/corporate-actions`` sends them inside ``corporate_actions``
# (illustrative values), parsed by alpaca-py's own model.
ALPACA_ANSWER = {
    "forward_splits": [
        {
            "id": "00000000-0000-4000-8000-000000000001",
            "symbol": "AAA",
            "cusip": "000000000",
            "new_rate": 3,
            "old_rate": 2,
            "process_date": "2024-03-04",
            "ex_date": "2024-03-04",
            "record_date": "2024-02-26",
            "payable_date": "2024-03-01",
        }
    ],
    "reverse_splits": [
        {
            "id": "00000000-0000-4000-8000-000000000002",
            "symbol": "BBB",
            "old_cusip": "000000001",
            "new_cusip": "000000002",
            "new_rate": 1,
            "old_rate": 4,
            "process_date": "2024-05-06",
            "ex_date": "2024-05-06",
        }
    ],
    "cash_dividends": [
        {
            "id": "00000000-0000-4000-8000-000000000003",
            "symbol": "KO",
            "cusip": "191216100",
            "rate": 0.485,
            "special": False,
            "foreign": False,
            "process_date": "2024-07-01",
            "ex_date": "2024-06-14",
            "record_date": "2024-06-14",
            "payable_date": "2024-07-01",
        }
    ],
    "stock_dividends": [
        {
            "id": "00000000-0000-4000-8000-000000000004",
            "symbol": "AAA",
            "cusip": "000000000",
            "rate": 0.05,
            "process_date": "2024-03-04",
            "ex_date": "2024-03-04",
        }
    ],
}


def _alpaca_records() -> dict[str, list[object]]:
    return dict(CorporateActionsSet(ALPACA_ANSWER).data)  # type: ignore[arg-type]


def test_alpaca_forward_and_reverse_splits_are_new_rate_over_old_rate() -> None:
    records = _alpaca_records()
    assert to_action(records["forward_splits"][0]) == CorporateAction(
        "AAA", ActionKind.SPLIT, date(2024, 3, 4), ratio=1.5, source="alpaca"
    )
    got = to_action(records["reverse_splits"][0])
    assert got is not None and got.ratio == 0.25 and got.is_reverse


def test_alpaca_cash_dividend_is_its_rate_per_share_paid_on_its_payable_date() -> None:
    got = to_action(_alpaca_records()["cash_dividends"][0])
    assert got is not None
    assert (got.kind, got.amount, got.ex_date, got.pays_on) == (
        ActionKind.DIVIDEND,
        0.485,
        date(2024, 6, 14),
        date(2024, 7, 1),
    )


def test_alpaca_types_the_daemon_does_not_handle_are_skipped() -> None:
    assert to_action(_alpaca_records()["stock_dividends"][0]) is None


# --- wiring ---------------------------------------------------------------------------------


def test_the_csv_feed_has_no_actions_without_an_events_file(tmp_path: Path) -> None:
    settings = DaemonSettings(data=DataSettings(feed="csv", csv_path=tmp_path / "p.csv"))
    assert isinstance(build_actions(settings, {}), NoActions)


def test_each_feed_gets_its_own_source(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    csv_feed = DataSettings(feed="csv", csv_path=tmp_path / "p.csv", events_csv=events)
    source = build_actions(DaemonSettings(data=csv_feed), {})
    assert isinstance(source, CsvActions) and source.path == events
    yahoo = build_actions(DaemonSettings(data=DataSettings(feed="yfinance")), {})
    assert isinstance(yahoo, YFinanceActions)
    with pytest.raises(ConfigError, match="APCA_API_KEY_ID"):  # the same keys as the bars
        build_actions(DaemonSettings(data=DataSettings(feed="alpaca")), {})


def test_an_events_file_supplements_a_live_feed_and_the_feed_wins_a_tie(tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text(
        "symbol,type,ex_date,ratio,amount,payable_date\n"
        "AAA,split,2024-03-04,2:1,,\n"
        "BBB,dividend,2024-03-05,,0.10,\n",
        encoding="utf-8",
    )
    settings = DaemonSettings(data=DataSettings(feed="yfinance", events_csv=events))
    source = build_actions(settings, {})
    assert isinstance(source, CombinedActions) and source.name == "yfinance + csv"

    class Published:  # what the feed's own source publishes (the port's edge)
        name = "feed"

        def corporate_actions(self, symbols: Any, start: date, end: date) -> list[Any]:
            return [CorporateAction("BBB", ActionKind.DIVIDEND, date(2024, 3, 5), amount=0.12)]

    combined = CombinedActions(Published(), source.supplement)
    found = {
        a.key: a
        for a in combined.corporate_actions(["AAA", "BBB"], date(2024, 1, 1), date(2024, 12, 31))
    }
    assert found["AAA:split:2024-03-04"].ratio == 2.0  # only the operator's file has it
    assert found["BBB:dividend:2024-03-05"].amount == 0.12  # both: the feed's version


def test_events_csv_is_resolved_against_the_settings_file_and_a_directory_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "daemon.toml"
    path.write_text(
        '[data]\nfeed = "csv"\ncsv_path = "prices.csv"\nevents_csv = "events"\n', encoding="utf-8"
    )
    settings = load_settings(path)
    assert settings.data.events_csv == tmp_path / "events"
    (tmp_path / "events").mkdir()
    with pytest.raises(ConfigError, match=r"data.events_csv.*is a directory|is a directory"):
        build_actions(settings, {})


@pytest.mark.network
def test_yfinance_actions_from_yahoo_know_a_published_split_and_dividend() -> None:
    # NVIDIA's 10-for-1 split (ex-date 2024-06-10) and its $0.01 dividend the next session.
    got = YFinanceActions().corporate_actions(["NVDA"], date(2024, 6, 3), date(2024, 6, 14))
    assert [(a.kind, a.ex_date) for a in got] == [
        (ActionKind.SPLIT, date(2024, 6, 10)),
        (ActionKind.DIVIDEND, date(2024, 6, 11)),
    ]
    assert got[0].ratio == 10.0 and got[1].amount == pytest.approx(0.01)
