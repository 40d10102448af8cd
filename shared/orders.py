"""Order intents and fills: the only things the strategy core hands to a broker."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class Leg(StrEnum):
    """Which leg of a pair an order belongs to: A is ``asset_1``, B is ``asset_2``."""

    A = "A"
    B = "B"


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """A market order the strategy wants, decided on the close of bar ``bar``.

    ``quantity`` is always positive; ``side`` carries the direction. ``price`` is the close the
    decision was made on: backtrader's broker checks cash against this *creation* price.
    """

    pair_index: int
    leg: Leg
    symbol: str
    side: Side
    quantity: int
    price: float

    @property
    def signed_quantity(self) -> int:
        return self.side.sign * self.quantity


@dataclass(frozen=True, slots=True)
class Fill:
    """An executed order: ``signed_quantity`` > 0 is a buy, < 0 a sell."""

    bar: int
    symbol: str
    signed_quantity: int
    price: float
    commission: float


@dataclass(frozen=True, slots=True)
class Rejection:
    """An order the broker refused at bar ``bar`` (backtrader: margin)."""

    bar: int
    symbol: str
    signed_quantity: int
    reason: str
