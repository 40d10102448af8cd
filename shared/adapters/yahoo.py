"""Yahoo Finance (yfinance): one careful adapter for research and the daemon.

``yfinance.download`` does not raise per ticker: it logs the failure, prints, and returns a
frame with NaN columns, or a frame that stops early for some tickers (Yahoo answers HTTP 429
"Too Many Requests" often). So the vendor call sits behind :class:`PriceFetcher` (injected,
recorded frames in tests), its frame is translated here and never travels further, and
:func:`fetch_closes` asks again, with exponential backoff (longer after a rate limit), for
tickers that came back empty or shorter than the others. A ticker still missing or short after
the last attempt is reported as failed or short: a partial answer is missing bars, never data.

Dates: ``start`` and ``end`` are *inclusive* session dates; yfinance's ``end`` is exclusive,
so the fetcher is asked for ``end + 1 day``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

import pandas as pd

PARTIAL_MARK = "a partial answer"
PRICE_FIELDS = ("Adj Close", "Close")  # "Adj Close" only exists when auto_adjust=False
_RATE_LIMIT_MARKERS = ("rate limit", "too many requests", "429")
# After a rate limit Yahoo wants a longer pause than after a timeout.
RATE_LIMIT_BACKOFF_MULTIPLIER = 4.0


@dataclass(frozen=True)
class FetchAnswer:
    """A raw yfinance frame and the per-ticker error messages yfinance reported, if any."""

    frame: pd.DataFrame
    errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def rate_limited(self) -> bool:
        return any(m in e.lower() for e in self.errors.values() for m in _RATE_LIMIT_MARKERS)


class PriceFetcher(Protocol):
    def __call__(self, tickers: Sequence[str], start: date, end_exclusive: date) -> FetchAnswer:
        """Daily bars for ``tickers`` as ``yfinance.download`` returns them."""
        ...


def parse_yfinance_frame(frame: pd.DataFrame, tickers: Sequence[str]) -> dict[str, pd.Series]:
    """Each ticker's adjusted closes (NaN dropped, tz-naive session dates named ``date``).

    Accepts every shape ``yfinance.download`` returns: MultiIndex columns ``(Price, Ticker)``
    (the default ``group_by='column'``), ``(Ticker, Price)`` (``group_by='ticker'``), and flat
    ``Open/High/Low/Close/Volume`` columns for one ticker with ``multi_level_index=False``. A
    ticker absent from the frame or without a single price maps to an empty series.
    """
    index = _session_index(frame.index)
    out: dict[str, pd.Series] = {}
    for ticker in tickers:
        column = _close_column(frame, ticker, single=len(tickers) == 1)
        if column is None:
            out[ticker] = pd.Series(dtype="float64", index=pd.DatetimeIndex([], name="date"))
            continue
        series = pd.to_numeric(pd.Series(column.to_numpy(), index=index), errors="coerce")
        out[ticker] = series.dropna().astype("float64").rename(ticker)
    return out


def _session_index(index: pd.Index) -> pd.DatetimeIndex:
    dates = pd.DatetimeIndex(index)
    if dates.tz is not None:
        # Daily bars stamped at the exchange's midnight: the session is the local date.
        dates = dates.tz_localize(None)
    # No inferred ``freq``: sessions are irregular (holidays), the index is just dates.
    return pd.DatetimeIndex(dates.normalize(), freq=None, name="date")


def _close_column(frame: pd.DataFrame, ticker: str, *, single: bool) -> pd.Series | None:
    columns = frame.columns
    candidates: list[Any] = []
    if isinstance(columns, pd.MultiIndex):
        candidates = [k for p in PRICE_FIELDS for k in ((p, ticker), (ticker, p))]
    elif single:  # flat columns only ever hold one ticker
        candidates = list(PRICE_FIELDS)
    found = [frame[k] for k in candidates if k in columns]
    # A failed ticker comes back as yfinance's all-NaN placeholder, which has an "Adj Close"
    # column even under auto_adjust=True: prefer the first field that holds any price.
    for column in found:
        if column.notna().any():
            return column
    return found[0] if found else None


@dataclass
class FetchResult:
    closes: dict[str, pd.Series]  # ticker -> adjusted closes in start..end, complete answers
    failed: dict[str, str]  # ticker -> why it has no (or only a partial) answer
    attempts: int = 0
    # ticker -> the closes of its last partial answer (it stops before the others): never
    # complete data, but a caller may use the sessions it does cover (a missing leg after).
    short: dict[str, pd.Series] = field(default_factory=dict)

    @property
    def partial(self) -> list[str]:
        """Failed tickers that did answer, only not as far as the others (not yet published)."""
        return [t for t, why in self.failed.items() if PARTIAL_MARK in why]


def fetch_closes(
    tickers: Sequence[str],
    start: date,
    end: date,
    fetch: PriceFetcher,
    *,
    attempts: int = 3,
    backoff_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """Closes for ``tickers`` over ``start..end`` (inclusive), asking again for what is missing.

    A ticker is complete when it has a bar in range and its last bar is not earlier than the
    latest bar any ticker of the same answer has. Incomplete tickers are asked again up to
    ``attempts`` times, waiting ``backoff_seconds * 2**k`` (times
    :data:`RATE_LIMIT_BACKOFF_MULTIPLIER` after a rate limit).
    """
    result = FetchResult(closes={}, failed={})
    pending = list(tickers)
    reasons: dict[str, str] = {}
    rate_limited = False
    for attempt in range(1, attempts + 1):
        if not pending:
            break
        if attempt > 1:
            wait = backoff_seconds * 2 ** (attempt - 2)
            sleep(wait * RATE_LIMIT_BACKOFF_MULTIPLIER if rate_limited else wait)
        result.attempts = attempt
        latest = max((c.index.max() for c in result.closes.values()), default=None)
        got, short, reasons, rate_limited = _fetch_once(fetch, pending, start, end, reasons, latest)
        result.closes.update(got)
        result.short.update(short)
        pending = [t for t in pending if t not in got]
    result.short = {t: s for t, s in result.short.items() if t in pending}
    for t in pending:
        result.failed[t] = reasons.get(t) or (
            f"Yahoo returned no prices between {start} and {end} after {attempts} attempt(s) "
            "(unknown or delisted symbol, or no trading in that range?)"
        )
    return result


def _fetch_once(
    fetch: PriceFetcher,
    tickers: list[str],
    start: date,
    end: date,
    reasons: dict[str, str],
    latest_seen: pd.Timestamp | None,
) -> tuple[dict[str, pd.Series], dict[str, pd.Series], dict[str, str], bool]:
    """One call: (complete answers, partial answers, reasons, rate limited). ``latest_seen`` is
    the last session earlier answers reached (a retried ticker must reach it too)."""
    try:
        answer = fetch(tickers, start, end + timedelta(days=1))
    except Exception as exc:  # any transport failure is worth another attempt
        reason = f"download failed: {type(exc).__name__}: {exc}"
        limited = any(m in reason.lower() for m in _RATE_LIMIT_MARKERS)
        return {}, {}, dict.fromkeys(tickers, reason), limited
    parsed = parse_yfinance_frame(answer.frame, tickers)
    in_range = {
        t: s.loc[(s.index >= pd.Timestamp(start)) & (s.index <= pd.Timestamp(end))]
        for t, s in parsed.items()
    }
    ends = [s.index.max() for s in in_range.values() if not s.empty]
    if latest_seen is not None:
        ends.append(latest_seen)
    latest = max(ends) if ends else None
    got: dict[str, pd.Series] = {}
    short: dict[str, pd.Series] = {}
    new_reasons = dict(reasons)
    for t, series in in_range.items():
        if series.empty:
            if t in answer.errors:
                new_reasons[t] = f"Yahoo: {answer.errors[t]}"
        elif latest is not None and series.index.max() < latest:
            new_reasons[t] = (
                f"Yahoo's answer for {t} stops at {series.index.max().date()} while other "
                f"tickers reach {latest.date()} ({PARTIAL_MARK}, treated as missing bars)"
            )
            short[t] = series
        else:
            got[t] = series
    return got, short, new_reasons, answer.rate_limited


class YFinanceFetcher:
    """The real :class:`PriceFetcher`: one ``yfinance.download`` call per batch.

    yfinance does not raise per-ticker errors from ``download``; it logs them. The messages are
    captured from its logger so a failed ticker is reported with Yahoo's own reason.
    """

    def __init__(self, timeout: float = 20.0) -> None:
        self.timeout = timeout

    def __call__(self, tickers: Sequence[str], start: date, end_exclusive: date) -> FetchAnswer:
        import yfinance as yf  # imported here: slow, and only this adapter needs it

        capture = _ErrorCapture()
        logger = logging.getLogger("yfinance")
        logger.addHandler(capture)
        try:
            frame = yf.download(
                list(tickers),
                start=start.isoformat(),
                end=end_exclusive.isoformat(),
                auto_adjust=True,
                actions=False,
                progress=False,
                threads=True,
                group_by="column",
                multi_level_index=True,
                timeout=self.timeout,
            )
        finally:
            logger.removeHandler(capture)
        if frame is None:
            frame = pd.DataFrame()
        return FetchAnswer(frame=frame, errors=capture.by_ticker(tickers))


class _ErrorCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def by_ticker(self, tickers: Sequence[str]) -> dict[str, str]:
        """yfinance logs ``"['ABC', 'XYZ']: YFPricesMissingError(...)"``: map each ticker."""
        out: dict[str, str] = {}
        for message in self.messages:
            head, sep, reason = message.partition(": ")
            if not sep:
                continue
            for t in tickers:
                if f"'{t}'" in head:
                    out[t] = reason.strip()
        return out


# --- Corporate actions: splits and cash dividends (``Ticker.actions``) ----------------------

# An ex-date range of only holidays has no price rows, and yfinance then answers "no price data
# found" instead of "no actions": the request reaches this far back and the answer is trimmed.
ACTIONS_LOOKBACK = timedelta(days=10)


@dataclass(frozen=True, slots=True)
class YahooAction:
    """One row of yfinance's actions: ``split`` is new shares per old share (2.0 for 2:1,
    0.25 for 1:4; 0.0 when the row has none), ``dividend`` dollars per share (0.0: none)."""

    ticker: str
    ex_date: date
    dividend: float = 0.0
    split: float = 0.0


class ActionsFetcher(Protocol):
    def __call__(self, ticker: str, start: date, end_exclusive: date) -> pd.DataFrame:
        """Daily rows of ``ticker`` with ``Dividends`` and ``Stock Splits`` columns, as
        ``Ticker.history(actions=True)`` (and so ``Ticker.actions``) returns them."""
        ...


def parse_actions_frame(frame: pd.DataFrame, ticker: str) -> list[YahooAction]:
    """The rows of ``frame`` with a dividend or a split (zero means none), ex-dates as the
    exchange's local dates. A frame without the action columns has no actions."""
    if frame.empty:
        return []
    index = _session_index(frame.index)
    dividends = _numeric_column(frame, "Dividends", index)
    splits = _numeric_column(frame, "Stock Splits", index)
    out = []
    for when, dividend, split in zip(index, dividends, splits, strict=True):
        if dividend != 0.0 or split != 0.0:
            out.append(YahooAction(ticker, when.date(), float(dividend), float(split)))
    return out


def _numeric_column(frame: pd.DataFrame, name: str, index: pd.DatetimeIndex) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(0.0, index=index)
    values = pd.to_numeric(pd.Series(frame[name].to_numpy(), index=index), errors="coerce")
    return values.fillna(0.0).astype("float64")


@dataclass
class ActionsResult:
    actions: dict[str, list[YahooAction]]  # ticker -> its actions in start..end (maybe none)
    failed: dict[str, str]  # ticker -> why Yahoo gave no answer
    attempts: int = 0


def fetch_actions(
    tickers: Sequence[str],
    start: date,
    end: date,
    fetch: ActionsFetcher,
    *,
    attempts: int = 3,
    backoff_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> ActionsResult:
    """Splits and dividends of each ticker with an ex-date in ``start..end`` (inclusive),
    asking again like :func:`fetch_closes` (exponential backoff, longer after a rate limit)
    for tickers whose request failed. A ticker still failing is reported, never read as
    "no actions"."""
    result = ActionsResult(actions={}, failed={})
    for ticker in tickers:
        for attempt in range(1, attempts + 1):
            result.attempts = max(result.attempts, attempt)
            try:
                frame = fetch(ticker, start - ACTIONS_LOOKBACK, end + timedelta(days=1))
            except Exception as exc:  # any transport or vendor failure is worth another try
                reason = f"actions download failed: {type(exc).__name__}: {exc}"
                result.failed[ticker] = reason
                if attempt < attempts:
                    limited = any(m in reason.lower() for m in _RATE_LIMIT_MARKERS)
                    wait = backoff_seconds * 2 ** (attempt - 1)
                    sleep(wait * RATE_LIMIT_BACKOFF_MULTIPLIER if limited else wait)
                continue
            result.failed.pop(ticker, None)
            found = parse_actions_frame(frame, ticker)
            result.actions[ticker] = [a for a in found if start <= a.ex_date <= end]
            break
    return result


class YFinanceActionsFetcher:
    """The real :class:`ActionsFetcher`: ``Ticker.history(actions=True)``, the data behind
    ``Ticker.actions``, for a date range and with a timeout (``Ticker.actions`` itself asks for
    the whole history with yfinance's default timeout). ``raise_errors`` makes a failed request
    an exception instead of an empty frame that would read as "no actions"."""

    def __init__(self, timeout: float = 20.0) -> None:
        self.timeout = timeout

    def __call__(self, ticker: str, start: date, end_exclusive: date) -> pd.DataFrame:
        import yfinance as yf  # imported here: slow, and only this adapter needs it

        frame = yf.Ticker(ticker).history(
            start=start.isoformat(),
            end=end_exclusive.isoformat(),
            interval="1d",
            actions=True,
            auto_adjust=False,
            timeout=self.timeout,
            raise_errors=True,
        )
        return frame if frame is not None else pd.DataFrame()
