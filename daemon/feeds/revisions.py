"""Stored vs fresh bars: re-adjustments, restatements, late-filled and dropped rows, and fresh
histories that are not the stored one at all.

Adjusted closes are re-anchored by the vendor at every dividend and split, so a fresh download
differs from the bars the daemon stored by one constant factor per ticker *plus rounding
noise*: two real Yahoo downloads of the same tickers differ by up to 1.35e-6 relative after the
factor is taken out (floats printed to six decimals, the vendor's float32 arithmetic). Vendors
also restate single bars (a cent, a bad print fixed a day later), fill in rows they missed,
drop rows, and fix an adjustment they had missed: then the factor fresh/stored changes at that
session (a *factor change*, e.g. ×0.99 before it and ×0.98 from it on).

The ratio fresh/stored is read as levels: runs of sessions whose ratios agree within
``tolerance`` (relative). One level is the ordinary re-adjustment: its factor is the median of
fresh/stored over the overlap (so a few restated bars cannot move it), exactly as before factor
changes were recognised. Several levels are factor changes, reported with their session and
both factors. The factor undone on new bars is the one that holds at the *end* of the stored
history, so a change inside the history never enters the new bars as a step. Bars whose
residual against their level is beyond ``tolerance`` are *revisions*: reported (symbol,
sessions, size), never applied. The strategy stays on the history it traded on; ``pairs-daemon
rewarm`` switches it to the corrected history when an operator decides to.

A fresh history these cannot explain (more than :data:`MAX_FACTOR_CHANGES` factor changes, or
more restated bars than :func:`allowed_revisions` of the overlap) is a *mismatch* when it is
far from the stored one: every close a session late (tested directly: the stored series
shifted by one or two sessions), or another series under the ticker. The caller stops the
session before anything is stored (:class:`daemon.core.errors.HistoryMismatch`). Rounding
noise a little beyond a too-tight tolerance is no mismatch: it stays a list of restated bars.
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
# Restated bars a history may carry and still count as the stored one re-adjusted: at least
# this many, or this fraction of the compared sessions. Two real downloads (17 tickers over
# 2,766 sessions) restate none; a shifted or foreign series restates nearly all.
MIN_ALLOWED_REVISIONS = 5
ALLOWED_REVISION_FRACTION = 0.05
# A vendor fixing a missed adjustment changes the factor once per fixed event; a history whose
# factor changes more often is not a re-adjustment of the stored one (an unadjusted feed
# steps at every dividend).
MAX_FACTOR_CHANGES = 3
# A level of the factor needs this many consecutive sessions: one bar apart is a restated bar.
MIN_LEVEL_SESSIONS = 2
# A history nothing explains is a mismatch only when its bars are far off: the median residual
# of the bars beyond the tolerance is beyond this multiple of it (a shifted series is off by a
# day's move, ~1e-2; noise a little beyond a tight tolerance is not).
GROSS_MULTIPLE = 10.0
# Shifts tested when the unshifted history is not explained (sessions; + is later in the feed).
SHIFTS = (1, -1, 2, -2)
# A shift is named when it explains the history at least this many times better (fewer
# restated bars and factor changes) than no shift.
SHIFT_ADVANTAGE = 4


@dataclass(frozen=True, slots=True)
class FactorChange:
    """The factor fresh/stored changes inside the stored history (a fixed adjustment)."""

    session: date  # the first session on the new factor
    before: float  # fresh / stored on the sessions before it
    after: float  # fresh / stored from ``session`` on

    @property
    def step(self) -> float:
        return self.after / self.before - 1.0


@dataclass(frozen=True, slots=True)
class SymbolComparison:
    """How one ticker's fresh bars relate to its stored ones."""

    symbol: str
    factor: float  # fresh / stored at the end of the history (1.0 when unchanged or no overlap)
    overlap: int  # sessions compared
    max_noise: float  # largest relative residual within tolerance
    # session -> (stored close, fresh close on the stored scale), residual beyond tolerance
    restated: dict[date, tuple[float, float]] = field(default_factory=dict)
    changes: tuple[FactorChange, ...] = ()  # the factor's changes inside the history
    # why the fresh history is not the stored one re-adjusted (the caller stops the session)
    mismatch: str | None = None

    @property
    def max_revision(self) -> float:
        if not self.restated:
            return 0.0
        return max(abs(f / s - 1.0) for s, f in self.restated.values())


def allowed_revisions(overlap: int) -> int:
    """Restated bars a fresh history of ``overlap`` compared sessions may carry."""
    return max(MIN_ALLOWED_REVISIONS, int(ALLOWED_REVISION_FRACTION * overlap))


@dataclass(frozen=True, slots=True)
class _Fit:
    """fresh/stored read as levels: per session the factor of its level, and which sessions
    are beyond the tolerance from it (restated)."""

    factors: np.ndarray  # per session: the factor of the level it belongs to
    changes: list[tuple[int, float, float]]  # (first index on the new factor, before, after)
    beyond: np.ndarray  # per session: residual beyond the tolerance

    @property
    def cost(self) -> int:
        return int(self.beyond.sum()) + len(self.changes)

    def explains(self, overlap: int) -> bool:
        return (
            len(self.changes) <= MAX_FACTOR_CHANGES
            and int(self.beyond.sum()) <= allowed_revisions(overlap)
            and bool(np.isfinite(self.factors).all())
        )


def _snap(factor: float, tolerance: float) -> float:
    return 1.0 if abs(factor - 1.0) <= tolerance else factor  # unchanged: nothing to undo


def _fit(ratio: np.ndarray, tolerance: float) -> _Fit:
    """Levels of ``ratio`` (fresh/stored in session order): runs of at least
    :data:`MIN_LEVEL_SESSIONS` consecutive ratios within ``tolerance`` of each other, adjacent
    runs on the same factor merged; every other session is judged against the level in
    effect (the one before it, or the next when it agrees with that one)."""
    n = len(ratio)
    x = np.log(ratio)
    breaks = np.flatnonzero(np.abs(np.diff(x)) > tolerance) + 1
    starts, ends = np.r_[0, breaks], np.r_[breaks, n]
    spans: list[list[int]] = []  # [first, last + 1] of each level, merged
    values: list[float] = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if b - a < MIN_LEVEL_SESSIONS:
            continue
        value = float(np.median(x[a:b]))
        if values and abs(value - values[-1]) <= tolerance:
            spans[-1][1] = b  # the same factor after a restated bar: one level
            continue
        spans.append([a, b])
        values.append(value)
    if not spans:
        return _Fit(np.full(n, np.nan), [], np.ones(n, dtype=bool))
    # Each session belongs to the level in effect (the last one starting at or before it, the
    # first before any); a session between two levels that agrees with the next one only
    # belongs to the next.
    firsts = np.array([a for a, _ in spans])
    label = np.maximum(np.searchsorted(firsts, np.arange(n), side="right") - 1, 0)
    level = np.array(values)
    nxt = np.minimum(label + 1, len(spans) - 1)
    ends = np.array([b for _, b in spans])
    between = np.arange(n) >= ends[label]
    agrees_next = (np.abs(x - level[nxt]) <= tolerance) & (np.abs(x - level[label]) > tolerance)
    label = np.where(between & agrees_next, nxt, label)
    factors_by_level = [float(np.median(ratio[label == j])) for j in range(len(spans))]
    factors_by_level = [_snap(f, tolerance) for f in factors_by_level]
    factors = np.array(factors_by_level)[label]
    beyond = np.abs(ratio / factors - 1.0) > tolerance
    changes = []
    for j in range(1, len(spans)):
        on_new = np.flatnonzero((label == j) & ~beyond)
        first = int(on_new[0]) if len(on_new) else int(np.flatnonzero(label == j)[0])
        changes.append((first, factors_by_level[j - 1], factors_by_level[j]))
    return _Fit(factors, changes, beyond)


def _shifted_ratio(stored: pd.Series, fresh: pd.Series, shift: int) -> np.ndarray:
    """fresh on the stored session ``shift`` places later, over stored: ``shift`` = +1 means
    the feed dates each close one session late."""
    days = list(stored.index)
    if abs(shift) >= len(days):
        return np.array([])
    if shift > 0:
        s, f = stored.to_numpy(dtype=float)[:-shift], fresh.reindex(days[shift:])
    else:
        s, f = stored.to_numpy(dtype=float)[-shift:], fresh.reindex(days[:shift])
    f_values = f.to_numpy(dtype=float)
    ok = np.isfinite(s) & np.isfinite(f_values) & (s > 0) & (f_values > 0)
    return f_values[ok] / s[ok]


def _sessions_word(n: int) -> str:
    return {1: "one session", 2: "two sessions"}.get(n, f"{n} sessions")


def _mismatch(
    stored: pd.Series,
    fresh: pd.Series,
    sessions: list[date],
    ratio: np.ndarray,
    fit: _Fit,
    single_beyond: np.ndarray,
    residual: np.ndarray,
    factor: float,
    tolerance: float,
    symbol: str,
) -> str | None:
    """Why ``fresh`` is not ``stored`` re-adjusted, when it is far from it; else None."""
    n = len(ratio)
    off = int(single_beyond.sum())
    ordered = stored.sort_index()
    best: tuple[int, int, int] | None = None  # (cost, |shift|, shift)
    for shift in SHIFTS:
        shifted = _shifted_ratio(ordered, fresh, shift)
        if len(shifted) < max(MIN_ALLOWED_REVISIONS * 2, n // 2):
            continue
        candidate = _fit(shifted, tolerance)
        if candidate.explains(len(shifted)) and candidate.cost * SHIFT_ADVANTAGE <= fit.cost:
            key = (candidate.cost, abs(shift), shift)
            best = key if best is None or key < best else best
    if best is not None:
        shift = best[2]
        when = "later" if shift > 0 else "earlier"
        return (
            f"fresh {symbol} equals the stored bars shifted by {_sessions_word(abs(shift))}: "
            f"each stored close is dated {_sessions_word(abs(shift))} {when} in the feed "
            f"({off} of {n} stored sessions differ unshifted, {best[0]} when shifted): a "
            "date or time-zone error in the feed"
        )
    gross = residual[single_beyond]
    if not len(gross) or float(np.median(gross)) <= GROSS_MULTIPLE * tolerance:
        return None  # noise a little beyond the tolerance: restated bars, as reported
    size = f"median {np.median(gross):.3g}, largest {gross.max():.3g} relative"
    if len(fit.changes) > MAX_FACTOR_CHANGES and fit.cost < off:
        shown = ", ".join(sessions[i].isoformat() for i, _, _ in fit.changes[:3])
        return (
            f"fresh {symbol} is not the stored history re-adjusted: the factor fresh/stored "
            f"changes {len(fit.changes)} times (on {shown}, ...), {off} of {n} stored sessions "
            f"differ from one factor ({size}): an unadjusted feed, or another series?"
        )
    return (
        f"fresh {symbol} is not the stored history re-adjusted: {off} of {n} stored sessions "
        f"differ from one factor fresh/stored ({factor:.6g}) beyond {tolerance:g} ({size}), "
        f"and no shift by one or two sessions explains it: another series under {symbol}?"
    )


def compare_symbol(
    stored: pd.Series, fresh: pd.Series, tolerance: float, symbol: str
) -> SymbolComparison:
    """Estimate fresh/stored for one ticker: its factor at the end of the history, its changes
    inside it, the stored sessions restated beyond ``tolerance``, and (``mismatch``) why the
    fresh history is not the stored one re-adjusted at all."""
    common = sorted(stored.index.intersection(fresh.index))
    s = stored.reindex(common).to_numpy(dtype=float)
    f = fresh.reindex(common).to_numpy(dtype=float)
    ok = np.isfinite(s) & np.isfinite(f) & (s > 0) & (f > 0)
    if not ok.any():
        return SymbolComparison(symbol, 1.0, 0, 0.0)
    sessions = [d for d, keep in zip(common, ok, strict=True) if keep]
    s, f = s[ok], f[ok]
    ratio = f / s
    # One factor for the whole history: the median, so a few restated bars cannot move it.
    factor = _snap(float(np.median(ratio)), tolerance)
    residual = np.abs(ratio / factor - 1.0)
    beyond = residual > tolerance
    fit = _fit(ratio, tolerance)
    changes: tuple[FactorChange, ...] = ()
    mismatch = None
    if fit.explains(len(ratio)) and fit.changes:
        factor = float(fit.factors[-1])  # the factor that holds at the end of the history
        residual = np.abs(ratio / fit.factors - 1.0)
        beyond = fit.beyond
        changes = tuple(FactorChange(sessions[i], a, b) for i, a, b in fit.changes)
        scales = fit.factors
    else:
        scales = np.full(len(ratio), factor)
        if not fit.explains(len(ratio)):
            mismatch = _mismatch(
                stored, fresh, sessions, ratio, fit, beyond, residual, factor, tolerance, symbol
            )
    restated = {sessions[i]: (float(s[i]), float(f[i] / scales[i])) for i in np.flatnonzero(beyond)}
    noise = float(residual[~beyond].max()) if (~beyond).any() else 0.0
    return SymbolComparison(symbol, factor, len(sessions), noise, restated, changes, mismatch)


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


def dropped(fresh: pd.DataFrame, stored_sessions: set[date], first: date) -> list[date]:
    """Stored sessions the feed no longer has a row for (from ``first``, the first session it
    was asked for): the vendor deleted them. The stored bars stay; this is reported."""
    have = set(fresh.index)
    return sorted(d for d in stored_sessions if d >= first and d not in have)


def describe_sessions(sessions: list[date], limit: int = 5) -> str:
    shown = ", ".join(d.isoformat() for d in sessions[:limit])
    more = len(sessions) - limit
    return shown + (f" and {more} more" if more > 0 else "")
