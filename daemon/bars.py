"""Daily closes: the CSV and yfinance feeds, validation, and keeping the stored scale.

Validation stops a session on the first bad bar with a :class:`DataError` that names the symbol
and the session: NaN, non-positive, a duplicated date, a missing leg, a missing session (vs the
XNYS calendar when enabled), or a stale feed (no bar for the requested session).

Adjusted prices move (a dividend rescales a ticker's whole adjusted history, a split rescales it
by the split ratio), and the Kalman filter is not scale-invariant. So the strategy runs on the
bars the daemon stored when it first consumed them, and only new sessions are appended. Fresh
bars for stored sessions are compared with the stored ones: a constant factor per ticker is a
re-adjustment, logged and undone on the new bars (they are divided by it); anything else means
the history was rewritten and the run stops. Orders and equity use the real (fresh) closes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.errors import DataError


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
    """Adjusted daily closes from Yahoo Finance (``auto_adjust=True``)."""

    name = "yfinance"

    def daily_closes(self, symbols: Sequence[str], start: date, end: date) -> pd.DataFrame:
        import yfinance as yf

        raw: Any = yf.download(
            list(symbols),
            start=start.isoformat(),
            end=(end + timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
            auto_adjust=True,
            progress=False,
            threads=False,
            group_by="column",
        )
        if raw is None or len(raw) == 0:
            raise DataError(f"yfinance returned no bars for {list(symbols)} in {start}..{end}")
        closes = raw["Close"]
        if isinstance(closes, pd.Series):
            closes = closes.to_frame(name=symbols[0])
        closes.index = [pd.Timestamp(v).date() for v in closes.index]
        return closes.reindex(columns=list(symbols)).astype(float)


def _fail(message: str, symbol: str | None, session: date | None) -> DataError:
    return DataError(message, symbol=symbol, session=session.isoformat() if session else None)


def validate_closes(
    frame: pd.DataFrame,
    symbols: Sequence[str],
    required: Sequence[date],
    source: str,
) -> pd.DataFrame:
    """Check ``frame`` has a good close for every symbol on every ``required`` session.

    Returns the frame sorted by session. Rows outside ``required`` may be incomplete (they are
    only used to detect a rescaling) but must not be duplicated or non-positive.
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
    values = frame.to_numpy(dtype=float)
    bad = np.argwhere(~np.isnan(values) & (values <= 0))
    if len(bad):
        d, symbol = frame.index[bad[0][0]], symbols[bad[0][1]]
        raise _fail(
            f"{source}: non-positive close {values[tuple(bad[0])]} for {symbol} on {d}", symbol, d
        )
    present = set(frame.index)
    last = max(present) if present else None
    for d in required:
        if d not in present:
            if last is None or d > last:
                raise _fail(
                    f"{source}: no bar for session {d} (stale feed: latest is {last}); "
                    "nothing traded, retry when the data is published",
                    None,
                    d,
                )
            raise _fail(f"{source}: session {d} is missing from the bars", None, d)
        for symbol in symbols:
            value = frame.at[d, symbol]
            if value is None or math.isnan(value):
                raise _fail(
                    f"{source}: no close for {symbol} on {d} (NaN or a missing leg); "
                    "nothing traded on partial data",
                    symbol,
                    d,
                )
    return frame


@dataclass(frozen=True, slots=True)
class BarUpdate:
    """The result of merging fresh bars into the stored history for one session."""

    strategy_closes: pd.DataFrame  # every session through the requested one, stored scale
    real_closes: dict[str, float]  # the requested session's closes as delivered
    new_sessions: list[date]
    factors: dict[str, float] = field(default_factory=dict)  # fresh / stored, when rescaled


def rescale_factor(
    stored: pd.Series, fresh: pd.Series, tolerance: float, symbol: str
) -> float | None:
    """fresh/stored when it is one constant over the overlap (None: no change or no overlap)."""
    common = stored.index.intersection(fresh.index)
    s = stored.loc[common].to_numpy(dtype=float)
    f = fresh.loc[common].to_numpy(dtype=float)
    ok = ~(np.isnan(s) | np.isnan(f))
    if not ok.any():
        return None
    ratios = f[ok] / s[ok]
    factor = float(np.median(ratios))
    deviation = np.abs(ratios / factor - 1.0)
    if deviation.max() > tolerance:
        first = common[ok][int(np.argmax(deviation > tolerance))]
        raise _fail(
            f"fresh bars for {symbol} differ from the stored ones by a non-constant factor "
            f"(fresh/stored from {ratios.min():.6g} to {ratios.max():.6g}, e.g. on {first}): "
            "the history was rewritten, not re-adjusted; check the data source, or start a "
            "fresh state directory to trade on the new history",
            symbol,
            first,
        )
    return factor if abs(factor - 1.0) > tolerance else None


def merge_bars(
    stored: pd.DataFrame,
    fresh: pd.DataFrame,
    symbols: Sequence[str],
    session: date,
    expected: Sequence[date],
    tolerance: float,
    source: str,
) -> BarUpdate:
    """Validate ``fresh`` and append its new sessions to ``stored`` on the stored scale.

    ``expected`` are the sessions the history must contain through ``session`` (the XNYS
    sessions, or the feed's own dates when the calendar check is off).
    """
    stored = stored.loc[[d <= session for d in stored.index]] if len(stored) else stored
    stored_sessions = set(stored.index)
    last_stored = max(stored_sessions) if stored_sessions else None
    required = [d for d in expected if d not in stored_sessions and d <= session]
    if session not in required and session not in stored_sessions:
        required.append(session)
    if session in stored_sessions:
        required.append(session)  # its real close is needed for orders and equity
    fresh = validate_closes(fresh, symbols, sorted(set(required)), source)
    gap = [d for d in required if last_stored is not None and d < last_stored]
    if gap:
        raise _fail(
            f"{source}: session {gap[0]} is earlier than the last stored session {last_stored} "
            "but was never stored; the stored history has a hole",
            None,
            gap[0],
        )
    new_sessions = [d for d in sorted(set(required)) if d not in stored_sessions]
    new_rows = fresh.loc[new_sessions, list(symbols)].copy()
    factors: dict[str, float] = {}
    for symbol in symbols:
        if not len(stored):
            break
        factor = rescale_factor(stored[symbol], fresh[symbol], tolerance, symbol)
        if factor is not None:
            factors[symbol] = factor
            new_rows[symbol] = new_rows[symbol] / factor
    history = pd.concat([stored.loc[:, list(symbols)], new_rows]) if len(stored) else new_rows
    real = {s: float(fresh.at[session, s]) for s in symbols}
    return BarUpdate(history.sort_index(), real, new_sessions, factors)
