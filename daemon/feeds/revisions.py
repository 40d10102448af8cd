"""Stored vs fresh bars: re-adjustments, restatements and late-filled rows.

Adjusted closes are re-anchored by the vendor at every dividend and split, so a fresh download
differs from the bars the daemon stored by one constant factor per ticker *plus rounding
noise*: two real Yahoo downloads of the same tickers differ by up to 1.35e-6 relative after the
factor is taken out (floats printed to six decimals, the vendor's float32 arithmetic). Vendors
also restate single bars (a cent, a bad print fixed a day later) and fill in rows they missed.

The factor is estimated robustly (the median of fresh/stored over the overlap, so a few
restated bars cannot move it); each bar's residual is then judged against ``tolerance``
(relative). Bars beyond it are *revisions*: reported (symbol, sessions, size), never applied.
The strategy stays on the history it traded on; ``pairs-daemon rewarm`` switches it to the
corrected history when an operator decides to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

# Default relative tolerance: ~7× the worst float noise measured between two real downloads
# (1.35e-6), and below one cent on a $1,000 close (1e-5), so a one-cent restatement of any
# common price is still reported.
DEFAULT_TOLERANCE = 1e-5


@dataclass(frozen=True, slots=True)
class SymbolComparison:
    """How one ticker's fresh bars relate to its stored ones."""

    symbol: str
    factor: float  # fresh / stored (1.0 when unchanged or no overlap)
    overlap: int  # sessions compared
    max_noise: float  # largest relative residual within tolerance
    # session -> (stored close, fresh close on the stored scale), residual beyond tolerance
    restated: dict[date, tuple[float, float]] = field(default_factory=dict)

    @property
    def max_revision(self) -> float:
        if not self.restated:
            return 0.0
        return max(abs(f / s - 1.0) for s, f in self.restated.values())


def compare_symbol(
    stored: pd.Series, fresh: pd.Series, tolerance: float, symbol: str
) -> SymbolComparison:
    """Estimate fresh/stored for one ticker and list the stored sessions restated beyond it."""
    common = stored.index.intersection(fresh.index)
    s = stored.reindex(common).to_numpy(dtype=float)
    f = fresh.reindex(common).to_numpy(dtype=float)
    ok = np.isfinite(s) & np.isfinite(f) & (s > 0) & (f > 0)
    if not ok.any():
        return SymbolComparison(symbol, 1.0, 0, 0.0)
    sessions = [d for d, keep in zip(common, ok, strict=True) if keep]
    s, f = s[ok], f[ok]
    factor = float(np.median(f / s))
    if abs(factor - 1.0) <= tolerance:
        factor = 1.0  # unchanged: no re-adjustment to undo
    residual = np.abs(f / factor / s - 1.0)
    beyond = residual > tolerance
    restated = {sessions[i]: (float(s[i]), float(f[i] / factor)) for i in np.flatnonzero(beyond)}
    noise = float(residual[~beyond].max()) if (~beyond).any() else 0.0
    return SymbolComparison(symbol, factor, len(sessions), noise, restated)


def late_filled(
    fresh: pd.DataFrame, stored_sessions: set[date], first: date, last_stored: date | None
) -> list[date]:
    """Sessions the feed now has, inside the stored span, that were never stored: rows the
    vendor filled in late. The strategy already moved past them, so they are reported, never
    inserted into the history it traded on."""
    if last_stored is None:
        return []
    complete = fresh.notna().all(axis=1)
    return sorted(
        d
        for d in fresh.index[complete.to_numpy()]
        if first <= d < last_stored and d not in stored_sessions
    )


def describe_sessions(sessions: list[date], limit: int = 5) -> str:
    shown = ", ".join(d.isoformat() for d in sessions[:limit])
    more = len(sessions) - limit
    return shown + (f" and {more} more" if more > 0 else "")
