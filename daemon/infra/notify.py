"""The systemd notify protocol (``sd_notify``), spoken directly over ``$NOTIFY_SOCKET``.

The protocol is one ``KEY=VALUE`` line per field in a single datagram sent to an AF_UNIX socket
whose path systemd passes in ``$NOTIFY_SOCKET``; a leading ``@`` names a socket in the abstract
namespace (the ``@`` stands for a NUL byte). It is small enough that a dependency would add more
risk than it saves. Outside systemd (no ``$NOTIFY_SOCKET``) every call is a no-op, so the same
service code runs in a terminal, in tests and under systemd.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

from daemon.infra.redaction import redact_text
from shared.errors import ConfigError


def socket_address(raw: str) -> str | bytes:
    """The address to ``sendto`` for a ``$NOTIFY_SOCKET`` value: a filesystem path as is, an
    abstract-namespace name (``@name``) as bytes starting with NUL."""
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    # systemd also allows vsock:CID:PORT; it is only used for VMs, and a service never needs it.
    raise ConfigError(
        f"unsupported NOTIFY_SOCKET {raw!r}: expected an absolute path or an @abstract name",
        key="NOTIFY_SOCKET",
        source="environment",
    )


def watchdog_interval(environ: Mapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between watchdog pings: half of ``$WATCHDOG_USEC`` (systemd's advice), or None
    when no watchdog is armed for this process (unset, zero, or meant for another pid)."""
    raw = environ.get("WATCHDOG_USEC", "").strip()
    if not raw:
        return None
    owner = environ.get("WATCHDOG_PID", "").strip()
    if owner and int(owner) != (os.getpid() if pid is None else pid):
        return None
    try:
        usec = int(raw)
    except ValueError as exc:
        raise ConfigError(
            f"WATCHDOG_USEC={raw!r} is not an integer number of microseconds",
            key="WATCHDOG_USEC",
            source="environment",
        ) from exc
    if usec <= 0:
        return None
    return usec / 2_000_000


class SystemdNotifier:
    """Sends state changes to systemd. ``send`` never raises on a socket error: a missing or
    full notify socket must not take the trading service down (the watchdog will notice)."""

    def __init__(self, socket_path: str | None) -> None:
        self._address = socket_address(socket_path) if socket_path else None
        self.last_error: OSError | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> SystemdNotifier:
        return cls(environ.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, **fields: str | int) -> bool:
        """Send one datagram with ``KEY=value`` lines; True if it was delivered."""
        if self._address is None:
            return False
        payload = "\n".join(f"{key}={_one_line(value)}" for key, value in fields.items())
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(payload.encode(), self._address)
        except OSError as exc:
            self.last_error = exc
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        if status is None:
            return self.send(READY=1, MAINPID=os.getpid())
        return self.send(READY=1, MAINPID=os.getpid(), STATUS=status)

    def status(self, text: str) -> bool:
        return self.send(STATUS=text)

    def watchdog(self) -> bool:
        return self.send(WATCHDOG=1)

    def stopping(self, status: str | None = None) -> bool:
        if status is None:
            return self.send(STOPPING=1)
        return self.send(STOPPING=1, STATUS=status)


def _one_line(value: str | int) -> str:
    # A newline inside a value would start a new (bogus) field. STATUS= lines carry a failed
    # session's message and systemd shows them (systemctl status): masked like the logs.
    return redact_text(" ".join(str(value).splitlines()))
