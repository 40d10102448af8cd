"""What every command checks in a table of closes before it trusts it.

One validation, used by every command that reads prices (``prices import|download|generate``,
``run``, ``screen``, ``optimize``, ``backtest``, ``walkforward``, ``sweep``). It looks at each
ticker's series and finds the first reason it cannot be used:

- a **non-finite** close (``inf``, ``Infinity``, ``-inf``): pandas parses these as numbers, so
  without this check they reach the screen (t = -inf, p = 0) or the backtest;
- an **absurd magnitude**: above :data:`MAX_PRICE` (``1e300`` typed by hand, a price in the
  wrong unit) or a close :data:`MAX_DAILY_FACTOR` times the previous one or less than its
  1/:data:`MAX_DAILY_FACTOR` (a misplaced decimal point; adjusted closes do not jump that far);
- a **non-positive** close (log returns and the Kalman filter need positive prices);
- a **constant** series (every close equal: the regression of the screen is singular on it);
- a **frozen** series: the same close on at least ``frozen_sessions`` consecutive sessions (a
  stale feed or a halted, delisted ticker carried forward). The default,
  :data:`DEFAULT_FROZEN_SESSIONS` = 10, is two trading weeks: exchange holidays close the
  market for at most a few days, and on the 120 liquid tickers of the real data this project is
  checked against (2015 .. 2026) the longest run of an unchanged adjusted close is 3 sessions,
  so 10 leaves a wide margin while a feed frozen for a fortnight is caught.

A ticker with a reason is dropped (the screen goes on with the others) and the reason, with the
ticker and the date, is printed. A command that needs that very ticker (a config's pair) fails
with the same reason instead of a confusing "not in the price table".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shared.errors import DataError

MAX_PRICE = 1e8  # no listed security closes near this (the dearest share trades below 1e6)
MAX_DAILY_FACTOR = 100.0  # a close 100x (or 1/100 of) the previous one is a data error
DEFAULT_FROZEN_SESSIONS = 10  # see the module docstring


@dataclass(frozen=True)
class PriceProblem:
    """Why one ticker cannot be used: the first bad observation and what is wrong with it."""

    symbol: str
    reason: str  # plain words, with the date(s)

    def line(self) -> str:
        return f"{self.symbol}: {self.reason}"


def find_problems(
    prices: pd.DataFrame, frozen_sessions: int = DEFAULT_FROZEN_SESSIONS
) -> list[PriceProblem]:
    """The first problem of every unusable ticker of a wide table (columns = tickers)."""
    if frozen_sessions < 2:
        raise DataError(f"--frozen-sessions must be at least 2 (got {frozen_sessions})")
    problems = []
    for symbol in prices.columns:
        reason = series_problem(prices[symbol], frozen_sessions)
        if reason is not None:
            problems.append(PriceProblem(str(symbol), reason))
    return problems


def series_problem(series: pd.Series, frozen_sessions: int = DEFAULT_FROZEN_SESSIONS) -> str | None:
    """Why ``series`` (one ticker's closes, NaN = no price) cannot be used, or None."""
    values = pd.to_numeric(series, errors="coerce").dropna()
    if values.empty:
        return None  # no price at all: coverage rules (cleaning, alignment) report it
    closes = values.to_numpy(dtype=np.float64)
    dates = pd.DatetimeIndex(values.index)
    for check in (_non_finite, _too_large, _non_positive, _jump, _constant):
        reason = check(closes, dates)
        if reason:
            return reason
    return _frozen(closes, dates, frozen_sessions)


def _day(dates: pd.DatetimeIndex, i: int) -> str:
    return f"{dates[i]:%Y-%m-%d}"


def _non_finite(closes: np.ndarray, dates: pd.DatetimeIndex) -> str | None:
    bad = np.flatnonzero(~np.isfinite(closes))
    if bad.size:
        return f"non-finite close {closes[bad[0]]} on {_day(dates, int(bad[0]))}"
    return None


def _too_large(closes: np.ndarray, dates: pd.DatetimeIndex) -> str | None:
    bad = np.flatnonzero(closes > MAX_PRICE)
    if bad.size:
        return (
            f"absurd close {closes[bad[0]]:g} on {_day(dates, int(bad[0]))} (above {MAX_PRICE:g})"
        )
    return None


def _non_positive(closes: np.ndarray, dates: pd.DatetimeIndex) -> str | None:
    bad = np.flatnonzero(closes <= 0)
    if bad.size:
        return f"non-positive close {closes[bad[0]]:g} on {_day(dates, int(bad[0]))}"
    return None


def _jump(closes: np.ndarray, dates: pd.DatetimeIndex) -> str | None:
    ratio = closes[1:] / closes[:-1]
    bad = np.flatnonzero((ratio > MAX_DAILY_FACTOR) | (ratio < 1.0 / MAX_DAILY_FACTOR))
    if bad.size:
        i = int(bad[0])
        return (
            f"absurd jump from {closes[i]:g} on {_day(dates, i)} to {closes[i + 1]:g} on "
            f"{_day(dates, i + 1)} (a factor beyond {MAX_DAILY_FACTOR:g} in one session)"
        )
    return None


def _constant(closes: np.ndarray, dates: pd.DatetimeIndex) -> str | None:
    if closes.size > 1 and np.all(closes == closes[0]):
        return (
            f"constant close {closes[0]:g} on all {closes.size} sessions "
            f"({_day(dates, 0)} .. {_day(dates, closes.size - 1)})"
        )
    return None


def longest_frozen_run(closes: np.ndarray) -> tuple[int, int]:
    """(length, first index) of the longest run of equal consecutive closes."""
    if closes.size == 0:
        return 0, 0
    change = np.flatnonzero(closes[1:] != closes[:-1]) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [closes.size])))
    k = int(np.argmax(lengths))
    return int(lengths[k]), int(starts[k])


def _frozen(closes: np.ndarray, dates: pd.DatetimeIndex, frozen_sessions: int) -> str | None:
    length, first = longest_frozen_run(closes)
    if length >= frozen_sessions:
        return (
            f"frozen: the close stays {closes[first]:g} for {length} sessions "
            f"({_day(dates, first)} .. {_day(dates, first + length - 1)}; the limit is "
            f"{frozen_sessions - 1}, see --frozen-sessions)"
        )
    return None


def drop_unusable(
    prices: pd.DataFrame,
    *,
    source: str,
    frozen_sessions: int = DEFAULT_FROZEN_SESSIONS,
    needed: Iterable[str] = (),
) -> tuple[pd.DataFrame, list[PriceProblem]]:
    """``prices`` without its unusable tickers, and why each went.

    A ticker in ``needed`` (e.g. a config's pair) that is unusable is an error naming the
    ticker, the date and the reason, since nothing sensible can be computed without it."""
    problems = find_problems(prices, frozen_sessions)
    needed_set = set(needed)
    fatal = [p for p in problems if p.symbol in needed_set]
    if fatal:
        raise DataError(
            f"{source}: ticker {fatal[0].line()}; fix the price file or use another one",
            symbol=fatal[0].symbol,
        )
    dropped = {p.symbol for p in problems}
    keep = [c for c in prices.columns if str(c) not in dropped]
    return prices.loc[:, keep], problems


def describe(problems: Iterable[PriceProblem], source: str) -> list[str]:
    """One line per dropped ticker, for stderr."""
    return [f"dropped {p.symbol} from {source}: {p.reason}" for p in problems]


def constant_tickers(prices: pd.DataFrame) -> dict[str, float]:
    """Tickers whose every close (ignoring gaps) is one value, with that value."""
    out = {}
    for symbol in prices.columns:
        values = pd.to_numeric(prices[symbol], errors="coerce").dropna().to_numpy()
        if values.size > 1 and np.all(values == values[0]):
            out[str(symbol)] = float(values[0])
    return out
