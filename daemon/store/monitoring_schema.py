"""The monitoring tables of the state store (migration 3).

``model_sessions`` and ``model_orders`` hold the shadow model: the research fill model's account
run on the same bars from the go-live session. ``tracking`` holds one row per completed session:
paper vs model equity and the cumulative attribution of their difference. ``alerts`` holds every
alert raised, open until a later completed session resolves it.
"""

from __future__ import annotations

MONITORING_TABLES = (
    """CREATE TABLE model_sessions (
        session TEXT PRIMARY KEY,
        cash REAL NOT NULL,
        positions TEXT NOT NULL,
        pair_states TEXT NOT NULL,
        closes TEXT NOT NULL,
        equity REAL NOT NULL)""",
    # One row per order the model decided; filled (or not) at the next session. Its status is
    # an IntentStatus value: pending, filled, partially_filled or rejected.
    """CREATE TABLE model_orders (
        client_order_id TEXT PRIMARY KEY,
        decision_session TEXT NOT NULL,
        pair_index INTEGER NOT NULL,
        leg TEXT NOT NULL,
        symbol TEXT NOT NULL,
        signed_quantity INTEGER NOT NULL,
        creation_price REAL NOT NULL,
        status TEXT NOT NULL,
        fill_session TEXT,
        filled_quantity INTEGER NOT NULL DEFAULT 0,
        fill_price REAL,
        commission REAL NOT NULL DEFAULT 0)""",
    """CREATE TABLE tracking (
        session TEXT PRIMARY KEY,
        paper_equity REAL NOT NULL,
        model_equity REAL NOT NULL,
        difference REAL NOT NULL,
        difference_bps REAL NOT NULL,
        day_difference REAL NOT NULL,
        day_difference_bps REAL NOT NULL,
        slippage REAL NOT NULL,
        commission REAL NOT NULL,
        dividends REAL NOT NULL,
        unfilled REAL NOT NULL,
        residual REAL NOT NULL)""",
    """CREATE TABLE alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        code TEXT NOT NULL,
        severity TEXT NOT NULL,
        session TEXT,
        message TEXT NOT NULL,
        raised_at TEXT NOT NULL,
        resolved_at TEXT)""",
)
