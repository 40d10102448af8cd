"""A bounded retry policy with exponential backoff, owned at our edge.

alpaca-py's own retry (fixed 3 s sleeps on 429/504 only) is switched off in ``clients.py``;
this module decides instead, so that timeouts, resets and 5xx are retried too, the total wait
is bounded, and tests inject a sleep that does not sleep.

Errors are raised *outside* the ``except`` block on purpose: the typed error then carries no
chained alpaca-py exception, whose request object holds the API keys in its headers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import structlog

from daemon.adapters.alpaca.errors import (
    AlpacaAuthError,
    AlpacaRequestError,
    AlpacaUnavailableError,
    Failure,
    Kind,
    auth_error,
    classify,
)
from daemon.core.ports import EventLog

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` calls at most; the wait before retry n (0-based) is
    ``min(max_delay_s, base_delay_s * 2**n)``."""

    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    # The daemon's bound logger (JSON, redacting); structlog's default one when not given.
    logger: EventLog | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be >= 1, got {self.attempts}")

    @property
    def log(self) -> EventLog:
        return (
            self.logger
            if self.logger is not None
            else structlog.get_logger("daemon.adapters.alpaca")
        )

    def delay(self, retry_number: int) -> float:
        return float(min(self.max_delay_s, self.base_delay_s * 2**retry_number))


@dataclass(frozen=True, slots=True)
class Ok(Generic[T]):
    value: T


def attempt_once(fn: Callable[[], T]) -> Ok[T] | Failure:
    """Call ``fn`` once; an HTTP/transport failure comes back as a ``Failure`` value, any other
    exception (a bug, a validation error) propagates."""
    try:
        return Ok(fn())
    except Exception as exc:
        failure = classify(exc)
        if failure is None:
            raise
    return failure


def with_retry(fn: Callable[[], T], *, what: str, policy: RetryPolicy) -> Ok[T] | Failure:
    """Call ``fn`` until it succeeds or fails for a reason retrying cannot fix; transient
    failures (timeouts, resets, 429, 5xx) are retried with backoff and, once the attempts are
    spent, raised as ``AlpacaUnavailableError``."""
    failure: Failure | None = None
    for number in range(policy.attempts):
        outcome = attempt_once(fn)
        if isinstance(outcome, Ok) or not outcome.transient:
            return outcome
        failure = outcome
        if number + 1 < policy.attempts:
            delay = policy.delay(number)
            policy.log.warning(
                "alpaca_retry",
                request=what,
                attempt=number + 1,
                error=failure.describe(),
                sleep_s=delay,
            )
            policy.sleep(delay)
    assert failure is not None  # attempts >= 1
    raise unavailable(failure, what, policy.attempts)


def unavailable(failure: Failure, what: str, attempts: int) -> AlpacaUnavailableError:
    return AlpacaUnavailableError(
        f"Alpaca did not answer while {what} after {attempts} attempt(s): "
        f"{failure.describe()}. Check the network and https://status.alpaca.markets; the "
        "next run retries.",
        status=failure.status,
        code=failure.code,
        broker_message=failure.message,
    )


def fail(failure: Failure, what: str) -> AlpacaAuthError | AlpacaRequestError:
    """The error for a failure the caller has no special handling for."""
    if failure.kind is Kind.FORBIDDEN and "subscription" in failure.message.lower():
        # The keys work; the data plan does not cover the request (recent SIP data).
        return AlpacaRequestError(
            f"Alpaca's data plan refused the request while {what}: {failure.describe()}. The "
            "free plan serves SIP data up to 15 minutes before now: keep "
            "alpaca.sip_delay_minutes at 15 or more, or set alpaca.feed = 'iex'.",
            status=failure.status,
            code=failure.code,
            broker_message=failure.message,
        )
    if failure.kind in (Kind.AUTH, Kind.FORBIDDEN):
        return auth_error(failure, what)
    return AlpacaRequestError(
        f"Alpaca refused the request while {what}: {failure.describe()}.",
        status=failure.status,
        code=failure.code,
        broker_message=failure.message,
    )


def call(fn: Callable[[], T], *, what: str, policy: RetryPolicy) -> T:
    """``with_retry`` for calls whose every non-transient failure is an error."""
    outcome = with_retry(fn, what=what, policy=policy)
    if isinstance(outcome, Ok):
        return outcome.value
    raise fail(outcome, what)
