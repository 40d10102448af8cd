"""Structured logs: JSON lines to stdout (journald) or a console renderer for terminals.

Every event carries what was bound to the logger (``run_id``, ``session``, ``pair``,
``config_id``). Tracebacks are rendered as plain text without local variables, and a redaction
processor masks the registered secret values (:mod:`daemon.infra.redaction`) wherever they appear, plus
anything that looks like a secret by key or as ``key=value`` inside a string, so an API key cannot
reach the journal even through an exception message or an error body that echoes it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, WrappedLogger

from daemon.infra.journal import JournalLogger, JournalWriter, stdout_is_journal, with_priority
from daemon.infra.redaction import redact_text, redact_tree

REDACTED = "[REDACTED]"
_SECRET_KEY = re.compile(
    r"(secret|password|passwd|token|api_?key|key_?id|authorization|credential)", re.I
)
# "secret=abc", "APCA-API-SECRET-KEY: abc", "token abc" inside free text.
_SECRET_IN_TEXT = re.compile(
    r"(?i)((?:secret|password|passwd|token|api[_-]?key|key[_-]?id|authorization)"
    r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;]+)"
)


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return _SECRET_IN_TEXT.sub(lambda m: m.group(1) + REDACTED, redact_text(value))
    if isinstance(value, dict):
        return {
            k: REDACTED if _SECRET_KEY.search(str(k)) else redact_value(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(redact_value(v) for v in value)
    if isinstance(value, BaseException):
        return redact_value(f"{type(value).__name__}: {value}")
    return value


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask registered secret values anywhere, secret-looking keys, and
    ``key=value`` secrets in strings."""
    for key in list(event_dict):
        if _SECRET_KEY.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(event_dict[key])
    return event_dict


def _processors(log_format: Literal["json", "console"], journal: bool = False) -> list[Any]:
    shared: list[Any] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Plain-text traceback: no local variables (they could hold secrets).
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    if log_format == "console":
        renderer: Any = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    else:
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    line = _redacting(renderer)
    return [*shared, with_priority(line) if journal else line]


def _redacting(renderer: Any) -> Any:
    """The renderer, then value redaction of the whole line: a last net for a secret inside an
    object the renderer turned into text (a repr) after the field-wise processor ran."""

    def render(logger: WrappedLogger, name: str, event_dict: EventDict) -> Any:
        line = renderer(logger, name, event_dict)
        if not isinstance(line, str):
            return line
        masked = redact_text(line)
        if masked == line or not isinstance(renderer, structlog.processors.JSONRenderer):
            return masked
        # A JSON line stays JSON: mask inside its strings, never across its syntax.
        try:
            json.loads(masked)
        except ValueError:
            return json.dumps(redact_tree(json.loads(line)), default=str)
        return masked

    return render


def _journal(stream: TextIO | None, journal: JournalWriter | None) -> JournalWriter | None:
    """The journal to write to: the one given, or journald's own when stdout is the journal
    (under systemd; see :mod:`daemon.infra.journal`), else None (plain lines to the stream)."""
    if journal is not None or stream is not None:
        return journal
    return JournalWriter() if stdout_is_journal(os.environ) else None


def make_logger(
    log_format: Literal["json", "console"] = "json",
    stream: TextIO | None = None,
    journal: JournalWriter | None = None,
    **context: Any,
) -> FilteringBoundLogger:
    """A bound logger writing to ``stream`` (stdout by default; under systemd, the journal
    with a priority per line). No global configuration."""
    target = stream if stream is not None else sys.stdout
    writer = _journal(stream, journal)
    sink: Any = JournalLogger(writer) if writer else structlog.PrintLogger(file=target)
    logger = structlog.wrap_logger(
        sink,
        processors=_processors(log_format, journal=writer is not None),
        wrapper_class=structlog.make_filtering_bound_logger(0),
        context_class=dict,
    )
    return logger.bind(**context)


def configure_structlog(
    log_format: Literal["json", "console"], stream: TextIO | None = None
) -> None:
    """Route module-level ``structlog.get_logger()`` loggers (e.g. the Alpaca adapters') through
    the same renderer and redaction. Called once by the command line, never at import time."""
    writer = _journal(stream, None)
    factory: Any = (lambda *_: JournalLogger(writer)) if writer else None
    structlog.configure(
        processors=_processors(log_format, journal=writer is not None),
        wrapper_class=structlog.make_filtering_bound_logger(0),
        # file=None: each logger resolves sys.stdout when it is created, not now.
        logger_factory=factory or structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
