"""Corporate actions from the operator's events CSV: :class:`CorporateAction` records in the
conventions of :mod:`daemon.core.corporate_actions`.

The events CSV (``data.events_csv``), one event per line::

    symbol,type,ex_date,ratio,amount,payable_date
    AAPL,split,2020-08-31,4:1,,
    XYZ,reverse_split,2024-05-06,1:4,,
    KO,dividend,2024-06-14,,0.485,2024-07-01

``type`` is ``split`` (or ``forward_split`` / ``reverse_split``) or ``dividend`` (or
``cash_dividend``). A split has a ``ratio`` of new:old shares (``2:1``, ``1:4``, or one number,
new shares per old share); a dividend an ``amount`` in dollars per share and an optional
``payable_date`` (empty: paid on the ex-date). Dates are ``YYYY-MM-DD``. Blank lines and lines
starting with ``#`` are skipped. Every bad line is an error naming the file, the line, the column
and what to write instead: a source that silently skips an event would miss a split. So is a
symbol written with spaces around it, or one that is a traded ticker in another case (``dia``
for ``DIA``): tickers match exactly, and an event for ``dia`` would otherwise never apply.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from daemon.adapters.csv.bars import near_matches
from daemon.core.corporate_actions import ActionKind, CorporateAction, parse_ratio
from daemon.core.errors import EventsFileError
from shared.errors import DataError

EVENTS_COLUMNS = ("symbol", "type", "ex_date", "ratio", "amount", "payable_date")
_REQUIRED = ("symbol", "type", "ex_date")
_KINDS = {
    "split": ActionKind.SPLIT,
    "forward_split": ActionKind.SPLIT,
    "reverse_split": ActionKind.SPLIT,
    "dividend": ActionKind.DIVIDEND,
    "cash_dividend": ActionKind.DIVIDEND,
}


class CsvActions:
    """Corporate actions from an events CSV (format in the module doc). Re-read when the file
    changes, like :class:`daemon.adapters.csv.bars.CsvBarSource`."""

    name = "csv"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._cache: tuple[float, list[tuple[int, CorporateAction]]] | None = None

    def __repr__(self) -> str:
        return f"CsvActions({str(self.path)!r})"

    def corporate_actions(
        self, symbols: Sequence[str], start: date, end: date
    ) -> list[CorporateAction]:
        wanted = set(symbols)
        events = self._events()
        for line, action in events:
            near = [] if action.symbol in wanted else near_matches(action.symbol, list(wanted))
            if near:
                raise _bad(
                    str(self.path),
                    line,
                    "symbol",
                    f"{action.symbol!r} is not a traded ticker, but {near[0]} is: write "
                    f"{near[0]} (tickers match exactly; this event would never apply)",
                    action.symbol,
                )
        return [a for _, a in events if a.symbol in wanted and start <= a.ex_date <= end]

    def _events(self) -> list[tuple[int, CorporateAction]]:
        try:
            mtime = self.path.stat().st_mtime
            if self._cache is None or self._cache[0] != mtime:
                text = self.path.read_text(encoding="utf-8-sig")
                self._cache = (mtime, _parse_lines(text, str(self.path)))
        except FileNotFoundError:
            raise EventsFileError(
                f"events file {self.path} not found; check data.events_csv (or remove it to "
                "run without corporate actions)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise EventsFileError(f"events file {self.path} cannot be read: {exc}") from None
        return self._cache[1]


def parse_events_csv(text: str, source: str) -> list[CorporateAction]:
    """Every event of an events CSV; a :class:`DataError` for the first bad line."""
    return [action for _, action in _parse_lines(text, source)]


def _parse_lines(text: str, source: str) -> list[tuple[int, CorporateAction]]:
    """Every event of an events CSV with its line number."""
    rows = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    events: dict[str, tuple[int, CorporateAction]] = {}
    for line, row in enumerate(rows, start=1):
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = _header(row, source, line)
            continue
        cells = dict(zip(header, _cells(row, header, source, line), strict=True))
        _check_symbol_cell(row, header, source, line)
        action = _parse_row(cells, source, line)
        if action.key in events:
            first = events[action.key][0]
            raise _bad(
                source,
                line,
                "symbol",
                f"repeats the {action.kind.value} of {action.symbol} on {action.ex_date} "
                f"from line {first}; keep one line per event",
            )
        events[action.key] = (line, action)
    if header is None:
        raise EventsFileError(
            f"events file {source} is empty; its first line must be the header "
            f"{','.join(EVENTS_COLUMNS)}"
        )
    return list(events.values())


def _check_symbol_cell(row: list[str], header: list[str], source: str, line: int) -> None:
    """A ticker with spaces around it is not the ticker: refused with the name to write."""
    raw = row[header.index("symbol")] if len(row) > header.index("symbol") else ""
    if raw.strip() and raw != raw.strip():
        raise _bad(
            source,
            line,
            "symbol",
            f"{raw!r} has spaces around it; write {raw.strip()!r} (tickers match exactly)",
            raw.strip(),
        )


def _bad(
    source: str, line: int, column: str, what: str, symbol: str | None = None
) -> EventsFileError:
    return EventsFileError(
        f"events file {source}, line {line}, column {column}: {what}", symbol=symbol
    )


def _header(row: list[str], source: str, line: int) -> list[str]:
    names = [cell.strip().lower() for cell in row]
    unknown = [n for n in names if n not in EVENTS_COLUMNS]
    if unknown:
        raise _bad(
            source,
            line,
            unknown[0] or "(empty)",
            f"unknown column {unknown[0]!r}; the header is {','.join(EVENTS_COLUMNS)}",
        )
    missing = [n for n in _REQUIRED if n not in names]
    if missing:
        raise _bad(
            source,
            line,
            missing[0],
            f"the header has no {missing[0]!r} column; write {','.join(EVENTS_COLUMNS)}",
        )
    return names


def _cells(row: list[str], header: list[str], source: str, line: int) -> list[str]:
    if len(row) > len(header):
        raise _bad(
            source,
            line,
            f"#{len(header) + 1}",
            f"{len(row)} cells for {len(header)} columns; remove the extra cells (an amount "
            "like 1,000.5 must be written 1000.5)",
        )
    return [cell.strip() for cell in row] + [""] * (len(header) - len(row))


def _parse_row(cells: dict[str, str], source: str, line: int) -> CorporateAction:
    symbol = cells.get("symbol", "")
    if not symbol:
        raise _bad(source, line, "symbol", "is empty; write the ticker, e.g. AAPL")
    kind_text = cells.get("type", "").lower()
    if kind_text not in _KINDS:
        raise _bad(
            source,
            line,
            "type",
            f"{kind_text!r} is not an event type; write one of {', '.join(_KINDS)}",
            symbol,
        )
    ex_date = _date(cells, "ex_date", source, line, symbol, required=True)
    assert ex_date is not None
    origin = f"csv: {source}"
    if _KINDS[kind_text] is ActionKind.SPLIT:
        ratio = _split_ratio(cells, kind_text, source, line, symbol)
        return CorporateAction(symbol, ActionKind.SPLIT, ex_date, ratio=ratio, source=origin)
    amount = _amount(cells, source, line, symbol)
    payable = _date(cells, "payable_date", source, line, symbol, required=False)
    if payable is not None and payable < ex_date:
        raise _bad(
            source,
            line,
            "payable_date",
            f"{payable} is before the ex-date {ex_date}; write the payment date "
            "(on or after the ex-date) or leave it empty",
            symbol,
        )
    return CorporateAction(
        symbol, ActionKind.DIVIDEND, ex_date, amount=amount, payable_date=payable, source=origin
    )


def _date(
    cells: dict[str, str], column: str, source: str, line: int, symbol: str, *, required: bool
) -> date | None:
    text = cells.get(column, "")
    if not text:
        if required:
            raise _bad(source, line, column, "is empty; write the date as YYYY-MM-DD", symbol)
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _bad(
            source, line, column, f"{text!r} is not a date; write YYYY-MM-DD", symbol
        ) from None


def _split_ratio(cells: dict[str, str], kind: str, source: str, line: int, symbol: str) -> float:
    if cells.get("amount", ""):
        raise _bad(source, line, "amount", "a split has no amount; leave it empty", symbol)
    text = cells.get("ratio", "")
    if not text:
        raise _bad(source, line, "ratio", "a split needs new:old shares, e.g. 2:1 or 1:4", symbol)
    try:
        ratio = parse_ratio(text, what=f"events file {source}, line {line}, column ratio")
    except DataError as exc:
        raise EventsFileError(str(exc), symbol=symbol) from None
    if ratio == 1.0:
        raise _bad(
            source, line, "ratio", f"{text!r} changes no share count; write e.g. 2:1 or 1:4", symbol
        )
    if kind == "reverse_split" and ratio > 1.0:
        raise _bad(
            source,
            line,
            "ratio",
            f"{text!r} gives more shares, not fewer; a reverse split is new:old with fewer "
            "new shares, e.g. 1:4",
            symbol,
        )
    if kind == "forward_split" and ratio < 1.0:
        raise _bad(
            source,
            line,
            "ratio",
            f"{text!r} gives fewer shares; a forward split is new:old with more new shares, "
            "e.g. 2:1 (write reverse_split for 1:4)",
            symbol,
        )
    return ratio


def _amount(cells: dict[str, str], source: str, line: int, symbol: str) -> float:
    if cells.get("ratio", ""):
        raise _bad(source, line, "ratio", "a dividend has no ratio; leave it empty", symbol)
    text = cells.get("amount", "")
    try:
        amount = float(text.removeprefix("$"))
    except ValueError:
        raise _bad(
            source,
            line,
            "amount",
            f"{text!r} is not an amount; write dollars per share, e.g. 0.485",
            symbol,
        ) from None
    if not (math.isfinite(amount) and amount > 0):
        raise _bad(source, line, "amount", f"{text!r} must be a positive amount per share", symbol)
    return amount
