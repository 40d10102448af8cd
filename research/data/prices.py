"""The prices step: read a wide table of closes, clean it, write ``adj_close_wide.csv``.

Wide table = one row per session, first column the date, one column of adjusted closes per
ticker. Reading rejects what cannot be repaired safely (unreadable dates, text in a price cell,
a date twice) with an error naming the file, column and line. Cleaning then decides per ticker:
a ticker with no price in the window, a price :mod:`research.data.price_validation` rejects
(non-finite, absurd, non-positive, constant or frozen: bad data, not market facts) or too
little history is *dropped with a reason*, and the remaining tickers are aligned
on the sessions where all of them have a price, like the seed's cleaned file (no gaps).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from research.data.price_dates import parse_session_dates
from research.data.price_validation import DEFAULT_FROZEN_SESSIONS, series_problem
from research.layout import ArtifactLayout
from shared.errors import DataError

DEFAULT_MIN_COVERAGE = 0.9  # a ticker needs a price on >= 90% of the window's sessions
DEFAULT_MIN_BARS = 252  # and at least one year of bars


def read_wide_csv(path: str | Path, date_format: str | None = None) -> pd.DataFrame:
    """A wide CSV of closes as a float frame indexed by tz-naive session dates, sorted.

    Dates are read without guessing (:mod:`research.data.price_dates`): ambiguous day/month dates
    need ``date_format``; sessions after today are refused."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such price file; check --prices or run `prices download`")
    header = _header(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=True, skip_blank_lines=True)
    if raw.shape[1] < 2:
        raise DataError(
            f"{path}: has no price columns (header: {','.join(header)}); expected the date in "
            "the first column and one column of closes per ticker"
        )
    if raw.empty:
        raise DataError(f"{path}: has a header but no rows")
    dates = parse_session_dates(path, raw.iloc[:, 0], date_format)
    body = raw.iloc[:, 1:]
    body.columns = pd.Index([str(c).strip() for c in header[1:]])
    prices = _parse_numbers(path, body, dates)
    _reject_duplicate_dates(path, prices.index)
    return prices.sort_index()


def _header(path: Path) -> list[str]:
    with path.open(newline="") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise DataError(f"{path}: is empty; expected a header row `date,TICKER1,TICKER2,...`")
    names = [h.strip() for h in header[1:]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"{path}: ticker column(s) {', '.join(dupes)} appear more than once")
    blank = [i + 2 for i, n in enumerate(names) if not n]
    if blank:
        raise DataError(f"{path}: column {blank[0]} has no ticker name in the header")
    return header


def _parse_numbers(path: Path, body: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.DataFrame:
    numeric = body.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() & body.notna()
    if bad.to_numpy().any():
        row, col = (int(v[0]) for v in np.nonzero(bad.to_numpy()))
        raise DataError(
            f"{path}: line {row + 2}, column {body.columns[col]} ({dates[row]:%Y-%m-%d}): "
            f"{body.iat[row, col]!r} is not a number; fix the cell or leave it empty"
        )
    numeric.index = dates
    return numeric.astype(np.float64)


def _reject_duplicate_dates(path: Path, index: pd.DatetimeIndex) -> None:
    dup = index.duplicated(keep=False)
    if dup.any():
        first = index[dup][0]
        lines = [int(i) + 2 for i in np.flatnonzero(index == first)]
        raise DataError(
            f"{path}: session {first:%Y-%m-%d} appears {len(lines)} times (lines "
            f"{', '.join(map(str, lines))}); keep one row per date"
        )


@dataclass(frozen=True)
class DroppedTicker:
    symbol: str
    reason: str


@dataclass(frozen=True)
class CleaningReport:
    """What cleaning kept and dropped, for the operator and for provenance."""

    source: str
    first_session: date
    last_session: date
    n_sessions: int
    kept: tuple[str, ...]
    dropped: tuple[DroppedTicker, ...] = ()
    sessions_dropped: int = 0  # sessions where some kept ticker had no price
    min_coverage: float = DEFAULT_MIN_COVERAGE
    min_bars: int = DEFAULT_MIN_BARS
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> str:
        payload: dict[str, Any] = asdict(self)
        payload["first_session"] = self.first_session.isoformat()
        payload["last_session"] = self.last_session.isoformat()
        return json.dumps(payload, indent=2) + "\n"

    def summary(self) -> str:
        lines = [
            f"cleaned prices ({self.source}): {len(self.kept)} tickers x {self.n_sessions} "
            f"sessions, {self.first_session} .. {self.last_session}"
        ]
        if self.sessions_dropped:
            lines.append(f"  {self.sessions_dropped} session(s) dropped to align the tickers")
        lines += [f"  dropped {d.symbol}: {d.reason}" for d in self.dropped]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def clean_prices(
    prices: pd.DataFrame,
    *,
    source: str,
    start: date | None = None,
    end: date | None = None,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    min_bars: int = DEFAULT_MIN_BARS,
    frozen_sessions: int = DEFAULT_FROZEN_SESSIONS,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Restrict to ``start..end`` (inclusive), drop unusable tickers (with reasons), align.

    Unusable: the checks of :mod:`research.data.price_validation` (non-finite, absurd, non-positive,
    constant or frozen closes), too few bars, or too little coverage.

    Raises a DataError when the window is empty or fewer than two tickers survive (no pair can
    be formed), listing why each ticker went.
    """
    if not 0 < min_coverage <= 1:
        raise DataError(f"min coverage must be in (0, 1] (got {min_coverage})")
    window = _restrict(prices, start, end)
    dropped: list[DroppedTicker] = []
    kept: list[str] = []
    for symbol in window.columns:
        reason = series_problem(window[symbol], frozen_sessions) or _drop_reason(
            window[symbol], min_coverage, min_bars
        )
        if reason:
            dropped.append(DroppedTicker(str(symbol), reason))
        else:
            kept.append(str(symbol))
    if len(kept) < 2:
        why = "; ".join(f"{d.symbol}: {d.reason}" for d in dropped) or "the table has one ticker"
        raise DataError(
            f"fewer than two usable tickers in {source} (kept: {', '.join(kept) or 'none'}; "
            f"{why}); widen the date range or lower --min-coverage/--min-bars"
        )
    aligned = window[kept].dropna(how="any")
    if len(aligned) < min_bars:
        raise DataError(
            f"only {len(aligned)} sessions where all of {', '.join(kept)} have a price "
            f"(need {min_bars}); widen the date range or lower --min-bars"
        )
    aligned.index.name = "date"
    report = CleaningReport(
        source=source,
        first_session=aligned.index[0].date(),
        last_session=aligned.index[-1].date(),
        n_sessions=len(aligned),
        kept=tuple(kept),
        dropped=tuple(dropped),
        sessions_dropped=len(window) - len(aligned),
        min_coverage=min_coverage,
        min_bars=min_bars,
    )
    return aligned, report


def _restrict(prices: pd.DataFrame, start: date | None, end: date | None) -> pd.DataFrame:
    if start and end and end < start:
        raise DataError(f"--end {end} is before --start {start}")
    index = pd.DatetimeIndex(prices.index)
    keep = np.ones(len(index), dtype=bool)
    if start:
        keep &= index >= pd.Timestamp(start)
    if end:
        keep &= index <= pd.Timestamp(end)
    window = prices.loc[keep]
    if window.empty:
        span = f"{index.min():%Y-%m-%d} .. {index.max():%Y-%m-%d}" if len(index) else "no dates"
        raise DataError(
            f"no sessions between {start or 'the start'} and {end or 'the end'} (the data covers "
            f"{span}); adjust --start/--end"
        )
    return window


def _drop_reason(series: pd.Series, min_coverage: float, min_bars: int) -> str | None:
    values = series.dropna()
    if values.empty:
        return "no prices in the date range"
    n, total = len(values), len(series)
    if n / total < min_coverage:
        gap = _longest_gap(series)
        return (
            f"prices on only {n} of {total} sessions ({n / total:.0%} < {min_coverage:.0%}); "
            f"longest gap {gap}"
        )
    if n < min_bars:
        return f"only {n} bars (fewer than {min_bars})"
    return None


def _longest_gap(series: pd.Series) -> str:
    """``"k sessions from D1 to D2"`` for the longest run of missing prices."""
    missing = series.isna().to_numpy()
    best_len, best_start, run_start = 0, 0, 0
    for i, m in enumerate(np.append(missing, False)):
        if not m:
            if i - run_start > best_len:
                best_len, best_start = i - run_start, run_start
            run_start = i + 1
    first, last = series.index[best_start], series.index[best_start + best_len - 1]
    return f"{best_len} sessions from {first:%Y-%m-%d} to {last:%Y-%m-%d}"


def write_cleaned(prices: pd.DataFrame, report: CleaningReport, layout: ArtifactLayout) -> Path:
    """Write ``data/cleaned/adj_close_wide.csv`` (index column ``date``) and the report."""
    layout.ensure_dirs()
    out = prices.copy()
    out.index = pd.DatetimeIndex(out.index).strftime("%Y-%m-%d")
    out.to_csv(layout.cleaned_prices, index_label="date")
    layout.cleaning_report.write_text(report.to_json())
    return layout.cleaned_prices


def read_cleaned(layout: ArtifactLayout) -> pd.DataFrame:
    """The cleaned prices exactly as the seed reads them."""
    path = layout.cleaned_prices
    if not path.is_file():
        raise DataError(
            f"{path}: no cleaned prices yet; run `pairs-research prices import|download|generate` "
            "with the same --base-dir first"
        )
    return pd.read_csv(path, parse_dates=["date"], index_col="date")


def read_source_label(layout: ArtifactLayout, default: str = "unknown") -> str:
    """The ``source`` recorded by the last cleaning (for the config's data window)."""
    try:
        return str(json.loads(layout.cleaning_report.read_text())["source"])
    except (OSError, ValueError, KeyError):
        return default


def restrict_columns(prices: pd.DataFrame, tickers: Sequence[str] | None) -> pd.DataFrame:
    """Keep only ``tickers`` (all when None); unknown tickers are an error naming them."""
    if not tickers:
        return prices
    missing = [t for t in tickers if t not in prices.columns]
    if missing:
        raise DataError(f"ticker(s) {', '.join(missing)} not in the price table", symbol=missing[0])
    return prices[list(tickers)]
