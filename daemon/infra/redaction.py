"""Redaction by value: the actual secret strings (the Alpaca key id and secret) are masked in any
text that leaves the process or enters the store, whatever surrounds them.

Pattern-based masking (``secret=...``) misses a key echoed bare in an error body by a proxy or a
misconfigured server; masking the known values does not. The values are registered where they
enter the process (:func:`daemon.adapters.alpaca.clients.load_credentials`, and the command line from its
environment) and the registry is process-wide because secrets are: every logger, error message
and store write in the process must hide the same strings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

MASK = "[REDACTED]"
# Shorter strings are not credentials and masking them would mangle ordinary text.
MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values to mask from now on (blank or very short ones are ignored)."""
    global _secrets
    found = {v.strip() for v in values if v and len(v.strip()) >= MIN_SECRET_LENGTH}
    if not found:
        return
    with _lock:
        _secrets = _secrets | found


def forget_secrets() -> None:
    """Clear the registry (tests that run several processes' worth of keys in one process)."""
    global _secrets
    with _lock:
        _secrets = frozenset()


def registered() -> int:
    return len(_secrets)


def redact_text(text: str) -> str:
    """``text`` with every registered secret replaced by ``[REDACTED]``; longest first, so a
    secret that contains another is masked whole."""
    secrets = _secrets
    if not secrets or not text:
        return text
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_optional(text: str | None) -> str | None:
    return None if text is None else redact_text(text)


def redact_tree(value: object) -> object:
    """``redact_text`` over every string in nested dicts and lists (JSON-like data)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v) for v in value]
    return value
