"""Splits and cash dividends from Yahoo Finance: a corporate-action source."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from daemon.core.corporate_actions import ActionKind, CorporateAction
from shared.adapters.yahoo import (
    ActionsFetcher,
    YahooAction,
    YFinanceActionsFetcher,
    fetch_actions,
)
from shared.errors import DataError


class YFinanceActions:
    """Splits and cash dividends from Yahoo Finance (yfinance's ``actions``: ``Dividends`` and
    ``Stock Splits``), through the shared adapter's timeouts and retries.

    Yahoo publishes no payable dates: a dividend's ``payable_date`` is its ex-date here, so the
    cash is booked on the ex-date (a broker pays it weeks later). Yahoo's dividend history is
    split-adjusted as of today: a dividend paid before a later split shows divided by that
    split's ratio, so the amount of an old dividend is not what was paid per share held then.
    """

    name = "yfinance"

    def __init__(
        self, fetch: ActionsFetcher | None = None, *, attempts: int = 3, backoff_s: float = 5.0
    ) -> None:
        self._fetch = fetch or YFinanceActionsFetcher(timeout=20.0)
        self._attempts = attempts
        self._backoff_s = backoff_s

    def corporate_actions(
        self, symbols: Sequence[str], start: date, end: date
    ) -> list[CorporateAction]:
        got = fetch_actions(
            list(symbols),
            start,
            end,
            self._fetch,
            attempts=self._attempts,
            backoff_seconds=self._backoff_s,
        )
        if got.failed:
            symbol, reason = next(iter(got.failed.items()))
            raise DataError(
                f"yfinance: no corporate actions for {symbol} in {start}..{end} after "
                f"{got.attempts} attempt(s): {reason}; the next run asks again",
                symbol=symbol,
            )
        return [a for s in symbols for row in got.actions.get(s, []) for a in _from_yahoo(row)]


def _from_yahoo(row: YahooAction) -> list[CorporateAction]:
    out = []
    if row.split != 0.0:
        out.append(
            CorporateAction(
                row.ticker, ActionKind.SPLIT, row.ex_date, ratio=row.split, source="yfinance"
            )
        )
    if row.dividend != 0.0:
        out.append(
            CorporateAction(
                row.ticker,
                ActionKind.DIVIDEND,
                row.ex_date,
                amount=row.dividend,
                payable_date=row.ex_date,  # Yahoo has no payable date
                source="yfinance",
            )
        )
    return out
