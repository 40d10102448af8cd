"""Adjusted closes from Yahoo Finance (yfinance), cached per ticker and date range.

The vendor call, its frame parsing and the retries (rate limits, partial answers) live in
:mod:`shared.adapters.yahoo`, the one careful adapter research and the daemon share; this
module adds research's per-ticker cache and progress bar.

Dates: ``start`` and ``end`` are *inclusive* session dates everywhere in this project; yfinance's
``end`` is exclusive, so the fetcher is asked for ``end + 1 day``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from shared.adapters.yahoo import (
    FetchAnswer,
    PriceFetcher,
    YFinanceFetcher,
    _ErrorCapture,
    fetch_closes,
    parse_yfinance_frame,
)
from shared.errors import DataError

__all__ = [
    "DownloadResult",
    "FetchAnswer",
    "PriceFetcher",
    "YFinanceFetcher",
    "_ErrorCapture",
    "cache_path",
    "download_closes",
    "parse_yfinance_frame",
]


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
    if pending:
        fetched = fetch_closes(
            pending,
            start,
            end,
            fetch,
            attempts=attempts,
            backoff_seconds=backoff_seconds,
            sleep=sleep,
        )
        for t, series in fetched.closes.items():
            _write_cache(cache_path(cache_dir, t, start, end), series)
            result.closes[t] = series
        result.failed.update(fetched.failed)
        bar.update(len(fetched.closes))
    bar.close()
    return result


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
