"""The SQLite state store: pragmas, migrations, transactions, lock, corruption, records."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from daemon.core.statuses import IntentStatus
from daemon.monitoring.shadow import model_orders
from daemon.store import (
    DB_NAME,
    FillRecord,
    IntentRecord,
    Store,
    pair_state_from_json,
    pair_state_to_json,
)
from daemon.store.schema import MIGRATIONS, SCHEMA_VERSION
from shared.errors import StateError
from shared.kalman import KalmanState
from shared.strategy import PairState

D1, D2 = date(2024, 1, 2), date(2024, 1, 3)


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(tmp_path / "state")
    yield s
    s.close()


def _intent(cid: str, session: date = D1, side: str = "buy", qty: int = 10) -> IntentRecord:
    return IntentRecord(cid, session, 0, "A", "AAA", side, qty, 12.5)


def test_store_uses_wal_and_full_synchronous_and_records_its_schema_version(store: Store) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.schema_version() == SCHEMA_VERSION


def test_reopening_keeps_data_and_does_not_rerun_migrations(tmp_path: Path) -> None:
    s = Store.open(tmp_path)
    with s.transaction():
        s.set_meta("config_id", "abc")
    s.close()
    s = Store.open(tmp_path)
    assert s.get_meta("config_id") == "abc"
    s.close()


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="upgrade pairs-daemon"):
        Store.open(tmp_path)


def _store_at_version(path: Path, version: int) -> sqlite3.Connection:
    """A state file as the daemon of schema ``version`` left it (migrations 1..version)."""
    path.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path / DB_NAME)
    for v in range(1, version + 1):
        for statement in MIGRATIONS[v]:
            conn.execute(statement)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
    return conn


def test_migration_5_gives_the_shadow_models_orders_the_intents_status_names(
    tmp_path: Path,
) -> None:
    """A store whose model orders were written as ``partly_filled`` keeps working: read as
    partially filled before it is migrated (a read-only open), rewritten by the next open."""
    conn = _store_at_version(tmp_path, 4)
    for cid, status, filled in [
        ("c1", "partly_filled", 4),
        ("c2", "filled", 10),
        ("c3", "pending", 0),
    ]:
        conn.execute(
            "INSERT INTO model_orders (client_order_id, decision_session, pair_index, leg, "
            "symbol, signed_quantity, creation_price, status, filled_quantity) "
            "VALUES (?, '2024-01-02', 0, 'A', 'AAA', 10, 12.5, ?, ?)",
            (cid, status, filled),
        )
    conn.commit()
    conn.close()
    expected = [IntentStatus.PARTIALLY_FILLED, IntentStatus.FILLED, IntentStatus.PENDING]
    reader = Store.open(tmp_path, read_only=True)
    assert reader.schema_version() == 4
    assert [o.status for o in model_orders(reader)] == expected
    reader.close()
    store = Store.open(tmp_path)
    assert store.schema_version() == SCHEMA_VERSION
    rows = store.sql("SELECT client_order_id, status FROM model_orders ORDER BY rowid")
    assert rows == [("c1", "partially_filled"), ("c2", "filled"), ("c3", "pending")]
    assert [o.status for o in model_orders(store)] == expected
    partial = model_orders(store, status=IntentStatus.PARTIALLY_FILLED)
    assert [o.client_order_id for o in partial] == ["c1"]
    store.close()


def test_a_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.add_intents([_intent("c1")], "t")
        raise RuntimeError("crash mid-transaction")
    assert store.intents() == []


def test_a_second_daemon_on_the_same_state_dir_is_refused(tmp_path: Path) -> None:
    first = Store.open(tmp_path)
    with pytest.raises(StateError, match="another pairs-daemon"):
        Store.open(tmp_path)
    first.close()
    Store.open(tmp_path).close()  # free again once the first one is gone


def test_read_only_status_access_does_not_need_the_lock(tmp_path: Path) -> None:
    writer = Store.open(tmp_path)
    reader = Store.open(tmp_path, read_only=True)
    assert reader.schema_version() == SCHEMA_VERSION
    reader.close()
    writer.close()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupted_state_file_is_reported_and_left_untouched(tmp_path: Path, damage: str) -> None:
    s = Store.open(tmp_path)
    with s.transaction():
        s.add_intents([_intent(f"c{i}") for i in range(300)], "t")
    s.close()
    path = tmp_path / DB_NAME
    raw = path.read_bytes()
    bad = b"this is not a database" * 100 if damage == "garbage" else raw[: len(raw) // 2]
    path.write_bytes(bad)
    with pytest.raises(StateError, match="nothing was changed"):
        Store.open(tmp_path)
    assert path.read_bytes() == bad


def test_pair_state_round_trips_bit_for_bit() -> None:
    state = PairState(KalmanState(beta=1.0 / 3.0, P=2.0**-40), (0.1, -7.123456789012345), -1, 42)
    assert pair_state_from_json(pair_state_to_json(state)) == state


def test_bars_append_only_new_sessions_and_never_overwrite(store: Store) -> None:
    first = pd.DataFrame({"AAA": [10.0], "BBB": [20.0]}, index=[D1])
    with store.transaction():
        store.append_bars(first)
        store.append_bars(pd.DataFrame({"AAA": [99.0, 11.0], "BBB": [99.0, 21.0]}, index=[D1, D2]))
    bars = store.bars(["AAA", "BBB"])
    assert bars.loc[D1, "AAA"] == 10.0 and bars.loc[D2, "BBB"] == 21.0


def test_fills_are_recorded_idempotently_and_imply_positions(store: Store) -> None:
    with store.transaction():
        store.add_intents([_intent("c1"), _intent("c2", D2, "sell", 4)], "t")
        fill = FillRecord("c1", D2, "AAA", 10, 12.0, 0.06)
        store.record_fill(fill, None)
        store.record_fill(fill, None)  # observed twice (a re-run): still one fill
        store.record_fill(FillRecord("c2", D2, "AAA", -4, 12.0, 0.02), None)
    assert len(store.fills()) == 2
    assert store.expected_positions() == {"AAA": 6}
    assert store.expected_positions(through=D1) == {}


def test_unfinished_intents_are_those_that_may_still_change(store: Store) -> None:
    with store.transaction():
        store.add_intents([_intent("c1"), _intent("c2"), _intent("c3")], "t")
        store.record_submission("c2", "b2", "new", "t")
        store.set_intent_status("c3", "filled")
    assert [i.client_order_id for i in store.intents(unfinished=True)] == ["c1", "c2"]
    assert store.intents(unfinished=True)[1].broker_order_id == "b2"


def test_runs_track_the_last_completed_session_and_the_last_error(store: Store) -> None:
    with store.transaction():
        store.start_run("r1", D1, "cfg", "t0")
        store.finish_run("r1", "completed", "t1", None)
        store.start_run("r2", D2, "cfg", "t2")
        store.finish_run("r2", "failed", "t3", "stale feed")
    assert store.last_completed_session() == D1
    assert store.is_completed(D1) and not store.is_completed(D2)
    err = store.last_error()
    assert err is not None and err.message == "stale feed"
