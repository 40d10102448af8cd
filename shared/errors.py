"""Typed errors shared by research and the daemon.

Every error says *what* is wrong, *where* (file, key, symbol or session) and *what to do*, so
that an operator reading one log line can act on it.
"""

from __future__ import annotations


class PairsError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(PairsError):
    """A configuration file or value is malformed, incomplete or out of range."""

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None):
        self.key = key
        self.source = source
        where = []
        if source:
            where.append(source)
        if key:
            where.append(f"key '{key}'")
        prefix = ": ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class DataError(PairsError):
    """Price data is unusable: missing, NaN, non-positive, duplicated, stale or too short."""

    def __init__(self, message: str, *, symbol: str | None = None, session: str | None = None):
        self.symbol = symbol
        self.session = session
        super().__init__(message)


class BrokerError(PairsError):
    """The broker refused or failed a request."""


class StateError(PairsError):
    """The persisted state is inconsistent, corrupted, or disagrees with the broker."""
