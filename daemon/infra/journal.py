"""Log lines to the systemd journal with a priority each (journald's native protocol).

Under systemd, stdout is a stream into the journal and every line gets the unit's default
priority (info), so ``journalctl -p warning`` could not tell an alert from a status line. When
``$JOURNAL_STREAM`` says stdout *is* the journal, the daemon sends each line as one datagram to
journald's socket instead, with ``PRIORITY`` set from the event:

- an ``alert`` event: 4 (warning) or 2 (crit) from its severity;
- anything logged at error level (``session_failed``, ``catch_up_halted``, ...): 3 (err);
- other warnings (a rescale noticed, an order rejected): 5 (notice), worth reading, not paging;
- info 6, debug 7.

So ``journalctl -u pairs-daemon -p warning`` lists exactly the alerts and the failures.
``MESSAGE`` stays the JSON line, so ``journalctl -o cat`` prints what stdout would have, and
``PAIRS_EVENT`` / ``PAIRS_ALERT_CODE`` fields allow ``journalctl PAIRS_ALERT_CODE=stale_feed``.
If the socket cannot be reached the line goes to stdout with a ``<N>`` prefix, which journald
also reads as the priority.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from structlog.typing import EventDict, WrappedLogger

JOURNAL_SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "pairs-daemon"

EMERG, ALERT, CRIT, ERR, WARNING, NOTICE, INFO, DEBUG = range(8)
_LEVELS = {"debug": DEBUG, "info": INFO, "msg": INFO, "warning": NOTICE, "warn": NOTICE}
_FAILURES = {"error": ERR, "exception": ERR, "critical": CRIT, "fatal": CRIT}


def line_priority(method: str, event_dict: Mapping[str, Any]) -> int:
    """The syslog priority of one log event (see the module doc)."""
    if event_dict.get("event") == "alert":
        return CRIT if event_dict.get("severity") == "critical" else WARNING
    if method in _FAILURES:
        return _FAILURES[method]
    return _LEVELS.get(method, INFO)


def stdout_is_journal(environ: Mapping[str, str], stream: TextIO | None = None) -> bool:
    """``$JOURNAL_STREAM`` is ``device:inode`` of the journal stream systemd connected; it only
    counts if it is still the stream we write to (a child may have redirected stdout)."""
    raw = environ.get("JOURNAL_STREAM", "")
    if ":" not in raw:
        return False
    target = stream if stream is not None else sys.stdout
    try:
        st = os.fstat(target.fileno())
        device, inode = (int(v) for v in raw.split(":", 1))
    except (OSError, ValueError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (device, inode)


def encode_fields(fields: Mapping[str, str | int]) -> bytes:
    """journald's datagram format: ``KEY=value\\n``, or for a value with a newline
    ``KEY\\n<64-bit little-endian length>value\\n``."""
    out = bytearray()
    for key, value in fields.items():
        data = str(value).encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalWriter:
    """Sends lines to journald; falls back to ``fallback`` with a ``<N>`` prefix."""

    def __init__(
        self,
        socket_path: str = JOURNAL_SOCKET,
        *,
        identifier: str = IDENTIFIER,
        fallback: TextIO | None = None,
    ) -> None:
        self.socket_path = socket_path
        self.identifier = identifier
        self._fallback = fallback
        self.last_error: OSError | None = None
        self._sock: socket.socket | None = None

    def send(self, message: str, priority: int, **fields: str | int) -> bool:
        payload = encode_fields(
            {
                "MESSAGE": message,
                "PRIORITY": priority,
                "SYSLOG_IDENTIFIER": self.identifier,
                **fields,
            }
        )
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(payload, self.socket_path)
        except OSError as exc:
            self.last_error = exc
            target = self._fallback if self._fallback is not None else sys.stdout
            print(f"<{priority}>{message}", file=target, flush=True)
            return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class JournalLogger:
    """A structlog logger whose every level method sends one journal entry. The rendering
    processor (:func:`with_priority`) passes the priority and the extra fields."""

    def __init__(self, writer: JournalWriter) -> None:
        self.writer = writer

    def msg(self, message: str, priority: int = INFO, fields: dict[str, str] | None = None) -> None:
        self.writer.send(message, priority, **(fields or {}))

    debug = info = warning = warn = error = critical = fatal = exception = log = msg


def with_priority(renderer: Any) -> Any:
    """Wrap the final renderer: keep its line, add what :class:`JournalLogger` needs."""

    def render(logger: WrappedLogger, method: str, event_dict: EventDict) -> Any:
        priority = line_priority(method, event_dict)
        fields = {"PAIRS_EVENT": str(event_dict.get("event", ""))}
        if event_dict.get("event") == "alert" and "code" in event_dict:
            fields["PAIRS_ALERT_CODE"] = str(event_dict["code"])
        line = renderer(logger, method, event_dict)
        return (line,), {"priority": priority, "fields": fields}

    return render
