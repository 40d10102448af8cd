"""``pairs-daemon replay``: drive ``run_once`` session by session over a CSV of closes.

Each session gets a fresh context (store, local paper broker, clock) built from the state
directory, so nothing passes between sessions except through the store, as in production. The
result is the JSON summary a parity check compares with ``shared.simulation.simulate``.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TextIO

from daemon.adapters.csv.bars import CsvBarSource
from daemon.commands.app import build_context
from daemon.config.settings import BrokerSettings, DaemonSettings, DataSettings
from daemon.core.ports import EventLog
from daemon.core.statuses import RunStatus
from daemon.cycle.run import run_once
from daemon.infra.logging import make_logger
from daemon.store import DB_NAME, Store
from daemon.timing.clock import FixedClock
from shared.errors import DataError

# Replays stamp each run at 21:30 UTC of its session: after the close, timezone-aware.
REPLAY_TIME = time(21, 30, tzinfo=UTC)


def replay_settings(prices: Path, config: Path, state_dir: Path) -> DaemonSettings:
    return DaemonSettings(
        config=config,
        state_dir=state_dir,
        broker=BrokerSettings(kind="local"),
        data=DataSettings(feed="csv", csv_path=prices, calendar_check=False),
        source="<replay>",
    )


def replay(
    settings: DaemonSettings,
    start: date,
    end: date,
    log_stream: TextIO | None = None,
    durable: bool = True,
) -> dict[str, Any]:
    """Run every CSV date in ``start..end`` in order; stop at the first failed session.
    ``durable=False`` skips fsyncs (a throwaway state directory for parity checks)."""
    assert settings.data.csv_path is not None
    sessions = [d for d in CsvBarSource(settings.data.csv_path).sessions() if start <= d <= end]
    if not sessions:
        raise DataError(f"no dates in {settings.data.csv_path} between {start} and {end}")
    logger = make_logger("json", log_stream if log_stream is not None else sys.stderr)
    failed: dict[str, str] | None = None
    sessions = _not_passed(settings, sessions, logger)
    for session in sessions:
        clock = FixedClock(datetime.combine(session, REPLAY_TIME))
        ctx = build_context(settings, {}, clock=clock, logger=logger, durable=durable)
        try:
            result = run_once(ctx, session)
        finally:
            ctx.close()
        if result.status == RunStatus.FAILED:
            failed = {"session": session.isoformat(), "message": result.message}
            break
    return {**replay_report(settings.state_dir), "failed": failed}


def _not_passed(settings: DaemonSettings, sessions: list[date], logger: EventLog) -> list[date]:
    """Dates the file gained after the daemon moved past them (a row filled in late) are not
    sessions to run: the cycle reports them as ``bars_revised`` and never re-runs the past."""
    if not (Path(settings.state_dir) / DB_NAME).exists():
        return sessions
    store = Store.open(settings.state_dir, read_only=True)
    try:
        done = set(store.completed_sessions())
    finally:
        store.close()
    last = max(done, default=None)
    passed = [d for d in sessions if last is not None and d < last and d not in done]
    if passed:
        logger.warning(
            "sessions_passed",
            sessions=[d.isoformat() for d in passed],
            note="dates the price file gained after later sessions completed; not run",
        )
    return [d for d in sessions if d not in passed]


def replay_report(state_dir: Path) -> dict[str, Any]:
    store = Store.open(state_dir, read_only=True)
    try:
        equity = store.equity_series()
        return {
            "final_equity": equity[-1].equity if equity else None,
            "sessions": len(equity),
            "fills": [
                {
                    "session": f.session.isoformat(),
                    "symbol": f.symbol,
                    "quantity": f.signed_quantity,
                    "price": f.price,
                    "commission": f.commission,
                }
                for f in store.fills()
            ],
            "orders": [
                {
                    "session": i.session.isoformat(),
                    "client_order_id": i.client_order_id,
                    "symbol": i.symbol,
                    "side": i.side,
                    "quantity": i.quantity,
                    "status": i.status,
                }
                for i in store.intents()
            ],
            "equity": [{"session": e.session.isoformat(), "equity": e.equity} for e in equity],
        }
    finally:
        store.close()
