"""``run_once`` on the Alpaca adapters with the local server's clock set: sessions are deferred
while Alpaca would refuse their orders or their bars are not final, resumed when the window
opens, and every order action leaves its event."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from daemon.adapters.alpaca.factory import build_alpaca_broker
from daemon.commands.app import build_context
from daemon.commands.once import once_exit_code, run_due
from daemon.config.settings import DaemonSettings
from daemon.cycle.run import RunResult, run_once
from daemon.infra.logging import make_logger
from daemon.store import Store
from daemon.timing.calendar import XnysCalendar
from daemon.timing.clock import FixedClock
from shared.config import ProdConfig
from tests.alpaca_server.harness import Harness
from tests.alpaca_server.state import Fault
from tests.integration.test_daemon_on_alpaca_server import (
    FIRST_RUN,
    Replay,
    _collect,
    alpaca_settings,
    assert_same_trading,
)
from tests.unit.daemon_helpers import write_inputs

NY = ZoneInfo("America/New_York")
Events = list[dict[str, Any]]


def run(
    settings: DaemonSettings,
    session: date,
    harness: Harness,
    checkpoint: Callable[[str], None] | None = None,
) -> tuple[RunResult, Events]:
    stream = io.StringIO()
    logger = make_logger("json", stream)
    broker = build_alpaca_broker(harness.env, settings.alpaca, retry=harness.retry, logger=logger)
    clock = FixedClock(harness.book.now)
    ctx = build_context(
        settings, harness.env, clock=clock, logger=logger, broker=broker, durable=False
    )
    if checkpoint is not None:
        ctx.checkpoint = checkpoint
    try:
        result = run_once(ctx, session)
    finally:
        ctx.close()
    return result, [json.loads(line) for line in stream.getvalue().splitlines()]


def named(events: Events, name: str) -> Events:
    return [e for e in events if e["event"] == name]


def prepare(tmp: Path, market: tuple[pd.DataFrame, ProdConfig], harness: Harness) -> Any:
    closes, config = market
    _, cfg = write_inputs(tmp, closes, config)
    for symbol in closes.columns:
        harness.book.add_bars(symbol, closes[symbol].iloc[:FIRST_RUN].to_dict())
    return closes, alpaca_settings(tmp, cfg, harness)


def pending_intents(settings: DaemonSettings, session: date) -> list[str]:
    store = Store.open(settings.state_dir, durable=False, read_only=True)
    try:
        return [i.status for i in store.intents(session)]
    finally:
        store.close()


def test_a_run_at_17_00_is_deferred_to_19_00_and_trading_equals_the_local_broker(
    tmp_path: Path,
    market: tuple[pd.DataFrame, ProdConfig],
    harness: Harness,
    local_replay: Replay,
) -> None:
    closes, settings = prepare(tmp_path, market, harness)
    deferred = 0
    for session in closes.index[FIRST_RUN:]:
        harness.book.advance_session(closes.loc[session].to_dict(), session)
        harness.book.set_time(session, time(17, 0))
        posts = harness.book.count("POST", "/v2/orders")
        result, events = run(settings, session, harness)
        if result.status == "deferred":
            deferred += 1
            assert result.resume_at == datetime.combine(session, time(19, 0), NY)
            (event,) = named(events, "session_deferred")
            assert event["reason"] == "cls_window_closed"
            assert "refuses cls orders" in event["detail"]
            assert harness.book.count("POST", "/v2/orders") == posts  # nothing sent
            assert set(pending_intents(settings, session)) == {"pending"}
            harness.book.set_time(session, time(19, 5))
            result, events = run(settings, session, harness)
            assert len(named(events, "order_submitted")) == len(pending_intents(settings, session))
        assert result.status == "completed", result.message
    assert deferred >= 2
    replay = Replay()
    _collect(settings, replay)
    assert_same_trading(replay, local_replay)
    assert all(o.time_in_force == "cls" for o in harness.book.orders)


def test_a_session_is_deferred_until_its_sip_bar_is_final(
    tmp_path: Path, market: tuple[pd.DataFrame, ProdConfig], harness: Harness
) -> None:
    closes, settings = prepare(tmp_path, market, harness)
    session = closes.index[FIRST_RUN]
    harness.book.advance_session(closes.loc[session].to_dict(), session)
    harness.book.set_time(session, time(16, 5))
    result, events = run(settings, session, harness)
    assert result.status == "deferred"
    assert result.resume_at == datetime.combine(session, time(16, 16), NY)
    assert named(events, "session_deferred")[0]["reason"] == "bars_not_final"
    assert harness.book.count("GET", "/v2/stocks/bars") == 0  # nothing read early
    harness.book.set_time(session, time(19, 5))
    assert run(settings, session, harness)[0].status == "completed"


def sessions_with_orders(local_replay: Replay) -> list[date]:
    days = {datetime.strptime(i[0].split("-")[2], "%Y%m%d").date() for i in local_replay.intents}
    return sorted(days)


def run_between(
    closes: pd.DataFrame, settings: DaemonSettings, harness: Harness, start: date, stop: date
) -> None:
    """Close and run every session from ``start`` up to (not including) ``stop``."""
    for session in closes.index:
        if start <= session < stop:
            harness.book.advance_session(closes.loc[session].to_dict(), session)
            result = run(settings, session, harness)[0]
            assert result.status == "completed", result.message


def at_first_order_session(
    tmp: Path,
    market: tuple[pd.DataFrame, ProdConfig],
    harness: Harness,
    local_replay: Replay,
    at: time,
) -> tuple[pd.DataFrame, DaemonSettings, date]:
    """Every session before the first one with orders run; that session closed at the
    server and its clock set to ``at`` (New York time)."""
    closes, settings = prepare(tmp, market, harness)
    first = sessions_with_orders(local_replay)[0]
    run_between(closes, settings, harness, closes.index[FIRST_RUN], first)
    harness.book.advance_session(closes.loc[first].to_dict(), first)
    harness.book.set_time(first, at)
    return closes, settings, first


def test_every_order_action_has_its_event(
    tmp_path: Path,
    market: tuple[pd.DataFrame, ProdConfig],
    harness: Harness,
    local_replay: Replay,
) -> None:
    closes, settings = prepare(tmp_path, market, harness)
    first, second = sessions_with_orders(local_replay)[:2]
    run_between(closes, settings, harness, closes.index[FIRST_RUN], first)
    harness.book.advance_session(closes.loc[first].to_dict(), first)

    # A crash right after the first order reached Alpaca: the rerun adopts it, and the
    # answer to the next one is lost after Alpaca stored it: resolved by its client id.
    def crash_after_first_send(step: str) -> None:
        if step.startswith("sent:"):
            raise RuntimeError("killed")

    crashed, _ = run(settings, first, harness, crash_after_first_send)
    assert crashed.status == "failed"
    harness.server.inject(Fault("POST", "/v2/orders", drop=True, process=True))
    result, events = run(settings, first, harness)
    assert result.status == "completed", result.message
    adopted = named(events, "order_adopted")
    resolved = named(events, "order_resolved")
    assert len(adopted) == 1 and "crash" in adopted[0]["note"]
    assert len(resolved) == 1 and "not sent again" in resolved[0]["note"]
    submitted = [e["client_order_id"] for e in named(events, "order_submitted")]
    assert submitted == [resolved[0]["client_order_id"]]  # placed now, its answer recovered

    # A validation 422 (code 40010001, not a duplicate) is a final rejection with its reason.
    run_between(
        closes, settings, harness, closes.index[list(closes.index).index(first) + 1], second
    )
    harness.book.advance_session(closes.loc[second].to_dict(), second)
    refusal = {"code": 40010001, "message": "us_equity orders not allowed for account"}
    harness.server.inject(Fault("POST", "/v2/orders", status=422, body=refusal))
    result, events = run(settings, second, harness)
    assert result.status == "completed", result.message
    (rejected,) = named(events, "order_rejected")
    assert rejected["broker_reason"] == refusal["message"]
    assert (rejected["code"], rejected["http_status"]) == (40010001, 422)
    cid = rejected["client_order_id"]
    assert harness.book.orders_with_client_id(cid) == []
    # Later sessions never post it again.
    run_between(
        closes, settings, harness, closes.index[list(closes.index).index(second) + 1], date.max
    )
    assert harness.book.orders_with_client_id(cid) == []
    store = Store.open(settings.state_dir, durable=False, read_only=True)
    try:
        (intent,) = [i for i in store.intents() if i.client_order_id == cid]
    finally:
        store.close()
    assert intent.status == "rejected" and refusal["message"] in (intent.message or "")


def test_once_with_wait_sleeps_until_the_window_opens_on_the_brokers_clock(
    tmp_path: Path,
    market: tuple[pd.DataFrame, ProdConfig],
    harness: Harness,
    local_replay: Replay,
) -> None:
    closes, settings, first = at_first_order_session(
        tmp_path, market, harness, local_replay, time(17, 0)
    )
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the broker's clock moves instead of the test waiting
        slept.append(seconds)
        harness.book.set_time(first, time(19, 0, 2))

    broker = build_alpaca_broker(harness.env, settings.alpaca, retry=harness.retry)
    ctx = build_context(
        settings, harness.env, logger=make_logger("json", io.StringIO()), broker=broker
    )
    try:
        outcome = run_due(ctx, XnysCalendar(), wait=True, sleep=sleep)
    finally:
        ctx.close()
    assert [r.status for r in outcome.results] == ["deferred", "completed"]
    assert slept == [2 * 3600 + 2]  # 17:00 -> 19:00 plus the margin, on the broker's clock
    assert once_exit_code(outcome) == 0
    following = closes.index[list(closes.index).index(first) + 1]
    assert {o.fill_session for o in harness.book.orders} == {following}  # the backtest's fill
