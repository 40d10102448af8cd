"""Corporate actions: splits, reverse splits and cash dividends, as the daemon sees them.

Pure types and arithmetic; the sources (Alpaca's corporate-actions API, yfinance's ``actions``,
an events CSV) are adapters (:mod:`daemon.adapters.alpaca.corporate_actions`,
:mod:`daemon.adapters.yfinance.events`, :mod:`daemon.adapters.csv.events`, chosen by
:func:`daemon.adapters.registry.build_actions`), and the cycle applies them
(:mod:`daemon.cycle.apply_actions`).

Conventions (one for every source):

- ``ratio`` of a split is *new shares per old share*: 2.0 for a 2-for-1 split, 0.25 for a
  1-for-4 reverse split. A holder of ``q`` shares before the ex-date holds ``q * ratio`` after.
- ``amount`` of a cash dividend is dollars per share held at the close *before* the ex-date,
  in that day's share count. Longs receive it, shorts pay it, on ``payable_date``.
- Adjusted bars (``adjustment=all``) re-scale every bar before an ex-date: by ``1 / ratio`` for
  a split and by about ``1 - amount / previous close`` for a dividend. The store keeps its first
  scale (:mod:`daemon.feeds.revisions`), so the strategy never sees either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol

from shared.errors import DataError


class ActionKind(StrEnum):
    SPLIT = "split"  # forward or reverse: the ratio says which
    DIVIDEND = "dividend"  # cash dividend


@dataclass(frozen=True, slots=True)
class CorporateAction:
    symbol: str
    kind: ActionKind
    ex_date: date
    ratio: float = 1.0  # split: new shares per old share; 1.0 for a dividend
    amount: float = 0.0  # dividend: dollars per share; 0.0 for a split
    payable_date: date | None = None  # dividend: when the cash moves (None: the ex-date)
    source: str = ""  # "alpaca", "yfinance", "csv: <file>", ...

    def __post_init__(self) -> None:
        if self.kind is ActionKind.SPLIT:
            if not (math.isfinite(self.ratio) and self.ratio > 0) or self.ratio == 1.0:
                raise DataError(
                    f"{self.source or 'corporate actions'}: split of {self.symbol} on "
                    f"{self.ex_date} has ratio {self.ratio!r}; a split needs a positive ratio "
                    "other than 1 (new shares per old share: 2 for 2:1, 0.25 for 1:4)",
                    symbol=self.symbol,
                )
        elif not (math.isfinite(self.amount) and self.amount > 0):
            raise DataError(
                f"{self.source or 'corporate actions'}: dividend of {self.symbol} on "
                f"{self.ex_date} has amount {self.amount!r}; a cash dividend needs a positive "
                "amount per share",
                symbol=self.symbol,
            )

    @property
    def key(self) -> str:
        """One id per event: the same event from two downloads is stored once."""
        return f"{self.symbol}:{self.kind.value}:{self.ex_date.isoformat()}"

    @property
    def pays_on(self) -> date:
        return self.payable_date or self.ex_date

    @property
    def is_reverse(self) -> bool:
        return self.kind is ActionKind.SPLIT and self.ratio < 1.0

    def describe(self) -> str:
        if self.kind is ActionKind.SPLIT:
            return f"{self.symbol} {format_ratio(self.ratio)} split, ex-date {self.ex_date}"
        return (
            f"{self.symbol} dividend ${self.amount:g}/share, ex-date {self.ex_date}, "
            f"payable {self.pays_on}"
        )


def format_ratio(ratio: float) -> str:
    """2.0 -> '2:1', 0.25 -> '1:4', 1.5 -> '3:2' (new:old)."""
    for old in range(1, 101):
        new = ratio * old
        if abs(new - round(new)) < 1e-9:
            return f"{round(new)}:{old}"
    return f"{ratio:g}:1"


def parse_ratio(text: str, *, what: str) -> float:
    """'2:1' or '2-for-1' or '2' -> 2.0; '1:4' -> 0.25 (new shares per old share)."""
    cleaned = text.strip().lower().replace("-for-", ":").replace("/", ":")
    try:
        if ":" in cleaned:
            new, old = (float(part) for part in cleaned.split(":", 1))
            value = new / old
        else:
            value = float(cleaned)
    except (ValueError, ZeroDivisionError):
        raise DataError(
            f"{what}: split ratio {text!r} is not a ratio; write new:old, e.g. 2:1 or 1:4"
        ) from None
    if not (math.isfinite(value) and value > 0):
        raise DataError(f"{what}: split ratio {text!r} must be positive (new:old, e.g. 2:1)")
    return value


class ActionSource(Protocol):
    """Where the feed's corporate actions come from."""

    name: str

    def corporate_actions(
        self, symbols: Sequence[str], start: date, end: date
    ) -> list[CorporateAction]:
        """Splits and cash dividends of ``symbols`` with an ex-date in ``start..end``
        (inclusive), in any order. Raises :class:`shared.errors.DataError` (or a subclass)
        when the source cannot answer; returns [] when there were none."""
        ...


class NoActions:
    """A feed with no corporate-action source (a CSV feed without an events file)."""

    name = "none"

    def corporate_actions(
        self, symbols: Sequence[str], start: date, end: date
    ) -> list[CorporateAction]:
        return []


def split_position(held: int, ratio: float) -> tuple[int, float]:
    """A position of ``held`` shares after a split: the whole shares (toward zero, as brokers
    book a short too) and the signed fraction left over. 103 shares at 1:4 -> (25, 0.75)."""
    exact = held * ratio
    nearest = round(exact)
    if abs(exact - nearest) < 1e-9:  # 2:1, 3:2 on an even count, ...: no float dust
        return int(nearest), 0.0
    whole = math.trunc(exact)
    return whole, exact - whole


def split_factor(
    actions: Sequence[CorporateAction], symbol: str, after: date, through: date
) -> float:
    """The factor adjusted bars of ``symbol`` move by for the splits with an ex-date in
    ``(after, through]``: ``prod(1 / ratio)`` (0.5 for a 2:1 split)."""
    factor = 1.0
    for action in actions:
        if (
            action.symbol == symbol
            and action.kind is ActionKind.SPLIT
            and after < action.ex_date <= through
        ):
            factor /= action.ratio
    return factor


class CombinedActions:
    """The feed's source supplemented by the operator's events file: an event both publish
    (same symbol, kind and ex-date) is taken from the feed. A failing source fails the whole
    answer, as a single one would."""

    def __init__(self, primary: ActionSource, supplement: ActionSource) -> None:
        self.primary, self.supplement = primary, supplement
        self.name = f"{primary.name} + {supplement.name}"

    def corporate_actions(
        self, symbols: Sequence[str], start: date, end: date
    ) -> list[CorporateAction]:
        found = {a.key: a for a in self.supplement.corporate_actions(symbols, start, end)}
        found.update({a.key: a for a in self.primary.corporate_actions(symbols, start, end)})
        return list(found.values())
