"""Daily closes: the CSV and yfinance feeds, validation, and keeping the stored scale.

Validation stops a session on the first bad bar with a :class:`DataError` that names the symbol
and the session: a duplicated date, a ticker absent from the feed, a session with no close at
all, a missing session (vs the XNYS calendar
when enabled), a stale feed (no bar for the requested session, :class:`StaleFeed`), and the bad
prints of :mod:`daemon.feeds.sanity` (non-finite, non-positive, a one-day move beyond
``data.max_daily_move``, a session after the clock's today: :class:`BarRefused`). All of it
happens before anything is stored. One symbol without a close (NaN: halted, suspended,
delisted) does not stop the session: it is a *missing leg*, stored as absent, and only the pairs
that trade it hold (:mod:`daemon.missing_legs`).

Adjusted prices move (a dividend rescales a ticker's whole adjusted history, a split rescales it
by the split ratio), and the Kalman filter is not scale-invariant. So the strategy runs on the
bars the daemon stored when it first consumed them, and only new sessions are appended. Fresh
bars for stored sessions are compared with the stored ones (:mod:`daemon.feeds.revisions`): the
per-ticker factor is undone on the new bars; single bars restated beyond the tolerance and rows
filled in late are reported, never applied. Orders and equity use the real (fresh) closes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import pandas as pd

from daemon.feeds.revisions import SymbolComparison, compare_symbol, late_filled
from daemon.feeds.sanity import (
    StaleFeed,
    check_jumps,
    check_not_future,
    check_values,
    finite_or_nan,
)
from shared.adapters.yahoo import PriceFetcher, YFinanceFetcher, fetch_closes
from shared.errors import DataError

# A close more than this factor away from the previous one (×2 or ÷2) is a bad print unless
# the operator says otherwise (data.max_daily_move).
DEFAULT_MAX_MOVE = 2.0


class CsvBarSource:
    """A wide CSV of closes: the first column is the date, one column per ticker (the research
    step's ``adj_close_wide.csv``). Re-read when the file changes."""

    name = "csv"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._cache: tuple[float, pd.DataFrame] | None = None

    def _frame(self) -> pd.DataFrame:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            raise DataError(f"price file {self.path} not found; check data.csv_path") from None
        if self._cache is None or self._cache[0] != mtime:
            try:
                frame = pd.read_csv(self.path, index_col=0)
                frame.index = [pd.Timestamp(v).date() for v in frame.index]
            except (ValueError, pd.errors.ParserError) as exc:
                raise DataError(f"price file {self.path} cannot be read: {exc}") from None
            self._cache = (mtime, frame)
        return self._cache[1]

    def sessions(self) -> list[date]:
        """The file's dates, ascending: the sessions of a CSV-fed daemon."""
        return sorted(set(self._frame().index))

    def daily_closes(self, symbols: Sequence[str], start: date, end: date) -> pd.DataFrame:
        frame = self._frame()
        missing = [s for s in symbols if s not in frame.columns]
        if missing:
            raise DataError(
                f"price file {self.path} has no column for {missing[0]} (a missing leg)",
                symbol=missing[0],
            )
        rows = [start <= d <= end for d in frame.index]
        return frame.loc[rows, list(symbols)].astype(float)


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
                "run retries. If the symbol was renamed or delisted, see the README (a missing "
                "or delisted leg)",
                symbol=symbol,
            )
        series = {**got.closes, **got.short}
        frame = pd.concat([series[s].rename(s) for s in symbols], axis=1, sort=True)
        frame.index = [pd.Timestamp(v).date() for v in frame.index]
        return frame.reindex(columns=list(symbols)).astype(float)


def _fail(message: str, symbol: str | None, session: date | None) -> DataError:
    return DataError(message, symbol=symbol, session=session.isoformat() if session else None)


def validate_closes(
    frame: pd.DataFrame,
    symbols: Sequence[str],
    required: Sequence[date],
    source: str,
) -> pd.DataFrame:
    """Check ``frame`` has a good close for every symbol on every ``required`` session.

    Returns the frame sorted by session. Rows outside ``required`` may be incomplete or bad
    (they are only compared with the stored history) but must not be duplicated.
    """
    for symbol in symbols:
        if symbol not in frame.columns:
            raise _fail(f"{source}: no bars at all for {symbol} (a missing leg)", symbol, None)
    frame = frame.loc[:, list(symbols)]
    dupes = frame.index[frame.index.duplicated()]
    if len(dupes):
        d = dupes[0]
        raise _fail(f"{source}: session {d} appears more than once", None, d)
    frame = frame.sort_index()
    present = set(frame.index)
    last = max(present) if present else None
    for d in required:
        if d not in present:
            if last is None or d > last:
                raise StaleFeed(
                    f"{source}: no bar for session {d} (stale feed: latest is {last}); "
                    "nothing traded, retry when the data is published",
                    session=d.isoformat(),
                )
            raise _fail(f"{source}: session {d} is missing from the bars", None, d)
    check_values(frame, required, source)
    for d in required:
        values = [frame.at[d, symbol] for symbol in symbols]
        if all(v is None or math.isnan(v) for v in values):
            raise _fail(
                f"{source}: no close for any symbol on {d}; nothing traded on an empty row",
                None,
                d,
            )
    return frame


def missing_legs(frame: pd.DataFrame, session: date) -> tuple[str, ...]:
    """The symbols with no close on ``session`` (halted, suspended, delisted): the pairs that
    trade them hold for the session (:mod:`daemon.missing_legs`)."""
    row = frame.loc[session]
    return tuple(str(s) for s, v in row.items() if v is None or math.isnan(float(v)))


def _last_close(
    fresh: pd.DataFrame,
    stored: pd.DataFrame,
    factor: float,
    symbol: str,
    session: date,
    source: str,
) -> float:
    """A missing leg's latest delivered close before ``session``: the price its position is
    marked (and settled) at while it has no bar. Never traded at: its pair holds.

    A feed that now has no bar at all for the symbol (Alpaca after a rename, say) leaves the
    stored history: its last close, brought to the feed's scale by ``factor`` (fresh/stored),
    was the real close of its session."""
    before = fresh.loc[[d < session for d in fresh.index], symbol].astype(float)
    finite = before[before.notna() & (before > 0)]
    if not len(finite) and len(stored) and symbol in stored.columns:
        kept = stored.loc[[d < session for d in stored.index], symbol].astype(float)
        finite = kept[kept.notna() & (kept > 0)] * factor
    if not len(finite):
        raise _fail(
            f"{source}: no close for {symbol} on {session} nor on any session before it; "
            "a leg with no price at all cannot be marked. Check the symbol in the config",
            symbol,
            session,
        )
    return float(finite.iloc[-1])


@dataclass(frozen=True, slots=True)
class BarUpdate:
    """The result of merging fresh bars into the stored history for one session."""

    strategy_closes: pd.DataFrame  # every session through the requested one, stored scale
    real_closes: dict[str, float]  # the requested session's closes as delivered
    new_sessions: list[date]
    factors: dict[str, float] = field(default_factory=dict)  # fresh / stored, when rescaled
    comparisons: dict[str, SymbolComparison] = field(default_factory=dict)
    late_filled: list[date] = field(default_factory=list)  # reported, never stored
    missing: tuple[str, ...] = ()  # symbols with no bar on the session (their pairs hold)

    @property
    def restated(self) -> dict[str, SymbolComparison]:
        return {s: c for s, c in self.comparisons.items() if c.restated}


def merge_bars(
    stored: pd.DataFrame,
    fresh: pd.DataFrame,
    symbols: Sequence[str],
    session: date,
    expected: Sequence[date],
    tolerance: float,
    source: str,
    *,
    max_move: float = DEFAULT_MAX_MOVE,
    today: date | None = None,
    known_factors: Mapping[str, float] | None = None,
) -> BarUpdate:
    """Check ``fresh`` and append its new sessions to ``stored`` on the stored scale.

    ``expected`` are the sessions the history must contain through ``session`` (the XNYS
    sessions, or the feed's own dates when the calendar check is off). ``known_factors`` are
    the fresh/stored factors found so far (the store's rescales): a symbol the feed now sends
    nothing for keeps its factor instead of looking unadjusted. Nothing here writes:
    a refused bar leaves the store as it was. Stored bars are never changed; a restated or
    late-filled one is reported in the result (see :mod:`daemon.feeds.revisions`).
    """
    if today is not None:
        check_not_future(session, today, source)
    stored = stored.loc[[d <= session for d in stored.index]] if len(stored) else stored
    stored_sessions = set(stored.index)
    last_stored = max(stored_sessions) if stored_sessions else None
    # A session before the last stored one that was never stored is behind the strategy
    # already: a row the feed filled in late, reported but not required.
    required = {
        d
        for d in expected
        if d not in stored_sessions and d <= session and (last_stored is None or d > last_stored)
    }
    required.add(session)  # its real close is needed for orders and equity
    fresh = fresh.loc[[d <= session for d in fresh.index]] if len(fresh) else fresh
    fresh = validate_closes(fresh, symbols, sorted(required), source)
    new_sessions = sorted(d for d in required if d not in stored_sessions)
    new_rows = fresh.loc[new_sessions, list(symbols)].astype(float).copy()
    comparable = finite_or_nan(fresh)
    comparisons: dict[str, SymbolComparison] = {}
    factors: dict[str, float] = {}
    late: list[date] = []
    if len(stored):
        first = min(stored_sessions)
        late = late_filled(comparable, stored_sessions, first, last_stored)
        for symbol in symbols:
            found = compare_symbol(stored[symbol], comparable[symbol], tolerance, symbol)
            comparisons[symbol] = found
            if found.overlap == 0 and (known_factors or {}).get(symbol, 1.0) != 1.0:
                factors[symbol] = (known_factors or {})[symbol]  # nothing to compare: as known
            elif found.factor != 1.0:
                factors[symbol] = found.factor
                new_rows[symbol] = new_rows[symbol] / found.factor
    check_jumps(_jump_reference(comparable, stored, factors), sorted(required), max_move, source)
    history = pd.concat([stored.loc[:, list(symbols)], new_rows]) if len(stored) else new_rows
    missing = missing_legs(fresh, session)
    real = {
        s: _last_close(fresh, stored, factors.get(s, 1.0), s, session, source)
        if s in missing
        else float(fresh.at[session, s])
        for s in symbols
    }
    return BarUpdate(history.sort_index(), real, new_sessions, factors, comparisons, late, missing)


def _jump_reference(
    fresh: pd.DataFrame, stored: pd.DataFrame, factors: dict[str, float]
) -> pd.DataFrame:
    """Closes to measure one-day moves on: the stored bars (on the feed's scale) where a
    session is stored, so a bad restatement of a stored bar cannot get today's good bar
    refused, and the fresh bars elsewhere."""
    reference = fresh.copy()
    if len(stored):
        rows = [d for d in stored.index if d in reference.index]
        for symbol in reference.columns:
            scaled = stored.loc[rows, symbol] * factors.get(str(symbol), 1.0)
            reference.loc[rows, symbol] = scaled.where(scaled.notna(), reference.loc[rows, symbol])
    return reference


def on_stored_scale(update: BarUpdate) -> BarUpdate:
    """The local paper broker is the research fill model on adjusted closes: it fills and marks
    at the stored scale, so a feed's re-adjustment (a dividend, a split) is no jump in its
    account, as it is none in the backtest. Brokers that book corporate actions trade the
    real closes."""
    if not update.factors:
        return update
    real = {s: p / update.factors.get(s, 1.0) for s, p in update.real_closes.items()}
    return replace(update, real_closes=real)
