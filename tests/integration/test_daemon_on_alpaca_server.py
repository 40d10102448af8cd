"""``run_once`` end to end on the Alpaca adapters against the local Alpaca-compatible server.

Each session runs in a fresh context (as a fresh process would), the server closes the session
(fills queued market-on-close orders at its close) before the daemon's run for it, and the
result is compared with the same sessions run on the local paper broker: same orders, same
fills, same positions and the same equity (commission is 0 in these configs, as at Alpaca).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Literal

import pandas as pd
import pytest

from daemon.adapters.alpaca.factory import build_alpaca_broker
from daemon.commands.app import build_context
from daemon.config.settings import (
    AlpacaSettings,
    BrokerSettings,
    DaemonSettings,
    DataSettings,
    IntegritySettings,
)
from daemon.cycle.run import RunResult, run_once
from daemon.infra.logging import make_logger
from daemon.store import Store
from daemon.timing.clock import FixedClock
from shared.config import ProdConfig
from tests.alpaca_server.harness import Harness
from tests.alpaca_server.state import OPEN_STATUSES, Fault
from tests.unit.daemon_helpers import make_closes, make_config, settings_for, write_inputs

N_BARS, FIRST_RUN = 56, 24  # warm-up bars before the first run, then one run per session


@dataclass
class Replay:
    results: list[RunResult] = field(default_factory=list)
    fills: list[tuple[str, str, int, float]] = field(default_factory=list)
    intents: list[tuple[str, str, str, int, str]] = field(default_factory=list)
    equity: list[tuple[date, float, dict[str, int]]] = field(default_factory=list)
    expected_positions: dict[str, int] = field(default_factory=dict)


def make_market() -> tuple[pd.DataFrame, ProdConfig]:
    closes = make_closes(n_bars=N_BARS, seed=11)
    return closes, make_config(closes, commission=0.0, stake=40)


def replay_locally(tmp: Path, market: tuple[pd.DataFrame, ProdConfig]) -> Replay:
    """The same sessions on the local paper broker: what the Alpaca runs must equal."""
    closes, config = market
    prices, cfg = write_inputs(tmp, closes, config)
    settings = settings_for(tmp, prices, cfg)
    replay = Replay()
    for session in closes.index[FIRST_RUN:]:
        replay.results.append(_run(settings, session, {}))
    _collect(settings, replay)
    return replay


def _run(
    settings: DaemonSettings,
    session: date,
    env: dict[str, str],
    harness: Harness | None = None,
) -> RunResult:
    clock = FixedClock(datetime.combine(session, time(23, 30), UTC))
    broker = None
    if harness is not None:
        broker = build_alpaca_broker(env, settings.alpaca, retry=harness.retry)
    logger = make_logger("json", io.StringIO())
    ctx = build_context(settings, env, clock=clock, logger=logger, broker=broker, durable=False)
    try:
        return run_once(ctx, session)
    finally:
        ctx.close()


def _collect(settings: DaemonSettings, replay: Replay) -> None:
    store = Store.open(settings.state_dir, durable=False)
    try:
        replay.fills = [
            (f.client_order_id, f.symbol, f.signed_quantity, round(f.price, 6))
            for f in store.fills()
        ]
        replay.intents = [
            (i.client_order_id, i.symbol, i.side, i.quantity, i.status) for i in store.intents()
        ]
        replay.equity = [(e.session, e.equity, e.positions) for e in store.equity_series()]
        replay.expected_positions = {s: q for s, q in store.expected_positions().items() if q}
    finally:
        store.close()


def alpaca_settings(tmp: Path, cfg: Path, harness: Harness) -> DaemonSettings:
    return DaemonSettings(
        config=cfg,
        state_dir=tmp / "state",
        broker=BrokerSettings(kind="alpaca"),
        data=DataSettings(feed="alpaca", calendar_check=False),
        alpaca=AlpacaSettings(
            trading_url=harness.server.url, data_url=harness.server.url, timeout_s=1.0
        ),
    )


def replay_on_server(
    tmp: Path,
    market: tuple[pd.DataFrame, ProdConfig],
    harness: Harness,
    before_run: Callable[[int, date], None] | None = None,
    before_close: Callable[[int, date], None] | None = None,
    on_unbalanced: Literal["complete", "unwind", "alert"] = "complete",
) -> Replay:
    """Warm-up bars first; then per session: the server closes it, the daemon runs it.
    ``before_close``/``before_run(k, session)`` may arrange fills or queue faults; a failed
    run is run again once with the faults cleared, as the scheduler's retry would."""
    closes, config = market
    _, cfg = write_inputs(tmp, closes, config)
    settings = alpaca_settings(tmp, cfg, harness)
    integrity = IntegritySettings(on_unbalanced=on_unbalanced)
    settings = settings.model_copy(update={"integrity": integrity})
    for symbol in closes.columns:
        harness.book.add_bars(symbol, closes[symbol].iloc[:FIRST_RUN].to_dict())
    replay = Replay()
    for k, session in enumerate(closes.index[FIRST_RUN:]):
        if before_close is not None:
            before_close(k, session)
        harness.book.advance_session(closes.loc[session].to_dict(), session)
        if before_run is not None:
            before_run(k, session)
        result = _run(settings, session, harness.env, harness)
        if result.status == "failed":
            harness.book.faults.clear()
            replay.results.append(result)
            result = _run(settings, session, harness.env, harness)
        replay.results.append(result)
    _collect(settings, replay)
    return replay


def assert_same_trading(alpaca: Replay, local: Replay) -> None:
    assert alpaca.intents == local.intents
    assert alpaca.fills == local.fills
    assert [(d, p) for d, _, p in alpaca.equity] == [(d, p) for d, _, p in local.equity]
    for (_, got, _), (_, want, _) in zip(alpaca.equity, local.equity, strict=True):
        assert got == pytest.approx(want, abs=0.01)  # Alpaca sends money to the cent
    assert alpaca.expected_positions == local.expected_positions


def one_order_per_client_id(harness: Harness) -> None:
    ids = [o.client_order_id for o in harness.book.orders]
    assert len(ids) == len(set(ids))


def test_local_replay_trades_enough_to_compare(local_replay: Replay) -> None:
    assert all(r.status == "completed" for r in local_replay.results)
    assert len(local_replay.fills) >= 4
    assert any(q < 0 for p in (e[2] for e in local_replay.equity) for q in p.values())


def test_sessions_on_alpaca_match_the_local_paper_broker(
    tmp_path: Path, market: tuple[pd.DataFrame, ProdConfig], harness: Harness, local_replay: Replay
) -> None:
    alpaca = replay_on_server(tmp_path, market, harness)
    assert [r.status for r in alpaca.results] == ["completed"] * len(local_replay.results)
    assert_same_trading(alpaca, local_replay)
    assert {s: q for s, q in harness.book.positions.items()} == alpaca.expected_positions
    assert all(o.time_in_force == "cls" for o in harness.book.orders)
    one_order_per_client_id(harness)


def test_lost_submit_answers_change_nothing(
    tmp_path: Path, market: tuple[pd.DataFrame, ProdConfig], harness: Harness, local_replay: Replay
) -> None:
    def lose_answers(k: int, session: date) -> None:
        # Every order's answer is lost: dropped, a 503 after storing, or the duplicate refusal.
        harness.book.faults.clear()
        harness.server.inject(Fault("POST", "/v2/orders", drop=True, process=True))
        harness.server.inject(Fault("POST", "/v2/orders", status=503, process=True))
        harness.server.inject(Fault("POST", "/v2/orders", status=422, process=True, times=9))

    alpaca = replay_on_server(tmp_path, market, harness, lose_answers)
    assert all(r.status == "completed" for r in alpaca.results)
    assert_same_trading(alpaca, local_replay)
    one_order_per_client_id(harness)
    # Each order was posted once: every lost answer was settled by a lookup, not a resend.
    assert harness.book.count("POST", "/v2/orders") == len(harness.book.orders) > 0


def test_outage_fails_the_session_and_the_rerun_catches_up(
    tmp_path: Path, market: tuple[pd.DataFrame, ProdConfig], harness: Harness, local_replay: Replay
) -> None:
    def outage(k: int, session: date) -> None:
        if k % 3 == 0:
            harness.server.inject(Fault("POST", "/v2/orders", status=503, times=999))

    alpaca = replay_on_server(tmp_path, market, harness, outage)
    failed = [r for r in alpaca.results if r.status == "failed"]
    assert failed, "the outage should have hit at least one session with orders"
    assert all("503" in r.message or "unavailable" in r.message.lower() for r in failed)
    assert_same_trading(alpaca, local_replay)
    one_order_per_client_id(harness)


def test_partial_fills_with_the_remainder_cancelled_keep_store_and_broker_consistent(
    tmp_path: Path, market: tuple[pd.DataFrame, ProdConfig], harness: Harness
) -> None:
    halved: dict[str, int] = {}

    def auction_fills_half(k: int, session: date) -> None:
        for order in harness.book.orders:
            if order.status in OPEN_STATUSES and order.qty > 1:
                harness.book.fill_limits[order.client_order_id] = order.qty // 2
                harness.book.cancel_remainder.add(order.client_order_id)
                halved[order.client_order_id] = order.qty // 2

    alpaca = replay_on_server(tmp_path, market, harness, before_close=auction_fills_half)
    assert all(r.status == "completed" for r in alpaca.results), [
        r.message for r in alpaca.results if r.status != "completed"
    ]
    assert halved
    recorded = {cid: abs(q) for cid, _, q, _ in alpaca.fills}
    assert all(recorded[cid] == qty for cid, qty in halved.items() if cid in recorded)
    assert dict(harness.book.positions) == alpaca.expected_positions
    statuses = {cid: status for cid, *_, status in alpaca.intents}
    assert {statuses[cid] for cid in halved if cid in recorded} == {"canceled"}
    assert alpaca.equity[-1][1] == pytest.approx(harness.book.equity(), abs=0.01)
    one_order_per_client_id(harness)


def test_rejected_order_is_recorded_against_its_intent_and_trading_goes_on(
    tmp_path: Path, market: tuple[pd.DataFrame, ProdConfig], harness: Harness, local_replay: Replay
) -> None:
    first_cid = local_replay.intents[0][0]
    refusal = {"code": 40310000, "message": "insufficient buying power"}

    def refuse_first_order(k: int, session: date) -> None:
        if first_cid.split("-")[2] == session.strftime("%Y%m%d"):
            harness.server.inject(Fault("POST", "/v2/orders", status=403, body=refusal))

    alpaca = replay_on_server(tmp_path, market, harness, refuse_first_order)
    statuses = {cid: status for cid, *_, status in alpaca.intents}
    assert statuses[first_cid] == "rejected"
    assert harness.book.orders_with_client_id(first_cid) == []
    assert alpaca.results[-1].status == "completed"
    assert dict(harness.book.positions) == alpaca.expected_positions


def test_refused_keys_fail_the_session_clearly_and_the_rerun_catches_up(
    tmp_path: Path, market: tuple[pd.DataFrame, ProdConfig], harness: Harness, local_replay: Replay
) -> None:
    def revoke_keys(k: int, session: date) -> None:
        if k in (0, 7):
            harness.server.inject(Fault("*", "*", status=401, times=999))

    alpaca = replay_on_server(tmp_path, market, harness, revoke_keys)
    failed = [r for r in alpaca.results if r.status == "failed"]
    assert len(failed) == 2
    assert all("refused the API keys" in r.message for r in failed)
    assert all("APCA_API_KEY_ID" in r.message for r in failed)
    assert_same_trading(alpaca, local_replay)
