"""The state directory's files: the exclusive lock, and the integrity check that refuses a
corrupted or truncated database before anything writes to it."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path
from typing import TextIO

from shared.errors import StateError

LOCK_NAME = "daemon.lock"
# The local paper broker's own book, beside the daemon's store in the state directory.
BROKER_DB_NAME = "local_broker.sqlite"
_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_not_corrupted(path: Path) -> None:
    """Refuse a file that is not an intact SQLite database, before anything writes to it."""
    advice = (
        "nothing was changed; restore it from a backup, or move it aside to start a fresh "
        "state directory after checking the broker's positions"
    )
    with path.open("rb") as fh:
        header = fh.read(len(_SQLITE_MAGIC))
    if header and header != _SQLITE_MAGIC:
        raise StateError(f"state file {path} is not an SQLite database; {advice}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StateError(f"state file {path} is corrupted or truncated ({exc}); {advice}") from None
    if rows != [("ok",)]:
        detail = "; ".join(str(r[0]) for r in rows[:3])
        raise StateError(f"state file {path} failed its integrity check ({detail}); {advice}")


def check_state_path(state_dir: Path, path: Path, *, read_only: bool) -> None:
    """Refuse, before anything is created or written, a state directory that cannot hold a
    store, and a zero-length store file (a truncated file, never "no history": re-creating it
    would silently drop every run, fill and position the daemon knows of)."""
    where = "point state_dir (or --state-dir) at a directory the daemon's user can write"
    if state_dir.exists() and not state_dir.is_dir():
        raise StateError(f"state directory {state_dir} is a file, not a directory; {where}")
    if not read_only:
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create state directory {state_dir} ({exc.strerror}); {where}"
            ) from None
        if not os.access(state_dir, os.W_OK):
            raise StateError(
                f"state directory {state_dir} is not writable (read-only file system or "
                f"permissions); {where} (systemd: StateDirectory=, ReadWritePaths=)"
            )
    if path.exists() and not path.is_file():
        raise StateError(f"state file {path} is not a regular file; move it aside")
    if path.exists() and path.stat().st_size == 0:
        raise StateError(
            f"state file {path} is empty (zero bytes) where the daemon's history should be; "
            "nothing was changed. Restore it from a backup; only if this state directory "
            "never traded, delete the empty file to start afresh"
        )


def connect_writable(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(path, isolation_level=None)
    except sqlite3.OperationalError as exc:
        raise StateError(
            f"cannot open state file {path} for writing ({exc}); check the directory's "
            "permissions and free space"
        ) from None


def acquire_lock(state_dir: Path) -> TextIO:
    """An exclusive, non-blocking flock on the state directory; held until the file closes."""
    fh = (state_dir / LOCK_NAME).open("a+", encoding="utf-8")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "unknown"
        fh.close()
        raise StateError(
            f"another pairs-daemon (pid {holder}) is using state directory {state_dir}; "
            "stop it first (two daemons on one store could send duplicate orders)"
        ) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh
