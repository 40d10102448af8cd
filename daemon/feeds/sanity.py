"""Bar sanity: what a feed's bars must pass before anything is stored or traded.

A feed can deliver a bad print (``inf``, ``1e300``, a ×100 close for one day that is fixed the
next), a row dated in the future, or nothing new at all. Each is refused here, *before* the
store is touched, so once the feed is corrected the next run resumes where it stopped and
trades exactly as if the bad bar had never existed. The errors are typed so the cycle can log
them under stable event names an alert layer can map: ``bar_refused`` and ``stale_feed``.

A feed whose dates are its sessions (a CSV with ``data.calendar_check`` off) never offers a
future row as a session (:func:`dates_through_today`); it says so, naming the rows, since a
date typed wrong in the future usually means a real session is missing too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from daemon.core.errors import BarRefused
from daemon.core.ports import EventLog

BAR_REFUSED_EVENT = "bar_refused"
STALE_FEED_EVENT = "stale_feed"
# No listed share trades near a billion dollars; anything above is a corrupted number.
MAX_PRICE = 1e9


def exchange_date(now: datetime) -> date:
    """Today's date in New York: the latest session that can have a close."""
    return now.astimezone(ZoneInfo("America/New_York")).date()


def _refuse(message: str, symbol: str | None, session: date | None) -> BarRefused:
    return BarRefused(message, symbol=symbol, session=session.isoformat() if session else None)


def check_not_future(session: date, today: date, source: str) -> None:
    """A session dated after the clock's today cannot have a close yet: a bad row."""
    if session > today:
        raise _refuse(
            f"{source}: a bar dated {session} is after today ({today}); a row from the future "
            "is a bad print, never run as a session. Fix or remove the row in the feed",
            None,
            session,
        )


def dates_through_today(
    dates: Callable[[], Sequence[date]],
    today: Callable[[], date],
    source: str,
    log: EventLog | None = None,
) -> Callable[[], list[date]]:
    """The feed's dates up to the clock's today, as a calendar reads them. Rows dated after
    today are never sessions; with ``log`` they are reported (a ``bar_refused`` warning naming
    them), once a day while they stay."""
    said: set[tuple[date, tuple[date, ...]]] = set()

    def current() -> list[date]:
        now = today()
        every = sorted(set(dates()))
        future = tuple(d for d in every if d > now)
        if future and log is not None and (now, future) not in said:
            said.add((now, future))
            shown = ", ".join(d.isoformat() for d in future[:5])
            more = f" and {len(future) - 5} more" if len(future) > 5 else ""
            log.warning(
                BAR_REFUSED_EVENT,
                kind="future_rows",
                sessions=[d.isoformat() for d in future],
                today=now.isoformat(),
                error=f"{source}: {len(future)} row(s) dated after today ({now}): {shown}{more}; "
                "a row from the future is a bad print, never run as a session. A date typed "
                "wrong? Then its real session is missing too: fix the row in the feed",
            )
        return [d for d in every if d <= now]

    return current


def check_values(frame: pd.DataFrame, sessions: Sequence[date], source: str) -> None:
    """Every close on ``sessions`` is finite and positive (NaN is a missing bar, judged by the
    caller): ``inf`` or ``1e300`` would overflow the filter or the order size."""
    for d in sessions:
        for symbol in frame.columns:
            value = float(frame.at[d, symbol])
            if math.isnan(value):
                continue
            if not math.isfinite(value) or value <= 0 or value > MAX_PRICE:
                raise _refuse(
                    f"{source}: implausible close {value!r} for {symbol} on {d} (must be a "
                    f"finite price in (0, {MAX_PRICE:g}]); nothing stored or traded. Fix the "
                    "feed; the next run resumes from the stored history",
                    str(symbol),
                    d,
                )


def check_jumps(
    frame: pd.DataFrame, sessions: Sequence[date], max_move: float, source: str
) -> None:
    """Refuse a close that differs from the previous delivered close by more than a factor of
    ``max_move`` (up or down). An adjusted feed rescales the whole history at a split, so a
    real corporate action does not show as a one-day jump; a ×100 print does."""
    wanted = [d for d in sessions if d in frame.index]
    for symbol in frame.columns:
        series = frame[symbol].astype(float)
        series = series[np.isfinite(series.to_numpy()) & (series.to_numpy() > 0)]
        ratios = (series / series.shift(1)).reindex(wanted)
        bad = ratios[(ratios > max_move) | (ratios < 1.0 / max_move)]
        if len(bad):
            d = bad.index[0]
            value, prior = float(series.at[d]), float(series.at[d] / bad.iloc[0])
            raise _refuse(
                f"{source}: {symbol} moved ×{bad.iloc[0]:.4g} in one session on {d} (close "
                f"{value:.6g} after {prior:.6g}), beyond data.max_daily_move = {max_move:g}; "
                "refused as a bad print, nothing stored or traded. If the move is real "
                "(a corporate action the feed does not adjust), raise data.max_daily_move",
                str(symbol),
                _as_date(d),
            )


def _as_date(value: object) -> date | None:
    return value if isinstance(value, date) else None


def finite_or_nan(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with non-finite and non-positive values as NaN: the rows only used to compare
    with the stored history treat a bad value as a missing one."""
    values = frame.to_numpy(dtype=float, copy=True)
    values[~np.isfinite(values) | (values <= 0)] = np.nan
    return pd.DataFrame(values, index=frame.index, columns=frame.columns)
