"""The crash matrix: every fault of :data:`FAULT_STEPS` injected into one series of sessions,
compared with the same series run without a crash. Used by the tests and by ``make parity``.

Each function returns a :class:`MatrixResult` whose ``problems`` list every difference found
(empty when the killed run recovered exactly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd

from tests.alpaca_server.harness import Harness, running_harness
from tests.integration.crash_support import (
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

# The first run rebuilds 40 warm-up bars, then 35 sessions run: the twelve faults land on
# sessions 1-24 of this series (measured), the rest check that trading goes on consistently.
N_BARS, FIRST_RUN = 75, 40


@dataclass
class MatrixResult:
    broker: str
    sessions: int = 0
    faults: list[Fault] = field(default_factory=list)
    process_starts: int = 0
    orders: int = 0
    problems: list[str] = field(default_factory=list)


def crash_market(n_bars: int = N_BARS) -> pd.DataFrame:
    return make_closes(110, seed=5).iloc[:n_bars]  # seed 5 trades early and often


def _inputs(tmp: Path, closes: pd.DataFrame) -> tuple[Path, Path]:
    tmp.mkdir(parents=True)
    # Commission 0 as at Alpaca; a short window so that orders and fills are frequent.
    config = make_config(closes, window=10, entry_z=1.2, exit_z=0.3, stake=40, commission=0.0)
    return write_inputs(tmp, closes, config)


def recovery_problems(
    got: StoreView, expected: StoreView, report: DriveReport, faults: list[Fault]
) -> list[str]:
    problems = []
    sessions = sorted(report.statuses)
    if report.killed != faults or report.process_starts != len(faults) + 1:
        problems.append(f"killed {report.killed} in {report.process_starts} starts")
    for session, statuses in report.statuses.items():
        killed_at = [f.step for f in faults if f.session == session]
        # A kill after the completing transaction leaves nothing to do on the restart.
        final = "already_done" if killed_at == ["completed"] else "completed"
        if statuses != ["killed"] * len(killed_at) + [final]:
            problems.append(f"{session}: statuses {statuses}")
    for name in ("intents", "fills", "equity", "expected_positions", "unfinished"):
        if getattr(got, name) != getattr(expected, name):
            problems.append(f"store {name} differ from the uninterrupted run")
    # Exactly one completed run per session, in order; only the last session's orders open.
    if got.completed_runs != [d.isoformat() for d in sessions]:
        problems.append("completed runs are not one per session")
    last = {i[0] for i in got.intents if i[1] == sessions[-1].isoformat()}
    if not {cid for cid, _ in got.unfinished} <= last:
        problems.append(f"orders of earlier sessions left open: {got.unfinished}")
    return problems


def local_matrix(tmp: Path, market: pd.DataFrame) -> MatrixResult:
    """The local paper broker: its book is a second SQLite file in the state directory."""
    sessions = list(market.index[FIRST_RUN:])
    runs = {}
    for name in ("uninterrupted", "killed"):
        prices, cfg = _inputs(tmp / name, market)
        settings = settings_toml(
            tmp / name / "daemon.toml", cfg, tmp / name / "state", prices=prices
        )
        runs[name] = (settings, tmp / name / "state")
    drive(runs["uninterrupted"][0], sessions)
    expected = store_view(runs["uninterrupted"][1])
    faults = plan_faults(sessions, expected)
    report = drive(runs["killed"][0], sessions, faults)
    got = store_view(runs["killed"][1])
    result = MatrixResult("local", len(sessions), report.killed, report.process_starts)
    result.problems = recovery_problems(got, expected, report, faults)
    ids, held = local_book(runs["killed"][1])
    result.orders = len(ids)
    if len(ids) != len(set(ids)):
        result.problems.append("an order was sent twice")
    if ids != [i[0] for i in got.intents]:
        result.problems.append("the broker's orders are not one per intent, in intent order")
    if not held == got.expected_positions == got.equity[-1][3]:
        result.problems.append(f"positions: broker {held}, store {got.expected_positions}")
    return result


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


def alpaca_matrix(tmp: Path, market: pd.DataFrame) -> MatrixResult:
    """The Alpaca adapters against the local Alpaca-compatible server, which runs in this
    process (outside the killed daemons) with the test keys in the daemons' environment."""
    sessions = list(market.index[FIRST_RUN:])
    with running_harness() as harness:
        _, expected = _alpaca_run(tmp / "uninterrupted", market, sessions, [], harness)
        expected_orders = [o.client_order_id for o in harness.book.orders]
    faults = plan_faults(sessions, expected)
    with running_harness() as harness:
        report, got = _alpaca_run(tmp / "killed", market, sessions, faults, harness)
        ids = [o.client_order_id for o in harness.book.orders]
        posts = harness.book.count("POST", "/v2/orders")
        held = {s: q for s, q in harness.book.positions.items() if q}
    result = MatrixResult("alpaca", len(sessions), report.killed, report.process_starts, len(ids))
    result.problems = recovery_problems(got, expected, report, faults)
    if not ids == expected_orders == [i[0] for i in got.intents]:
        result.problems.append("the server's orders are not one per intent, in intent order")
    if posts != len(ids):
        result.problems.append(f"{posts} order posts for {len(ids)} orders: one was re-sent")
    if held != got.expected_positions:
        result.problems.append(f"positions: server {held}, store {got.expected_positions}")
    return result
