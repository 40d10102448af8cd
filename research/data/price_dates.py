"""Reading the date column of a price file without guessing.

ISO dates (``2020-12-08``, with or without a time or an offset) and dates with a month name
(``8 Dec 2020``) say what they mean. ``08/12/2020`` does not: it is 8 December to a European
spreadsheet and 12 August to an American one, and a parser that picks one per cell silently
shuffles a price history. So for numeric dates like ``dd/mm/yyyy`` / ``mm/dd/yyyy`` (any of
``/ . -`` as separator):

- with ``--date-format`` (e.g. ``%d/%m/%Y``) every cell must match that format;
- without it, the file is read only when its own values settle the order: some first field
  above 12 means day first, some second field above 12 means month first. A file where every
  value could be read either way (or that contains both) is refused, naming a value and the
  two formats to choose from.

Sessions after today are refused too: a price from the future is a typo (``2030`` for
``2020``), and taking it as data would shift every window that ends "at the last session".
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from shared.errors import DataError

NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})([/.\-])(\d{1,2})\2(\d{2}|\d{4})(?:[ T].*)?$")


def parse_session_dates(
    path: Path, column: pd.Series, date_format: str | None = None, today: date | None = None
) -> pd.DatetimeIndex:
    """The session dates of a price file's first column (tz-naive, normalized)."""
    name = column.name if not str(column.name).startswith("Unnamed") else "(unnamed)"
    text = column.astype("string").str.strip()
    if date_format:
        parsed = pd.to_datetime(text, errors="coerce", format=date_format)
        hint = f"does not match --date-format {date_format}"
    else:
        dayfirst = _day_first(path, text)
        parsed = pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=bool(dayfirst))
        hint = "is not a date"
    bad = parsed.isna()
    if bad.all():
        raise DataError(
            f"{path}: the first column {name!s} holds no dates (first value "
            f"{column.iloc[0]!r}{'' if not date_format else ', --date-format ' + date_format}); "
            "the first column must be the session date, e.g. 2024-01-31"
        )
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # +1 header, +1 one-based
        raise DataError(f"{path}: line {line}: {column.iloc[line - 2]!r} in the date column {hint}")
    index = pd.DatetimeIndex(parsed)
    if index.tz is not None:
        # A timestamp with an exchange offset: the session is the local calendar date.
        index = index.tz_localize(None)
    index = index.normalize().rename("date")
    _refuse_future(path, index, today or datetime.now(UTC).date())
    return index


def _day_first(path: Path, text: pd.Series) -> bool | None:
    """True/False when the file's numeric dates are day/month-first; None when it has none."""
    parts = text.str.extract(NUMERIC_DATE)
    numeric = parts[0].notna()
    if not numeric.any():
        return None
    first = parts.loc[numeric, 0].astype(int)
    second = parts.loc[numeric, 2].astype(int)
    day_first_seen = bool((first > 12).any())
    month_first_seen = bool((second > 12).any())
    sep = str(parts.loc[numeric, 1].iloc[0])
    year = "%Y" if len(str(parts.loc[numeric, 3].iloc[0])) == 4 else "%y"
    formats = (
        f"--date-format %d{sep}%m{sep}{year} (day first) or %m{sep}%d{sep}{year} (month first)"
    )
    if day_first_seen and month_first_seen:
        a = text[numeric][first > 12].iloc[0]
        b = text[numeric][second > 12].iloc[0]
        raise DataError(
            f"{path}: the date column mixes day-first ({a!r}) and month-first ({b!r}) dates; "
            f"fix the file or pass {formats}"
        )
    if not (day_first_seen or month_first_seen):
        example = text[numeric].iloc[0]
        raise DataError(
            f"{path}: ambiguous dates: {example!r} could be day/month or month/day and no date "
            f"in the file settles it; pass {formats}"
        )
    return day_first_seen


def _refuse_future(path: Path, index: pd.DatetimeIndex, today: date) -> None:
    future = np.flatnonzero(index > pd.Timestamp(today))
    if future.size:
        line = int(future[0]) + 2
        raise DataError(
            f"{path}: line {line}: session {index[future[0]]:%Y-%m-%d} is in the future (today is "
            f"{today:%Y-%m-%d}); {future.size} row(s) dated after today: remove them or fix the "
            "year"
        )
