"""Adjusted daily closes from Yahoo Finance: a ``BarSource``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from shared.adapters.yahoo import PriceFetcher, YFinanceFetcher, fetch_closes
from shared.errors import DataError


class YFinanceBarSource:
    """Adjusted daily closes from Yahoo Finance through the shared careful adapter (timeouts,
    retries with backoff on rate limits).

    One ticker never stops the others: a ticker whose answer stays shorter than the others'
    after the retries keeps the sessions it has, and the later ones are NaN (a missing leg for
    the requested session: its pairs hold, the others trade). A ticker with no data at all in
    the range is a :class:`DataError` naming it (an unknown or delisted symbol, or Yahoo
    refusing); when no ticker has the requested session yet, validation finds a stale feed."""

    name = "yfinance"

    def __init__(
        self, fetch: PriceFetcher | None = None, *, attempts: int = 3, backoff_s: float = 5.0
    ) -> None:
        self._fetch = fetch or YFinanceFetcher(timeout=20.0)
        self._attempts = attempts
        self._backoff_s = backoff_s

    def daily_closes(self, symbols: Sequence[str], start: date, end: date) -> pd.DataFrame:
        got = fetch_closes(
            list(symbols),
            start,
            end,
            self._fetch,
            attempts=self._attempts,
            backoff_seconds=self._backoff_s,
        )
        empty = [s for s in symbols if s in got.failed and s not in got.short]
        if empty:
            symbol = empty[0]
            raise DataError(
                f"yfinance: no bars at all for {symbol} in {start}..{end} after "
                f"{got.attempts} attempt(s): {got.failed[symbol]}; nothing traded, the next "
                "run retries. If the symbol was renamed or delisted, see docs/operations.md (a "
                "missing or delisted leg)",
                symbol=symbol,
            )
        series = {**got.closes, **got.short}
        frame = pd.concat([series[s].rename(s) for s in symbols], axis=1, sort=True)
        frame.index = [pd.Timestamp(v).date() for v in frame.index]
        return frame.reindex(columns=list(symbols)).astype(float)
