"""The state store's schema, as numbered migrations.

A store records its version in ``schema_version``; opening it applies every migration above that
version in one transaction. Never edit a released migration: append a new one.
"""

from __future__ import annotations

from daemon.store.generations import GENERATION_TABLES
from daemon.store.health import PAIR_HEALTH_TABLE
from daemon.store.monitoring_schema import MONITORING_TABLES

_V1 = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # One row per attempt at a session; a session is done once one attempt is 'completed'.
    """CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        session TEXT NOT NULL,
        config_id TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('started', 'completed', 'failed', 'skipped')),
        started_at TEXT NOT NULL,
        finished_at TEXT,
        message TEXT)""",
    "CREATE INDEX runs_session ON runs (session)",
    # The closes the strategy consumed, on the scale of the first time they were seen.
    """CREATE TABLE bars (
        session TEXT NOT NULL,
        symbol TEXT NOT NULL,
        close REAL NOT NULL CHECK (close > 0),
        PRIMARY KEY (session, symbol))""",
    """CREATE TABLE rescales (
        session TEXT NOT NULL,
        symbol TEXT NOT NULL,
        factor REAL NOT NULL,
        detected_at TEXT NOT NULL)""",
    # Written before anything is sent; client_order_id is deterministic.
    """CREATE TABLE intents (
        client_order_id TEXT PRIMARY KEY,
        session TEXT NOT NULL,
        pair_index INTEGER NOT NULL,
        leg TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        quantity INTEGER NOT NULL CHECK (quantity > 0),
        reference_price REAL NOT NULL,
        attempt INTEGER NOT NULL,
        status TEXT NOT NULL,
        message TEXT,
        created_at TEXT NOT NULL)""",
    "CREATE INDEX intents_session ON intents (session)",
    """CREATE TABLE submissions (
        client_order_id TEXT PRIMARY KEY REFERENCES intents (client_order_id),
        broker_order_id TEXT NOT NULL,
        submitted_at TEXT NOT NULL)""",
    # One row per order with its cumulative fill (partial fills update it in place).
    """CREATE TABLE fills (
        client_order_id TEXT PRIMARY KEY REFERENCES intents (client_order_id),
        session TEXT NOT NULL,
        symbol TEXT NOT NULL,
        signed_quantity INTEGER NOT NULL,
        price REAL NOT NULL,
        commission REAL NOT NULL,
        filled_at TEXT)""",
    # The decision of each pair on each session, with the strategy state after it.
    """CREATE TABLE decisions (
        session TEXT NOT NULL,
        pair_index INTEGER NOT NULL,
        pair TEXT NOT NULL,
        action TEXT NOT NULL,
        beta REAL NOT NULL,
        spread REAL NOT NULL,
        z REAL,
        state INTEGER NOT NULL,
        blocked TEXT,
        pair_state TEXT NOT NULL,
        PRIMARY KEY (session, pair_index))""",
    """CREATE TABLE equity (
        session TEXT PRIMARY KEY,
        cash REAL NOT NULL,
        equity REAL NOT NULL,
        positions TEXT NOT NULL)""",
)

# Stored bars the feed later restated, and rows it filled in late: reported, never applied
# (the strategy stays on the bars it traded on) until an operator runs `pairs-daemon rewarm`.
_V2 = (
    """CREATE TABLE revisions (
        symbol TEXT NOT NULL,
        session TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('restated', 'filled_late')),
        stored REAL,
        fresh REAL,
        detected_at TEXT NOT NULL,
        PRIMARY KEY (symbol, session))""",
)

# Corporate actions (daemon/core/corporate_actions.py): the events the feed's source published,
# the position changes a split made at the broker, and the cash dividends and cash in lieu
# it booked. Expected positions are the fills plus the adjustments.
_V4 = (
    """CREATE TABLE corporate_actions (
        key TEXT PRIMARY KEY,
        symbol TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('split', 'dividend')),
        ex_date TEXT NOT NULL,
        ratio REAL NOT NULL CHECK (ratio > 0),
        amount REAL NOT NULL CHECK (amount >= 0),
        payable_date TEXT,
        source TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        applied_session TEXT)""",
    """CREATE TABLE position_adjustments (
        action_key TEXT PRIMARY KEY REFERENCES corporate_actions (key),
        session TEXT NOT NULL,
        symbol TEXT NOT NULL,
        held_before INTEGER NOT NULL,
        quantity INTEGER NOT NULL,
        fraction REAL NOT NULL)""",
    """CREATE TABLE cash_flows (
        action_key TEXT NOT NULL REFERENCES corporate_actions (key),
        kind TEXT NOT NULL CHECK (kind IN ('dividend', 'cash_in_lieu')),
        symbol TEXT NOT NULL,
        ex_date TEXT NOT NULL,
        pay_date TEXT NOT NULL,
        shares REAL NOT NULL,
        amount REAL NOT NULL,
        PRIMARY KEY (action_key, kind))""",
)

# The shadow model's orders use the intents' status vocabulary (IntentStatus): a partial fill was
# written 'partly_filled' before.
_V5 = ("UPDATE model_orders SET status = 'partially_filled' WHERE status = 'partly_filled'",)

# Each pair's health at each session (daemon/store/health.py, shared/health.py).
_V6 = (PAIR_HEALTH_TABLE,)

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: _V1,
    2: _V2,
    3: MONITORING_TABLES,
    4: _V4,
    5: _V5,
    6: _V6,
    7: GENERATION_TABLES,  # config generations and each session's roster (generations.py)
}
SCHEMA_VERSION = max(MIGRATIONS)
