"""``AlpacaBars``: daily adjusted closes from Alpaca's market-data API through alpaca-py.

Daily bars are stamped at midnight New York time (``2024-01-02T05:00:00Z``); the session is
that timestamp's New York date. Prices are ``adjustment=all`` (splits and dividends), the same
basis as the research data, and come from the SIP (consolidated) feed by default: its daily
close is the official close research used. The free plan serves SIP history except its latest
15 minutes (HTTP 403 "subscription does not permit querying recent SIP data"), so every SIP
request ends ``sip_delay`` before the broker's clock. IEX (``feed = "iex"``) has no delay but
its daily close is IEX's last trade. alpaca-py follows ``next_page_token`` itself; a failure on
any page refetches the whole range under our retry policy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.models import BarSet
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame

from daemon.adapters.alpaca.models import NEW_YORK
from daemon.adapters.alpaca.retry import RetryPolicy, call
from shared.errors import ConfigError, DataError


class AlpacaBars:
    name = "alpaca"

    def __init__(
        self,
        client: StockHistoricalDataClient,
        *,
        feed: str = "sip",
        retry: RetryPolicy | None = None,
        now: Callable[[], datetime] | None = None,
        sip_delay: timedelta = timedelta(minutes=15),
    ) -> None:
        """``now`` reads the broker's clock; SIP requests end ``sip_delay`` before it."""
        try:
            self._feed = DataFeed(feed)
        except ValueError:
            choices = ", ".join(f.value for f in DataFeed)
            raise ConfigError(
                f"unknown Alpaca feed '{feed}': use one of {choices}", key="alpaca.feed"
            ) from None
        self._client = client
        self._retry = retry or RetryPolicy()
        if self._feed is DataFeed.SIP and now is None:
            raise ValueError("the SIP feed needs the broker's clock (now) to respect its delay")
        self._now = now
        self._sip_delay = sip_delay

    def __repr__(self) -> str:
        return f"AlpacaBars(feed={self._feed.value!r}, client={self._client!r})"

    def daily_closes(self, symbols: Sequence[str], start: date, end: date) -> pd.DataFrame:
        """Closes indexed by session (``datetime.date`` objects, ascending, like the CSV and
        yfinance sources), one float column per requested symbol in the requested order; a
        session a symbol has no bar for is NaN, for the caller's validation to name."""
        if not symbols:
            raise DataError("no symbols requested from Alpaca bars")
        if end < start:
            raise DataError(f"bar range ends ({end}) before it starts ({start})")
        request = StockBarsRequest(
            symbol_or_symbols=list(symbols),
            timeframe=TimeFrame.Day,
            start=datetime.combine(start, time.min, NEW_YORK),
            end=self._request_end(start, end),
            adjustment=Adjustment.ALL,
            feed=self._feed,
        )
        barset = call(
            lambda: self._client.get_stock_bars(request),
            what=f"fetching daily bars for {', '.join(symbols)} {start}..{end}",
            policy=self._retry,
        )
        assert isinstance(barset, BarSet), "alpaca-py returned raw data; raw_data must stay off"
        return _closes_frame(barset, symbols, start, end)

    def _request_end(self, start: date, end: date) -> datetime:
        wanted = datetime.combine(end, time(23, 59, 59), NEW_YORK)
        if self._feed is not DataFeed.SIP or self._now is None:
            return wanted
        latest = call(self._now, what="reading the broker's clock", policy=self._retry)
        allowed = latest - self._sip_delay
        if allowed < datetime.combine(start, time.min, NEW_YORK):
            raise DataError(
                f"the SIP feed serves data up to {self._sip_delay} before now "
                f"({allowed.isoformat()}), before the requested start {start}"
            )
        return min(wanted, allowed)


def _closes_frame(barset: BarSet, symbols: Sequence[str], start: date, end: date) -> pd.DataFrame:
    columns: dict[str, dict[date, float]] = {}
    for symbol in symbols:
        closes: dict[date, float] = {}
        for bar in barset.data.get(symbol, []):
            session = bar.timestamp.astimezone(NEW_YORK).date()
            if session in closes:
                raise DataError(
                    f"Alpaca sent two daily bars for {symbol} on {session}",
                    symbol=symbol,
                    session=session.isoformat(),
                )
            if start <= session <= end:
                closes[session] = float(bar.close)
        columns[symbol] = closes
    sessions = sorted({d for closes in columns.values() for d in closes})
    frame = pd.DataFrame(
        {s: [columns[s].get(d, np.nan) for d in sessions] for s in symbols},
        index=pd.Index(sessions, dtype=object),
        columns=list(symbols),
        dtype=float,
    )
    return frame
