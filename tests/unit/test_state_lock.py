"""The state directory's lock: held on the directory itself, so deleting ``daemon.lock`` does not
release it; the marker file still names the holder; a daemon of an earlier version, which locked
only the marker, and this one refuse each other."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from daemon.store import Store
from daemon.store.files import LOCK_NAME, acquire_lock
from shared.errors import StateError


def test_deleting_the_marker_does_not_release_the_lock(tmp_path: Path) -> None:
    first = Store.open(tmp_path)
    marker = tmp_path / LOCK_NAME
    assert marker.read_text().strip() == str(os.getpid())
    marker.unlink()
    with pytest.raises(StateError) as info:
        Store.open(tmp_path)
    message = str(info.value)
    assert "another pairs-daemon" in message and str(tmp_path) in message
    assert "stop it first" in message and f"deleting {LOCK_NAME} does not release it" in message
    assert not marker.exists()  # the refused open created nothing
    first.close()
    Store.open(tmp_path).close()  # free once the first one is gone
    assert marker.exists()


def test_the_refusal_names_the_holder_from_the_kernel_or_the_marker(tmp_path: Path) -> None:
    lock = acquire_lock(tmp_path)
    try:
        (tmp_path / LOCK_NAME).write_text("4242\n")  # a marker that says something else
        with pytest.raises(StateError) as info:
            acquire_lock(tmp_path)
        if Path("/proc/locks").exists():  # Linux: the kernel's lock table is the authority
            assert f"(pid {os.getpid()})" in str(info.value)
        else:
            assert "(pid 4242)" in str(info.value)
        (tmp_path / LOCK_NAME).unlink()
        with pytest.raises(StateError, match=r"another pairs-daemon \(pid"):
            acquire_lock(tmp_path)
    finally:
        lock.close()


def test_a_daemon_of_an_earlier_version_holding_the_marker_is_respected(tmp_path: Path) -> None:
    with (tmp_path / LOCK_NAME).open("a+", encoding="utf-8") as old:
        fcntl.flock(old.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        old.write("777\n")
        old.flush()
        with pytest.raises(StateError, match=r"another pairs-daemon \(pid 777\)"):
            Store.open(tmp_path)
    Store.open(tmp_path).close()  # and the directory lock was given back on the way out


def test_the_lock_is_released_by_close(tmp_path: Path) -> None:
    lock = acquire_lock(tmp_path)
    lock.close()
    lock.close()  # idempotent
    again = acquire_lock(tmp_path)
    again.close()


def test_a_state_directory_that_cannot_be_opened_is_reported(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="cannot open state directory"):
        acquire_lock(tmp_path / "missing")
