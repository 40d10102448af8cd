"""The daemon's state: :class:`Store` (``sqlite_store.py``) over one SQLite file per state
directory, its record types (``records.py``), schema and migrations (``schema.py``, with the
monitoring tables in ``monitoring_schema.py``), corporate-action bookkeeping (``actions.py``)
and the state directory's files and lock (``files.py``)."""

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
from daemon.store.sqlite_store import DB_NAME, Store

__all__ = [
    "DB_NAME",
    "DecisionRecord",
    "EquityRecord",
    "FillRecord",
    "IntentRecord",
    "RevisionRecord",
    "RunRecord",
    "Store",
    "pair_state_from_json",
    "pair_state_to_json",
]
