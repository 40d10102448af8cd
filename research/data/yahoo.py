"""Adjusted closes from Yahoo Finance (yfinance), cached per ticker and date range.

The vendor call sits behind :class:`PriceFetcher` so the download logic (cache, retries,
per-ticker failures) is tested with recorded frames and no network. yfinance frames are
translated here by :func:`parse_yfinance_frame` and never travel further.

Dates: ``start`` and ``end`` are *inclusive* session dates everywhere in this project; yfinance's
``end`` is exclusive, so the fetcher is asked for ``end + 1 day``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from tqdm import tqdm

from shared.errors import DataError

PRICE_FIELDS = ("Adj Close", "Close")  # "Adj Close" only exists when auto_adjust=False


@dataclass(frozen=True)
class FetchAnswer:
    """A raw yfinance frame and the per-ticker error messages yfinance reported, if any."""

    frame: pd.DataFrame
    errors: Mapping[str, str] = field(default_factory=dict)


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


def cache_path(cache_dir: Path, ticker: str, start: date, end: date) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._^=-]", "_", ticker)
    return cache_dir / f"{safe}_{start:%Y%m%d}_{end:%Y%m%d}.csv"


@dataclass
class DownloadResult:
    closes: dict[str, pd.Series]  # ticker -> adjusted closes, tickers that succeeded
    failed: dict[str, str]  # ticker -> why
    from_cache: list[str]

    def wide(self) -> pd.DataFrame:
        if not self.closes:
            return pd.DataFrame(index=pd.DatetimeIndex([], name="date"))
        frame = pd.concat(self.closes, axis=1, sort=True)
        frame.index.name = "date"
        return frame


def download_closes(
    tickers: Sequence[str],
    start: date,
    end: date,
    *,
    cache_dir: Path,
    fetch: PriceFetcher,
    refresh: bool = False,
    attempts: int = 3,
    backoff_seconds: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    progress: bool = True,
) -> DownloadResult:
    """Closes for ``tickers`` over ``start..end`` (inclusive), from the cache or from ``fetch``.

    Tickers missing from an answer are asked again, up to ``attempts`` times with exponential
    backoff (Yahoo's answers fail transiently: rate limits, timeouts); a ticker still without
    prices is reported in ``failed`` with yfinance's reason while the others carry on.
    """
    tickers = _unique_upper(tickers)
    if end < start:
        raise DataError(f"--end {end} is before --start {start}")
    result = DownloadResult(closes={}, failed={}, from_cache=[])
    cache_dir.mkdir(parents=True, exist_ok=True)
    pending = []
    for t in tickers:
        path = cache_path(cache_dir, t, start, end)
        if path.is_file() and not refresh:
            result.closes[t] = _read_cache(path, t)
            result.from_cache.append(t)
        else:
            pending.append(t)
    bar = tqdm(total=len(tickers), desc="download", unit="ticker", disable=not progress)
    bar.update(len(result.from_cache))
    reasons: dict[str, str] = {}
    for attempt in range(1, attempts + 1):
        if not pending:
            break
        if attempt > 1:
            sleep(backoff_seconds * 2 ** (attempt - 2))
        got, reasons = _fetch_once(fetch, pending, start, end, reasons)
        for t, series in got.items():
            _write_cache(cache_path(cache_dir, t, start, end), series)
            result.closes[t] = series
        bar.update(len(got))
        pending = [t for t in pending if t not in got]
    bar.close()
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
) -> tuple[dict[str, pd.Series], dict[str, str]]:
    try:
        answer = fetch(tickers, start, end + timedelta(days=1))
    except Exception as exc:  # any transport failure is worth another attempt
        return {}, {t: f"download failed: {type(exc).__name__}: {exc}" for t in tickers}
    parsed = parse_yfinance_frame(answer.frame, tickers)
    got: dict[str, pd.Series] = {}
    new_reasons = dict(reasons)
    for t, series in parsed.items():
        in_range = series.loc[
            (series.index >= pd.Timestamp(start)) & (series.index <= pd.Timestamp(end))
        ]
        if in_range.empty:
            if t in answer.errors:
                new_reasons[t] = f"Yahoo: {answer.errors[t]}"
        else:
            got[t] = in_range
    return got, new_reasons


def _unique_upper(tickers: Sequence[str]) -> list[str]:
    out: list[str] = []
    for t in tickers:
        t = t.strip().upper()
        if t and t not in out:
            out.append(t)
    if not out:
        raise DataError("no tickers given; pass --tickers SPY,DIA,... or --tickers-file FILE")
    return out


def _read_cache(path: Path, ticker: str) -> pd.Series:
    frame = pd.read_csv(path, parse_dates=["date"], index_col="date")
    if "close" not in frame.columns:
        raise DataError(f"{path}: cached file has no 'close' column; delete it or use --refresh")
    return frame["close"].astype("float64").rename(ticker)


def _write_cache(path: Path, series: pd.Series) -> None:
    out = pd.DataFrame({"close": series.to_numpy()}, index=series.index.strftime("%Y-%m-%d"))
    tmp = path.with_suffix(".tmp")
    out.to_csv(tmp, index_label="date")
    tmp.replace(path)  # a crash never leaves a half-written cache file behind


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
