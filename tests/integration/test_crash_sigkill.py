"""A real daemon process SIGKILLed at every step of the cycle, then restarted: the broker ends
with exactly one order per intent, the store is consistent, and positions, fills and equity equal
an uninterrupted run. On the local paper broker and on the local Alpaca-compatible server (which
lives in the test process, outside the killed daemon).

The daemon runs in ``tests.integration.crash_driver`` processes; the kill comes from the
composition root's test-only hook (``PAIRS_DAEMON_TEST_KILL_AT``). One process start per fault:
each process runs sessions until its fault kills it, and the next one resumes from the store.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tests.alpaca_server.harness import Harness, running_harness
from tests.integration.crash_support import (
    FAULT_STEPS,
    DriveReport,
    Fault,
    StoreView,
    drive,
    local_book,
    plan_faults,
    settings_toml,
    store_view,
)
from tests.unit.daemon_helpers import make_closes, make_config, write_inputs

N_BARS, FIRST_RUN = 110, 40  # the first run rebuilds 40 warm-up bars; 70 sessions run


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return make_closes(N_BARS, seed=5)


def _inputs(tmp: Path, closes: pd.DataFrame) -> tuple[Path, Path]:
    tmp.mkdir()
    # Commission 0 as at Alpaca; a short window so that orders and fills are frequent.
    config = make_config(closes, window=10, entry_z=1.2, exit_z=0.3, stake=40, commission=0.0)
    return write_inputs(tmp, closes, config)


def assert_recovered(
    got: StoreView, expected: StoreView, report: DriveReport, faults: list[Fault]
) -> None:
    sessions = sorted(report.statuses)
    assert report.killed == faults
    assert report.process_starts == len(faults) + 1
    for session, statuses in report.statuses.items():
        killed_at = [f.step for f in faults if f.session == session]
        # A kill after the completing transaction leaves nothing to do on the restart.
        final = "already_done" if killed_at == ["completed"] else "completed"
        assert statuses == ["killed"] * len(killed_at) + [final], session
    assert got.intents == expected.intents
    assert got.fills == expected.fills
    assert got.equity == expected.equity
    assert got.expected_positions == expected.expected_positions
    # Exactly one completed run per session, in order; only the last session's orders open.
    assert got.completed_runs == [d.isoformat() for d in sessions]
    assert got.unfinished == expected.unfinished
    assert {cid for cid, *_ in got.unfinished} <= {
        i[0] for i in got.intents if i[1] == sessions[-1].isoformat()
    }


def test_sigkill_at_every_step_on_the_local_broker_changes_nothing(
    tmp_path: Path, market: pd.DataFrame
) -> None:
    sessions = list(market.index[FIRST_RUN:])
    runs = {}
    for name in ("uninterrupted", "killed"):
        prices, cfg = _inputs(tmp_path / name, market)
        state = tmp_path / name / "state"
        runs[name] = (
            settings_toml(tmp_path / name / "daemon.toml", cfg, state, prices=prices),
            state,
        )
    drive(runs["uninterrupted"][0], sessions)
    expected = store_view(runs["uninterrupted"][1])
    faults = plan_faults(sessions, expected)
    assert {f.step for f in faults} == {step for step, _ in FAULT_STEPS}

    report = drive(runs["killed"][0], sessions, faults)

    got = store_view(runs["killed"][1])
    assert_recovered(got, expected, report, faults)
    ids, held = local_book(runs["killed"][1])
    assert len(ids) == len(set(ids)), "an order was sent twice"
    assert ids == [i[0] for i in got.intents]  # one broker order per intent, in intent order
    assert held == got.expected_positions == got.equity[-1][3]


def _alpaca_run(
    tmp: Path, market: pd.DataFrame, sessions: list[date], faults: list[Fault], harness: Harness
) -> tuple[DriveReport, StoreView]:
    _, cfg = _inputs(tmp, market)
    url = harness.server.url
    alpaca = (
        f'[broker]\nkind = "alpaca"\n\n[alpaca]\ntrading_url = "{url}"\ndata_url = "{url}"\n'
        "timeout_s = 5.0\n"
    )
    settings = settings_toml(tmp / "daemon.toml", cfg, tmp / "state", alpaca)
    for symbol in market.columns:
        harness.book.add_bars(symbol, market[symbol].iloc[:FIRST_RUN].to_dict())

    def close_session(session: date) -> None:  # the exchange closes it before the daily run
        harness.book.advance_session(market.loc[session].to_dict(), session)

    report = drive(settings, sessions, faults, env=harness.env, before_session=close_session)
    return report, store_view(tmp / "state", price_digits=6)


def test_sigkill_at_every_step_against_the_alpaca_server_changes_nothing(
    tmp_path: Path, market: pd.DataFrame
) -> None:
    sessions = list(market.index[FIRST_RUN:])
    with running_harness() as harness:
        _, expected = _alpaca_run(tmp_path / "uninterrupted", market, sessions, [], harness)
        expected_orders = [o.client_order_id for o in harness.book.orders]
    faults = plan_faults(sessions, expected)
    with running_harness() as harness:
        report, got = _alpaca_run(tmp_path / "killed", market, sessions, faults, harness)
        ids = [o.client_order_id for o in harness.book.orders]
        posts = harness.book.count("POST", "/v2/orders")
        held = dict(harness.book.positions)
    assert_recovered(got, expected, report, faults)
    assert ids == expected_orders == [i[0] for i in got.intents]
    assert posts == len(ids), "an order was posted again after a crash instead of looked up"
    assert {s: q for s, q in held.items() if q} == got.expected_positions
