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


class StateLock:
    """The state directory's lock, held until :meth:`close` (or the process ends)."""

    def __init__(self, state_dir: Path, dir_fd: int, marker: TextIO) -> None:
        self.state_dir = state_dir
        self._dir_fd: int | None = dir_fd
        self._marker: TextIO | None = marker

    def close(self) -> None:
        if self._marker is not None:
            self._marker.close()
            self._marker = None
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None


def acquire_lock(state_dir: Path) -> StateLock:
    """Make this process the only writer of ``state_dir``'s store, or raise ``StateError``.

    The exclusion is an exclusive, non-blocking ``flock`` on the state directory itself (opened
    read-only). A directory cannot be deleted and re-created under a running daemon without
    taking the store with it, so, unlike a lock file, nothing an operator can delete releases
    it; the kernel releases it when the holder closes it or dies, even by SIGKILL, so a crash
    leaves no stale lock. ``daemon.lock`` stays as a marker holding the holder's pid (for
    people, and for the refusal message); it is flocked too, so a pairs-daemon of an earlier
    version, which knew only that file, and this one refuse each other during an upgrade.
    Needs a file system with ``flock`` on directories (any local one; not NFS, on which SQLite's
    WAL mode does not work either).
    """
    try:
        dir_fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise StateError(
            f"cannot open state directory {state_dir} to lock it ({exc.strerror}); point "
            "state_dir (or --state-dir) at a directory the daemon's user can read and write"
        ) from None
    try:
        _flock(dir_fd, state_dir)
        marker = _mark(state_dir)
    except BaseException:
        os.close(dir_fd)
        raise
    return StateLock(state_dir, dir_fd, marker)


def _flock(fd: int, state_dir: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _busy(state_dir, _holder(state_dir, fd)) from None
    except OSError as exc:
        raise StateError(
            f"cannot lock state directory {state_dir} ({exc.strerror}): its file system does "
            "not support flock on directories; put state_dir on a local file system"
        ) from None


def _mark(state_dir: Path) -> TextIO:
    """``daemon.lock``: the holder's pid, for people; flocked for older versions (see
    :func:`acquire_lock`)."""
    marker = (state_dir / LOCK_NAME).open("a+", encoding="utf-8")
    try:
        fcntl.flock(marker.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        marker.seek(0)
        holder = _pid(marker.read())
        marker.close()
        raise _busy(state_dir, holder) from None
    except BaseException:
        marker.close()
        raise
    marker.seek(0)
    marker.truncate()
    marker.write(f"{os.getpid()}\n")
    marker.flush()
    return marker


def _busy(state_dir: Path, pid: int | None) -> StateError:
    who = f"pid {pid}" if pid is not None else "pid unknown"
    return StateError(
        f"another pairs-daemon ({who}) is using state directory {state_dir}; stop it first "
        "(systemctl stop pairs-daemon, or end that process), or point this one at another "
        "state directory: two daemons on one store could send duplicate orders. The lock is "
        f"held on the directory itself: deleting {LOCK_NAME} does not release it. Read-only "
        "commands (status, check, report) work meanwhile"
    )


def _pid(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def _holder(state_dir: Path, fd: int) -> int | None:
    """The pid holding the directory's lock: from the kernel's lock table (Linux), else from
    the marker file; None if neither says (the marker was deleted, another kernel)."""
    st = os.fstat(fd)
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        table = Path("/proc/locks").read_text(encoding="ascii", errors="replace")
    except OSError:
        table = ""
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fd:00:5678 0 EOF"
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
            pid = _pid(fields[4])
            if pid:
                return pid
    try:
        return _pid((state_dir / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
