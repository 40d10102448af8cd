"""The sd_notify client against real AF_UNIX datagram sockets."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.infra.notify import SystemdNotifier, socket_address, watchdog_interval
from shared.errors import ConfigError


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    yield str(path), sock
    sock.close()


def _fields(datagram: bytes) -> dict[str, str]:
    return dict(line.split("=", 1) for line in datagram.decode().split("\n"))


def test_ready_sends_ready_status_and_main_pid_in_one_datagram(
    listener: tuple[str, socket.socket],
) -> None:
    path, sock = listener
    notifier = SystemdNotifier(path)
    assert notifier.ready("catching up")
    assert _fields(sock.recv(4096)) == {
        "READY": "1",
        "MAINPID": str(os.getpid()),
        "STATUS": "catching up",
    }


def test_watchdog_status_and_stopping_are_separate_messages(
    listener: tuple[str, socket.socket],
) -> None:
    path, sock = listener
    notifier = SystemdNotifier.from_environ({"NOTIFY_SOCKET": path})
    notifier.watchdog()
    notifier.status("idle\nnext run 19:05")
    notifier.stopping()
    assert sock.recv(4096) == b"WATCHDOG=1"
    # A newline would start a bogus field, so it is folded into the status line.
    assert sock.recv(4096) == b"STATUS=idle next run 19:05"
    assert sock.recv(4096) == b"STOPPING=1"


def test_abstract_namespace_socket_receives_the_message() -> None:
    name = f"pairs-daemon-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2.0)
    try:
        assert SystemdNotifier(f"@{name}").watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    notifier = SystemdNotifier.from_environ({})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog() is False


def test_a_vanished_socket_is_reported_not_raised(tmp_path: Path) -> None:
    notifier = SystemdNotifier(str(tmp_path / "gone.sock"))
    assert notifier.watchdog() is False
    assert isinstance(notifier.last_error, OSError)


def test_relative_notify_socket_is_rejected_with_the_variable_name() -> None:
    with pytest.raises(ConfigError, match="NOTIFY_SOCKET"):
        socket_address("relative/path.sock")


def test_watchdog_interval_is_half_the_timeout() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0


def test_watchdog_interval_is_none_when_unset_zero_or_for_another_process() -> None:
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None
    other = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}
    assert watchdog_interval(other, pid=1) is None
    assert watchdog_interval(other, pid=4242) == 15.0


def test_malformed_watchdog_usec_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="WATCHDOG_USEC"):
        watchdog_interval({"WATCHDOG_USEC": "30s"})
