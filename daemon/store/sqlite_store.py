"""The daemon's state store (:class:`Store`): one SQLite file per state directory.

WAL journal, ``synchronous=FULL`` and explicit ``BEGIN IMMEDIATE`` transactions: every step of
the cycle that must be atomic (intents + decisions + pair state, equity + run completion) is one
transaction, so a crash between two steps leaves the store in a state the next run can resume
from. A second daemon on the same directory is refused by an exclusive ``flock`` on the directory
itself (:func:`daemon.store.files.acquire_lock`); a corrupted or truncated file is reported and
never written to. Every message the store writes (runs, intents, meta, and the statements of
:meth:`Store.sql`: alerts, corporate actions, monitoring) is masked by value first
(:mod:`daemon.infra.redaction`): an error body that echoed an API key never reaches the file.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from daemon.core.statuses import UNFINISHED, IntentStatus, RunStatus
from daemon.infra.redaction import redact_optional, redact_text
from daemon.store.files import (
    StateLock,
    acquire_lock,
    check_not_corrupted,
    check_state_path,
    connect_writable,
)
from daemon.store.records import (
    DecisionRecord,
    EquityRecord,
    FillRecord,
    IntentRecord,
    RevisionRecord,
    RunRecord,
    pair_state_from_json,
    pair_state_to_json,
)
from daemon.store.schema import MIGRATIONS, SCHEMA_VERSION
from shared.errors import StateError

DB_NAME = "pairs_daemon.sqlite"


class Store:
    """Typed access to the state file. Use :meth:`open`; close with :meth:`close`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, lock: StateLock | None):
        self._conn = conn
        self.path = path
        self._lock = lock
        self._in_txn = False

    @classmethod
    def open(
        cls, state_dir: Path, *, lock: bool = True, read_only: bool = False, durable: bool = True
    ) -> Store:
        """Open (creating if needed) the store of ``state_dir``. ``durable=False`` skips the
        fsyncs (``synchronous=OFF``): only for throwaway stores (tests, parity replays)."""
        state_dir = Path(state_dir)
        path = state_dir / DB_NAME
        check_state_path(state_dir, path, read_only=read_only)
        if read_only:
            if not path.exists():
                raise StateError(f"no state file at {path}; the daemon has not run here yet")
            check_not_corrupted(path)
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
            return cls(conn, path, None)
        lock_fh = acquire_lock(state_dir) if lock else None
        try:
            if path.exists():
                check_not_corrupted(path)
            conn = connect_writable(path)
            store = cls(conn, path, lock_fh)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
                conn.execute("PRAGMA foreign_keys=ON")
                store._migrate()
            except sqlite3.OperationalError as exc:
                conn.close()
                raise StateError(
                    f"cannot write state file {path} ({exc}); fix its permissions or point "
                    "state_dir at a writable directory"
                ) from None
        except BaseException:
            if lock_fh is not None:
                lock_fh.close()
            raise
        return store

    def close(self) -> None:
        with suppress(sqlite3.Error):
            self._conn.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit: committed on success, rolled back on any exception."""
        if self._in_txn:  # nested use joins the outer transaction
            yield
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._in_txn = True
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")
        finally:
            self._in_txn = False

    def _q(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        return self._conn.execute(sql, params).fetchall()

    def sql(self, statement: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        """Run one statement on the store's connection (inside :meth:`transaction` to write).
        For modules that own their tables (daemon/monitoring) without growing this class.
        String parameters are masked by value (API keys) before they are bound."""
        return self._q(statement, _redacted(params))

    def has_table(self, name: str) -> bool:
        rows = self._q("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return bool(rows)

    def _migrate(self) -> None:
        with self.transaction():
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
            )
            rows = self._q("SELECT version FROM schema_version")
            current = rows[0][0] if rows else 0
            if current > SCHEMA_VERSION:
                raise StateError(
                    f"state file {self.path} has schema version {current}, newer than this "
                    f"pairs-daemon ({SCHEMA_VERSION}); upgrade pairs-daemon"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version]:
                    self._conn.execute(statement)
            if not rows:
                self._conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            else:
                self._conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

    def schema_version(self) -> int:
        return int(self._q("SELECT version FROM schema_version")[0][0])

    # --- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        rows = self._q("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, redact_text(value))
        )

    # --- runs -------------------------------------------------------------------------------
    def start_run(self, run_id: str, session: date, config_id: str, started_at: str) -> None:
        self._conn.execute(
            "INSERT INTO runs (run_id, session, config_id, status, started_at) "
            "VALUES (?, ?, ?, 'started', ?)",
            (run_id, session.isoformat(), config_id, started_at),
        )

    def finish_run(
        self, run_id: str, status: RunStatus, finished_at: str, message: str | None
    ) -> None:
        self._conn.execute(
            "UPDATE runs SET status = ?, finished_at = ?, message = ? WHERE run_id = ?",
            (status, finished_at, redact_optional(message), run_id),
        )

    def runs(self, session: date | None = None) -> list[RunRecord]:
        sql = (
            "SELECT run_id, session, config_id, status, started_at, finished_at, message FROM runs"
        )
        params: tuple[str, ...] = ()
        if session is not None:
            sql += " WHERE session = ?"
            params = (session.isoformat(),)
        rows = self._q(sql + " ORDER BY rowid", params)
        return [
            RunRecord(r[0], date.fromisoformat(r[1]), r[2], RunStatus(r[3]), *r[4:]) for r in rows
        ]

    def is_completed(self, session: date) -> bool:
        rows = self._q(
            "SELECT 1 FROM runs WHERE session = ? AND status = 'completed'", (session.isoformat(),)
        )
        return bool(rows)

    def completed_sessions(self) -> list[date]:
        rows = self._q(
            "SELECT DISTINCT session FROM runs WHERE status = 'completed' ORDER BY session"
        )
        return [date.fromisoformat(r[0]) for r in rows]

    def last_completed_session(self) -> date | None:
        sessions = self.completed_sessions()
        return sessions[-1] if sessions else None

    def last_error(self) -> RunRecord | None:
        failed = [r for r in self.runs() if r.status == RunStatus.FAILED]
        return failed[-1] if failed else None

    # --- bars -------------------------------------------------------------------------------
    def bars(self, symbols: Sequence[str]) -> pd.DataFrame:
        """Consumed closes (the strategy's scale), sessions × symbols; NaN where absent."""
        rows = self._q("SELECT session, symbol, close FROM bars ORDER BY session")
        column = {s: j for j, s in enumerate(symbols)}
        sessions = sorted({r[0] for r in rows})
        row_of = {s: i for i, s in enumerate(sessions)}
        values = np.full((len(sessions), len(symbols)), np.nan)
        for session, symbol, close in rows:
            if symbol in column:
                values[row_of[session], column[symbol]] = close
        index = [date.fromisoformat(s) for s in sessions]
        return pd.DataFrame(values, index=index, columns=list(symbols))

    def append_bars(self, closes: pd.DataFrame) -> None:
        """Store new sessions' closes; existing (session, symbol) rows are never changed.
        A NaN (a missing leg) is not stored: :meth:`bars` reads it back as NaN."""
        rows = [
            (d.isoformat(), symbol, float(closes.at[d, symbol]))
            for d in closes.index
            for symbol in closes.columns
            if not math.isnan(float(closes.at[d, symbol]))
        ]
        self._conn.executemany(
            "INSERT OR IGNORE INTO bars (session, symbol, close) VALUES (?, ?, ?)", rows
        )

    def record_rescale(self, session: date, symbol: str, factor: float, detected_at: str) -> None:
        self._conn.execute(
            "INSERT INTO rescales (session, symbol, factor, detected_at) VALUES (?, ?, ?, ?)",
            (session.isoformat(), symbol, factor, detected_at),
        )

    def rescales(self) -> list[tuple[date, str, float]]:
        rows = self._q("SELECT session, symbol, factor FROM rescales ORDER BY rowid")
        return [(date.fromisoformat(r[0]), r[1], float(r[2])) for r in rows]

    def record_revision(self, row: RevisionRecord, detected_at: str) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO revisions (symbol, session, kind, stored, fresh, "
            "detected_at) VALUES (?, ?, ?, ?, ?, ?)",
            (row.symbol, row.session.isoformat(), row.kind, row.stored, row.fresh, detected_at),
        )

    def revisions(self) -> list[RevisionRecord]:
        rows = self._q(
            "SELECT symbol, session, kind, stored, fresh FROM revisions ORDER BY session, symbol"
        )
        return [RevisionRecord(r[0], date.fromisoformat(r[1]), *r[2:]) for r in rows]

    def replace_bars(self, closes: pd.DataFrame) -> None:
        """``pairs-daemon rewarm`` only: the whole stored history becomes ``closes``."""
        self._conn.execute("DELETE FROM bars")
        self._conn.execute("DELETE FROM revisions")
        self.append_bars(closes)

    # --- intents, submissions, fills --------------------------------------------------------
    def add_intents(self, intents: Sequence[IntentRecord], created_at: str) -> None:
        self._conn.executemany(
            "INSERT INTO intents (client_order_id, session, pair_index, leg, symbol, side, "
            "quantity, reference_price, attempt, status, message, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    i.client_order_id,
                    i.session.isoformat(),
                    i.pair_index,
                    i.leg,
                    i.symbol,
                    i.side,
                    i.quantity,
                    i.reference_price,
                    i.attempt,
                    i.status,
                    redact_optional(i.message),
                    created_at,
                )
                for i in intents
            ],
        )

    def intents(
        self, session: date | None = None, *, unfinished: bool = False
    ) -> list[IntentRecord]:
        sql = (
            "SELECT i.client_order_id, i.session, i.pair_index, i.leg, i.symbol, i.side, "
            "i.quantity, i.reference_price, i.attempt, i.status, s.broker_order_id, i.message "
            "FROM intents i LEFT JOIN submissions s USING (client_order_id) WHERE 1 = 1"
        )
        params: list[Any] = []
        if session is not None:
            sql += " AND i.session = ?"
            params.append(session.isoformat())
        if unfinished:
            sql += f" AND i.status IN ({', '.join('?' * len(UNFINISHED))})"
            params += UNFINISHED
        rows = self._q(sql + " ORDER BY i.rowid", params)
        records = [IntentRecord(r[0], date.fromisoformat(r[1]), *r[2:]) for r in rows]
        return [replace(i, status=IntentStatus(i.status)) for i in records]

    def record_submission(
        self, client_order_id: str, broker_order_id: str, status: IntentStatus, submitted_at: str
    ) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO submissions (client_order_id, broker_order_id, submitted_at) "
            "VALUES (?, ?, ?)",
            (client_order_id, broker_order_id, submitted_at),
        )
        self.set_intent_status(client_order_id, status)

    def set_intent_status(
        self, client_order_id: str, status: IntentStatus, message: str | None = None
    ) -> None:
        self._conn.execute(
            "UPDATE intents SET status = ?, message = COALESCE(?, message) "
            "WHERE client_order_id = ?",
            (status, redact_optional(message), client_order_id),
        )

    def record_fill(self, fill: FillRecord, filled_at: str | None) -> None:
        """Idempotent: one row per order holding its cumulative filled quantity."""
        self._conn.execute(
            "INSERT OR REPLACE INTO fills (client_order_id, session, symbol, signed_quantity, "
            "price, commission, filled_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                fill.client_order_id,
                fill.session.isoformat(),
                fill.symbol,
                fill.signed_quantity,
                fill.price,
                fill.commission,
                filled_at,
            ),
        )

    def fills(self) -> list[FillRecord]:
        rows = self._q(
            "SELECT f.client_order_id, f.session, f.symbol, f.signed_quantity, f.price, "
            "f.commission FROM fills f JOIN intents i USING (client_order_id) "
            "ORDER BY f.session, i.rowid"
        )
        return [FillRecord(r[0], date.fromisoformat(r[1]), *r[2:]) for r in rows]

    def expected_positions(self, through: date | None = None) -> dict[str, int]:
        """Signed positions implied by the recorded fills and the splits' position changes
        (optionally up to a session: a split counts from its ex-date)."""
        moves = (
            "SELECT symbol, signed_quantity AS q, session FROM fills UNION ALL "
            "SELECT symbol, quantity AS q, session FROM position_adjustments"
        )
        sql = f"SELECT symbol, SUM(q) FROM ({moves})"
        params: tuple[str, ...] = ()
        if through is not None:
            sql += " WHERE session <= ?"
            params = (through.isoformat(),)
        rows = self._q(sql + " GROUP BY symbol ORDER BY symbol", params)
        return {r[0]: int(r[1]) for r in rows if int(r[1]) != 0}

    # --- decisions and per-pair state -------------------------------------------------------
    def save_decisions(self, decisions: Sequence[DecisionRecord]) -> None:
        self._conn.executemany(
            "INSERT INTO decisions (session, pair_index, pair, action, beta, spread, z, state, "
            "blocked, pair_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    d.session.isoformat(),
                    d.pair_index,
                    d.pair,
                    d.action,
                    d.beta,
                    d.spread,
                    d.z,
                    d.state,
                    d.blocked,
                    pair_state_to_json(d.pair_state),
                )
                for d in decisions
            ],
        )

    def decisions(self, session: date) -> list[DecisionRecord]:
        rows = self._q(
            "SELECT session, pair_index, pair, action, beta, spread, z, state, blocked, "
            "pair_state FROM decisions WHERE session = ? ORDER BY pair_index",
            (session.isoformat(),),
        )
        return [
            DecisionRecord(
                session=date.fromisoformat(r[0]),
                pair_index=r[1],
                pair=r[2],
                action=r[3],
                beta=r[4],
                spread=r[5],
                z=r[6],
                state=r[7],
                blocked=r[8],
                pair_state=pair_state_from_json(r[9]),
            )
            for r in rows
        ]

    def latest_decisions(self) -> list[DecisionRecord]:
        last = self.last_completed_session()
        return self.decisions(last) if last is not None else []

    # --- equity -----------------------------------------------------------------------------
    def record_equity(
        self, session: date, cash: float, equity: float, positions: Mapping[str, int]
    ) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO equity (session, cash, equity, positions) VALUES (?, ?, ?, ?)",
            (session.isoformat(), cash, equity, json.dumps(dict(positions), sort_keys=True)),
        )

    def equity_series(self) -> list[EquityRecord]:
        rows = self._q("SELECT session, cash, equity, positions FROM equity ORDER BY session")
        return [
            EquityRecord(date.fromisoformat(r[0]), float(r[1]), float(r[2]), json.loads(r[3]))
            for r in rows
        ]


def _redacted(
    params: Sequence[Any] | Mapping[str, Any],
) -> Sequence[Any] | Mapping[str, Any]:
    """Statement parameters with every string masked by value."""
    if isinstance(params, Mapping):
        return {k: redact_text(v) if isinstance(v, str) else v for k, v in params.items()}
    return [redact_text(v) if isinstance(v, str) else v for v in params]
