"""Daily closes from a wide CSV (the research step's ``adj_close_wide.csv``): a ``BarSource``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

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
            symbol = missing[0]
            near = near_matches(symbol, [str(c) for c in frame.columns])
            if near:
                raise DataError(
                    f"price file {self.path} has no column for {symbol}, but "
                    f"{' and '.join(repr(c) for c in near)}: "
                    + (
                        f"rename that column to {symbol} (tickers match exactly: case and "
                        "spaces count)"
                        if len(near) == 1
                        else f"keep one column named {symbol}"
                    ),
                    symbol=symbol,
                )
            raise DataError(
                f"price file {self.path} has no column for {symbol} (a missing leg)",
                symbol=symbol,
            )
        rows = [start <= d <= end for d in frame.index]
        return frame.loc[rows, list(symbols)].astype(float)


def near_matches(symbol: str, names: Sequence[str]) -> list[str]:
    """The names that are ``symbol`` but for case and surrounding spaces (``dia``, ``DIA ``):
    never taken for it silently, but named in the error."""
    key = symbol.strip().casefold()
    return [n for n in names if n != symbol and n.strip().casefold() == key]
