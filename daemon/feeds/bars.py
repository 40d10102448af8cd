"""Daily closes: validation, and keeping the stored scale (the feeds themselves are adapters:
:mod:`daemon.adapters.csv.bars`, :mod:`daemon.adapters.yfinance.bars`, Alpaca's).

Validation stops a session on the first bad bar with a :class:`DataError` that names the symbol
and the session: a duplicated date, a ticker absent from the feed, a session with no close at
all, a missing session (vs the XNYS calendar
when enabled), a stale feed (no bar for the requested session, :class:`StaleFeed`), and the bad
prints of :mod:`daemon.feeds.sanity` (non-finite, non-positive, a one-day move beyond
``data.max_daily_move``, a session after the clock's today: :class:`BarRefused`). All of it
happens before anything is stored. One symbol without a close (NaN: halted, suspended,
delisted) does not stop the session: it is a *missing leg*, stored as absent, and only the pairs
that trade it hold (:mod:`daemon.cycle.missing_legs`).

Adjusted prices move (a dividend rescales a ticker's whole adjusted history, a split rescales it
by the split ratio), and the Kalman filter is not scale-invariant. So the strategy runs on the
bars the daemon stored when it first consumed them, and only new sessions are appended. Fresh
bars for stored sessions are compared with the stored ones (:mod:`daemon.feeds.revisions`): the
per-ticker factor that holds at the end of the stored history is undone on the new bars; single
bars restated beyond the tolerance, a factor that changes inside the history, rows filled in
late and stored rows the feed dropped are reported, never applied. A fresh history that is not
the stored one re-adjusted (every close a session late, another series) stops the session
before anything is stored (:class:`HistoryMismatch`). Orders and equity use the real (fresh)
closes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import pandas as pd

from daemon.core.errors import HistoryMismatch, StaleFeed
from daemon.feeds.revisions import SymbolComparison, compare_symbol, dropped, late_filled
from daemon.feeds.sanity import check_jumps, check_not_future, check_values, finite_or_nan
from shared.errors import DataError

# A close more than this factor away from the previous one (×2 or ÷2) is a bad print unless
# the operator says otherwise (data.max_daily_move).
DEFAULT_MAX_MOVE = 2.0


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
    trade them hold for the session (:mod:`daemon.cycle.missing_legs`)."""
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
    dropped: list[date] = field(default_factory=list)  # stored, gone from the feed: reported

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
    gone: list[date] = []
    if len(stored):
        first = min(stored_sessions)
        late = late_filled(comparable, stored_sessions, first, last_stored)
        gone = dropped(comparable, stored_sessions, first)
        for symbol in symbols:
            comparisons[symbol] = compare_symbol(
                stored[symbol], comparable[symbol], tolerance, symbol
            )
        _refuse_mismatch(comparisons, session, source)
        for symbol, found in comparisons.items():
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
    return BarUpdate(
        history.sort_index(), real, new_sessions, factors, comparisons, late, missing, gone
    )


def _refuse_mismatch(
    comparisons: Mapping[str, SymbolComparison], session: date, source: str
) -> None:
    """Stop before anything is stored when a symbol's fresh history is not its stored one."""
    found = [c for c in comparisons.values() if c.mismatch]
    if not found:
        return
    found_text = "; ".join(str(c.mismatch) for c in found)
    raise HistoryMismatch(
        f"{source}: {found_text}{' ' if found_text.endswith('?') else '. '}Nothing stored or "
        "traded: fix the feed (the session is retried until it matches), or accept the "
        "feed's history with `pairs-daemon rewarm` (service stopped)",
        symbol=found[0].symbol,
        session=session.isoformat(),
    )


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
