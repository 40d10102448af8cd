"""Typed Alpaca failures, and the classification of what alpaca-py and requests raise.

Every error the adapters raise is a ``shared.errors.BrokerError`` subclass whose message says
what Alpaca answered and what to do. Messages are built from the HTTP status and Alpaca's own
JSON ``message`` only: never from the request, whose headers carry the API keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum

import requests
from alpaca.common.exceptions import APIError

from daemon.core.errors import OrderRejected
from daemon.infra.redaction import redact_text
from shared.errors import BrokerError

# Alpaca's generic validation code (HTTP 422): "client_order_id must be unique", but also
# "invalid time_in_force", "us_equity orders not allowed for account", "qty must be > 0", ...
# Only the message tells a duplicate apart (docs/operations.md, "Order events").
VALIDATION_CODE = 40010001
DUPLICATE_MESSAGE = "client_order_id must be unique"


class AlpacaError(BrokerError):
    """Base of the Alpaca adapters' errors.

    ``rejected`` is True when Alpaca refused one order on its merits (buying power, shorting,
    market hours): the daemon records it against the intent and carries on. ``retryable`` is
    True when the same request may succeed later (rate limit, 5xx, timeout).
    """

    rejected: bool = False
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        broker_message: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.broker_message = broker_message
        super().__init__(message)


class OrderRejectedError(AlpacaError, OrderRejected):
    """Alpaca refused this order (403 insufficient buying power, 422 not shortable, ...)."""

    rejected = True

    def __init__(
        self,
        message: str,
        *,
        client_order_id: str,
        symbol: str,
        status: int | None = None,
        code: int | None = None,
        broker_message: str | None = None,
    ) -> None:
        self.client_order_id = client_order_id
        self.symbol = symbol
        super().__init__(message, status=status, code=code, broker_message=broker_message)


class AlpacaAuthError(AlpacaError):
    """The API keys were refused. Retrying cannot help; the operator must fix the keys."""


class AlpacaUnavailableError(AlpacaError):
    """Alpaca did not answer usefully after the bounded retries (timeouts, 429, 5xx)."""

    retryable = True


class OrderOutcomeUnknownError(AlpacaUnavailableError):
    """A submit may or may not have reached Alpaca and the lookup by client id did not settle
    it. The next run's reconciliation finds the order by its deterministic client id."""

    def __init__(self, message: str, *, client_order_id: str) -> None:
        self.client_order_id = client_order_id
        super().__init__(message)


class AlpacaRequestError(AlpacaError):
    """Alpaca refused a request that is not an order (404 unknown order, 422 bad request)."""


class Kind(Enum):
    """What a failed HTTP exchange means for the caller."""

    TRANSPORT = "transport"  # no HTTP answer: timeout, connection refused or reset
    RATE_LIMITED = "rate_limited"  # 429
    SERVER = "server"  # 5xx
    AUTH = "auth"  # 401, or 403 outside an order submission
    FORBIDDEN = "forbidden"  # 403: an order rejection or an auth failure, see AlpacaBroker
    NOT_FOUND = "not_found"  # 404
    DUPLICATE = "duplicate"  # 422 "client_order_id must be unique", by its message
    CLIENT = "client"  # any other 4xx


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed call, reduced to what is safe to show: no request, no headers."""

    kind: Kind
    status: int | None
    code: int | None
    message: str

    @property
    def transient(self) -> bool:
        return self.kind in (Kind.TRANSPORT, Kind.RATE_LIMITED, Kind.SERVER)

    def describe(self) -> str:
        if self.status is None:
            return self.message
        code = f", code {self.code}" if self.code is not None else ""
        return f"{self.message} (HTTP {self.status}{code})"


def classify(exc: BaseException) -> Failure | None:
    """Reduce an exception from alpaca-py/requests to a ``Failure``; None if it is not one."""
    if isinstance(exc, APIError):
        return _classify_api_error(exc)
    if isinstance(exc, requests.Timeout):
        return Failure(Kind.TRANSPORT, None, None, f"no answer in time ({type(exc).__name__})")
    if isinstance(exc, requests.ConnectionError):
        return Failure(Kind.TRANSPORT, None, None, f"connection failed ({type(exc).__name__})")
    return None


def is_duplicate_message(message: str) -> bool:
    """Alpaca's duplicate refusal, whatever the code (40010001 is also every other validation
    error): the message is the only reliable sign, also for an id whose order was cancelled."""
    return DUPLICATE_MESSAGE in message.lower()


def _classify_api_error(exc: APIError) -> Failure:
    status = exc.status_code
    # The body is the server's text: a proxy or a misconfigured server may echo the key
    # headers. Masked before it is parsed or cut short, so no fragment of a key survives, and
    # again after: JSON escapes (\/, \u0041) can hide a key that decoding reveals.
    code, message = _parse_body(redact_text(str(exc)))
    message = redact_text(message)
    if status == 429:
        kind = Kind.RATE_LIMITED
    elif status is not None and status >= 500:
        kind = Kind.SERVER
    elif status == 401:
        kind = Kind.AUTH
    elif status == 403:
        kind = Kind.FORBIDDEN
    elif status == 404:
        kind = Kind.NOT_FOUND
    elif status == 422 and is_duplicate_message(message):
        kind = Kind.DUPLICATE
    else:
        kind = Kind.CLIENT
    return Failure(kind, status, code, message)


def _parse_body(text: str) -> tuple[int | None, str]:
    """Alpaca answers errors as ``{"code": int, "message": str}``; anything else (a proxy's
    HTML page) is cut short so that a log line stays one line."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        code = body.get("code")
        return (code if isinstance(code, int) else None), body["message"]
    flat = " ".join(text.split())
    return None, (flat[:200] or "empty response")


def auth_error(failure: Failure, what: str) -> AlpacaAuthError:
    return AlpacaAuthError(
        f"Alpaca refused the API keys while {what}: {failure.describe()}. Check "
        "APCA_API_KEY_ID and APCA_API_SECRET_KEY, and that paper keys go with the paper "
        "endpoint (APCA_API_BASE_URL); the daemon will not retry.",
        status=failure.status,
        code=failure.code,
        broker_message=failure.message,
    )
