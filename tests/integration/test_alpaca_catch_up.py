"""Catch-up with real queuing: three sessions missed, then ``pairs-daemon once`` at 17:00 ET.

The local server's clock and order windows are Alpaca's: at 17:00 the first missed session's
``cls`` orders would be refused, so it is deferred to 19:00; from 19:00 every missed session
runs in order and all their orders queue for the next session's close. The pairs step as if the
earlier queued orders had filled, so the decisions (and, once the queue fills, the positions)
equal the local paper broker's run of the same sessions; the log says how many sessions late
each session's orders fill.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pandas as pd

from daemon.store import Store
from shared.config import ProdConfig
from tests.alpaca_server.harness import Harness
from tests.integration.alpaca_cli import log_events, pairs_daemon, plain_lines, write_settings
from tests.integration.test_alpaca_timing_daemon import prepare, run
from tests.integration.test_daemon_on_alpaca_server import (
    FIRST_RUN,
    Replay,
)

EX_TEMPFAIL = 75


def _day(client_order_id: str) -> date:
    """The decision session in a client id (``kp-<config>-YYYYMMDD-p0-A-1``)."""
    return datetime.strptime(client_order_id.split("-")[2], "%Y%m%d").date()


def _intents(
    rows: list[tuple[str, str, str, int, str]], days: set[date]
) -> list[tuple[str, str, str, int]]:
    return [(cid, sym, side, qty) for cid, sym, side, qty, _ in rows if _day(cid) in days]


def test_three_missed_sessions_caught_up_by_once_at_17_00_with_queued_cls_orders(
    tmp_path: Path,
    market: tuple[pd.DataFrame, ProdConfig],
    harness: Harness,
    local_replay: Replay,
) -> None:
    closes, settings = prepare(tmp_path, market, harness)
    index = list(closes.index)
    ordered = sorted({_day(i[0]) for i in local_replay.intents})
    # D1 (the first missed session) is the first with orders; D0 the last run before it.
    k1 = index.index(ordered[0])
    assert k1 - 1 >= FIRST_RUN and k1 + 4 < len(index)
    d1, d2, d3, d4, d5 = index[k1 : k1 + 5]
    for session in index[FIRST_RUN:k1]:  # the daemon ran normally up to the session before D1
        harness.book.advance_session(closes.loc[session].to_dict(), session)
        assert run(settings, session, harness)[0].status == "completed"
    for session in (d1, d2, d3, d4):  # then it was down for D1..D3; D4 closed at 16:00
        harness.book.advance_session(closes.loc[session].to_dict(), session)
    toml = write_settings(tmp_path / "daemon.toml", settings, harness)

    harness.book.set_time(d4, time(17, 0))
    early = pairs_daemon(toml, harness, "once")
    assert early.returncode == EX_TEMPFAIL, early.stderr
    (line,) = plain_lines(early.stdout)
    assert line.startswith(f"{d1}: deferred (deferred until {d4}T19:00:00-05:00")
    events = log_events(early.stdout)
    assert [e["reason"] for e in events if e["event"] == "session_deferred"] == [
        "cls_window_closed"
    ]
    assert harness.book.count("POST", "/v2/orders") == 0

    harness.book.set_time(d4, time(19, 5))
    late = pairs_daemon(toml, harness, "once")
    assert late.returncode == 0, late.stdout + late.stderr
    assert plain_lines(late.stdout) == [f"{d}: completed" for d in (d1, d2, d3, d4)]
    events = log_events(late.stdout)
    lateness = {
        e["decided_on"]: e["sessions_late"] for e in events if e["event"] == "orders_fill_late"
    }
    with_orders = {_day(i[0]) for i in local_replay.intents}
    expected_late = {d.isoformat(): n for d, n in ((d1, 3), (d2, 2), (d3, 1)) if d in with_orders}
    assert lateness == expected_late and lateness[d1.isoformat()] == 3
    queued = [e for e in events if e["event"] == "order_queued"]
    assert queued and all(e["fills_on"] == d5.isoformat() for e in queued)
    assert not [e for e in events if e["event"] == "session_failed"]
    # Every order waits for D5's close, and the decisions are the backtest's.
    assert {o.fill_session for o in harness.book.orders} == {d5}
    store = Store.open(settings.state_dir, durable=False, read_only=True)
    try:
        got = [(i.client_order_id, i.symbol, i.side, i.quantity, i.status) for i in store.intents()]
    finally:
        store.close()
    window = {d1, d2, d3, d4}
    assert _intents(got, window) == _intents(local_replay.intents, window)

    harness.book.advance_session(closes.loc[d5].to_dict(), d5)
    after = pairs_daemon(toml, harness, "once")
    assert after.returncode == 0 and plain_lines(after.stdout) == [f"{d5}: completed"]
    local_positions = {d: p for d, _, p in local_replay.equity}
    assert dict(harness.book.positions) == local_positions[d5]
    status = pairs_daemon(toml, harness, "status")
    assert "last error" not in status.stdout


def test_caught_up_sessions_record_the_equity_of_their_own_close(
    tmp_path: Path,
    market: tuple[pd.DataFrame, ProdConfig],
    harness: Harness,
    local_replay: Replay,
) -> None:
    """Down for three sessions while a pair is held: each caught-up session's equity is its
    own close's (cash plus the positions at that session's closes), not the account's figure
    at the time of the catch-up, so tracking and the equity history stay true."""
    closes, settings = prepare(tmp_path, market, harness)
    index = list(closes.index)
    held = [d for d, _, positions in local_replay.equity if positions]
    k = next(index.index(d) for d in held if index.index(d) + 4 < len(index))
    for session in index[FIRST_RUN : k + 1]:
        harness.book.advance_session(closes.loc[session].to_dict(), session)
        assert run(settings, session, harness)[0].status == "completed"
    assert harness.book.positions, "a pair is held through the downtime"
    missed = index[k + 1 : k + 4]
    for session in missed:
        harness.book.advance_session(closes.loc[session].to_dict(), session)
    toml = write_settings(tmp_path / "daemon.toml", settings, harness)
    harness.book.set_time(missed[-1], time(19, 5))
    late = pairs_daemon(toml, harness, "once")
    assert late.returncode == 0, late.stdout + late.stderr
    store = Store.open(settings.state_dir, durable=False, read_only=True)
    try:
        equity = {e.session: e for e in store.equity_series()}
    finally:
        store.close()
    marks = [equity[d].equity for d in missed]
    for d in missed:
        e = equity[d]
        own_close = e.cash + sum(q * float(closes.loc[d, s]) for s, q in e.positions.items())
        # the latest session keeps the broker's own figure (rounded to cents by it)
        assert abs(e.equity - own_close) < (0.01 if d == missed[-1] else 1e-6), (d, e.equity)
    assert len(set(marks)) == len(marks), "each session is marked at its own close"
