"""The broker's rejection contract (``daemon.core.ports.OrderRejected``) and the recorded statuses:
a refused order is a final answer recorded against its intent while the session trades on; any
other submit failure is an unknown outcome. Statuses are StrEnums the store round-trips."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from daemon.adapters.alpaca.errors import OrderRejectedError
from daemon.config.settings import DaemonSettings
from daemon.core.errors import OrderRejected
from daemon.core.ports import BrokerOrder, OrderRequest, OrderStatus
from daemon.core.statuses import IntentStatus, RunStatus
from daemon.cycle.run import run_once
from daemon.store import Store
from tests.unit.daemon_helpers import (
    log_events,
    make_closes,
    make_config,
    open_context,
    run_sessions,
    settings_for,
    write_inputs,
)

ENTRY_BAR = 20  # both pairs of the helpers' config enter on this bar


@pytest.fixture
def env(tmp_path: Path) -> tuple[DaemonSettings, list[date]]:
    closes = make_closes(60)
    prices, cfg = write_inputs(tmp_path, closes, make_config(closes))
    return settings_for(tmp_path, prices, cfg), list(closes.index)


class RefusingBroker:
    """Wraps the local broker (a true edge: it stands in for a broker that refuses one order on
    its merits) and raises ``error`` for the first order on ``symbol``."""

    def __init__(self, inner: Any, symbol: str, error: Exception) -> None:
        self._inner, self._symbol, self._error = inner, symbol, error
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def submit(self, request: OrderRequest) -> BrokerOrder:
        if request.symbol == self._symbol:
            raise self._error
        return self._inner.submit(request)


def test_a_refused_order_is_recorded_as_rejected_and_the_session_trades_on(env: Any) -> None:
    settings, sessions = env
    run_sessions(settings, sessions[:ENTRY_BAR])
    logs = io.StringIO()
    ctx = open_context(settings, sessions[ENTRY_BAR], logs=logs)
    ctx.broker = RefusingBroker(ctx.broker, "AAA", OrderRejected("not shortable"))
    result = run_once(ctx, sessions[ENTRY_BAR])
    ctx.close()

    assert result.status is RunStatus.COMPLETED
    store = Store.open(settings.state_dir, read_only=True)
    statuses = {i.symbol: i.status for i in store.intents(sessions[ENTRY_BAR])}
    store.close()
    assert statuses.pop("AAA") is IntentStatus.REJECTED
    assert set(statuses.values()) == {IntentStatus.SUBMITTED}  # the other three were sent
    (event,) = [e for e in log_events(logs) if e["event"] == "order_rejected"]
    assert event["symbol"] == "AAA" and "not shortable" in event["reason"]


def test_a_failure_that_is_not_a_rejection_is_an_unknown_outcome(env: Any) -> None:
    settings, sessions = env
    run_sessions(settings, sessions[:ENTRY_BAR])
    ctx = open_context(settings, sessions[ENTRY_BAR])
    error = RuntimeError("connection reset")
    error.rejected = True  # type: ignore[attr-defined]  # a look-alike is not the contract
    ctx.broker = RefusingBroker(ctx.broker, "AAA", error)
    result = run_once(ctx, sessions[ENTRY_BAR])
    ctx.close()
    assert result.status is RunStatus.FAILED and "next run" in result.message


def test_alpacas_refusal_is_the_ports_rejection() -> None:
    error = OrderRejectedError("insufficient buying power", client_order_id="c", symbol="AAA")
    assert isinstance(error, OrderRejected)


def test_every_broker_order_status_is_an_intent_status() -> None:
    assert {s.value for s in OrderStatus} <= {s.value for s in IntentStatus}


def test_the_store_returns_statuses_as_enums(env: Any) -> None:
    settings, sessions = env
    run_sessions(settings, sessions[: ENTRY_BAR + 1])
    store = Store.open(settings.state_dir, read_only=True)
    runs, intents = store.runs(), store.intents()
    store.close()
    assert {type(r.status) for r in runs} == {RunStatus}
    assert {type(i.status) for i in intents} == {IntentStatus} and intents
