"""The state directory's two books must agree on whether there is a history at all.

The daemon's store (``pairs_daemon.sqlite``) and the local paper broker's book
(``local_broker.sqlite``) live side by side. Losing one while the other remembers trades would
otherwise pass silently: a new empty store beside a book with positions re-warms and trades as
if flat, and a new book beside a store with fills resets paper cash to the initial amount.
Both are refused before anything is created or written.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from daemon.store import DB_NAME, Store
from daemon.store.files import BROKER_DB_NAME
from shared.errors import StateError


def _book_orders(book: Path) -> int:
    if book.stat().st_size == 0:
        raise StateError(
            f"local broker book {book} is empty (zero bytes); nothing was changed. Restore it "
            "from a backup; only if this state directory never traded, delete it"
        )
    try:
        conn = sqlite3.connect(f"file:{book}?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StateError(
            f"local broker book {book} cannot be read ({exc}); nothing was changed; restore it "
            "from a backup"
        ) from None


def check_before_open(state_dir: Path) -> None:
    """Before the store is opened (and maybe created): a book with orders needs a store."""
    store_file, book = state_dir / DB_NAME, state_dir / BROKER_DB_NAME
    if state_dir.is_dir() and not store_file.exists() and book.is_file():
        orders = _book_orders(book)
        if orders:
            raise StateError(
                f"state file {store_file} is missing but the local broker book {book} holds "
                f"{orders} order(s): the daemon's history was lost or moved. Nothing was "
                f"changed; restore {DB_NAME} from a backup, or move the whole state directory "
                "aside to start afresh"
            )


def check_after_open(store: Store) -> None:
    """After the store is opened: a store with history needs its book, and vice versa."""
    book = store.path.parent / BROKER_DB_NAME
    fills = len(store.fills())
    history = fills or store.last_completed_session() is not None
    if history and not book.exists():
        raise StateError(
            f"local broker book {book} is missing while the store {store.path} records "
            f"{fills} fill(s) and completed sessions; a new book would reset paper cash and "
            f"positions. Nothing was changed; restore {BROKER_DB_NAME} from a backup"
        )
    if not history and book.exists():
        orders = _book_orders(book)
        if orders:
            raise StateError(
                f"state file {store.path} has no history but the local broker book {book} "
                f"holds {orders} order(s): the store was emptied or replaced. Nothing was "
                f"changed; restore {DB_NAME} from a backup"
            )
