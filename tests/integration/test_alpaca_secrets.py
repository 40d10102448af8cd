"""The API keys never show in logs, error messages, reprs or tracebacks (locals included),
whatever goes wrong between the adapters and Alpaca."""

from __future__ import annotations

import io
import json
import logging
import traceback
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from structlog.testing import capture_logs

from daemon.adapters.alpaca.clients import load_credentials
from daemon.core.ports import OrderRequest, TimeInForce
from daemon.infra.logging import make_logger
from shared.errors import PairsError
from shared.orders import Side
from tests.alpaca_server.harness import SLOW_ANSWER_S, Harness, running_harness
from tests.alpaca_server.state import AccountBook, Fault

KEY_ID = "PKLEAKCHECK7Q2W9E4R1"
SECRET = "s3cr3t-leak-check-Zx81Yq72Wv63Ut54"
ORDER = OrderRequest("leak-1", "AAA", Side.BUY, 10, TimeInForce.CLS, reference_price=100.0)


@pytest.fixture
def harness() -> Iterator[Harness]:
    with running_harness(AccountBook(key_id=KEY_ID, secret_key=SECRET)) as h:
        h.book.add_bars("AAA", {date(2024, 1, 2): 100.0})
        yield h


def assert_clean(text: str) -> None:
    assert SECRET not in text
    assert KEY_ID not in text


def full_traceback(exc: BaseException) -> str:
    rendered = traceback.TracebackException.from_exception(exc, capture_locals=True)
    return "".join(rendered.format())


SCENARIOS: dict[str, tuple[Fault | None, str]] = {
    "wrong secret (401)": (None, "rotate"),
    "forbidden everywhere (403)": (Fault("*", "*", status=403, times=99), "submit"),
    "server errors until retries run out": (
        Fault("*", "*", status=500, times=99),
        "submit",
    ),
    "timeouts until retries run out": (
        Fault("GET", "/v2/account", delay_s=SLOW_ANSWER_S, times=2),
        "account",
    ),
    "dropped connections": (Fault("*", "*", drop=True, times=99), "submit"),
    "insufficient buying power": (
        Fault("POST", "/v2/orders", status=403, body={"code": 40310000, "message": "no bp"}),
        "submit",
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_keys_stay_out_of_errors_logs_and_tracebacks(
    harness: Harness, scenario: str, caplog: pytest.LogCaptureFixture
) -> None:
    fault, action = SCENARIOS[scenario]
    if action == "account":
        # Two slow answers then give up: a short policy keeps this test fast.
        harness.timeout_s = 0.3
    broker = harness.broker()
    calls: dict[str, Callable[[], object]] = {
        "submit": lambda: broker.submit(ORDER),
        "account": broker.account,
        "rotate": broker.positions,
    }
    if fault is not None:
        harness.server.inject(fault)
    if action == "rotate":
        harness.book.secret_key = "rotated"
    caplog.set_level(logging.DEBUG)
    with capture_logs() as events, pytest.raises(PairsError) as info:
        if action == "account":
            harness.server.inject(Fault("GET", "/v2/account", status=503, times=99))
        calls[action]()
    error = info.value
    for text in (str(error), repr(error), full_traceback(error), repr(broker)):
        assert_clean(text)
    assert_clean(repr(events))
    assert_clean(caplog.text)
    assert error.__cause__ is None and error.__context__ is None


def test_reprs_of_adapters_and_credentials_hide_the_keys(harness: Harness) -> None:
    for obj in (harness.broker(), harness.bars(), load_credentials(harness.env)):
        assert_clean(repr(obj))
        assert_clean(str(obj))


def test_missing_key_error_names_the_variable_not_the_value() -> None:
    with pytest.raises(PairsError) as info:
        load_credentials({"APCA_API_SECRET_KEY": SECRET})
    assert "APCA_API_KEY_ID" in str(info.value)
    assert_clean(full_traceback(info.value))


def test_retry_events_go_to_the_daemons_logger_without_keys(harness: Harness) -> None:
    stream = io.StringIO()
    broker = harness.broker(logger=make_logger("json", stream, run_id="r1"))
    harness.server.inject(Fault("GET", "/v2/account", status=503, times=2))
    assert broker.account().equity == 100_000.0
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    retries = [e for e in events if e["event"] == "alpaca_retry"]
    assert [(e["level"], e["attempt"], e["run_id"]) for e in retries] == [
        ("warning", 1, "r1"),
        ("warning", 2, "r1"),
    ]
    assert "HTTP 503" in retries[0]["error"]
    assert_clean(stream.getvalue())
