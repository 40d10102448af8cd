"""Alpaca's error answers and share counts, shared by the book, its corporate actions and the
renderers."""

from __future__ import annotations

from typing import Any

VALIDATION = 40010001  # Alpaca's generic 422 code


class ApiError(Exception):
    """An Alpaca error answer: HTTP status and Alpaca's JSON body."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message}
        if code is not None:
            self.body["code"] = code


def quantity(qty: float) -> str:
    """Alpaca's share counts: "13" for whole shares, "13.25" for a fractional position."""
    if qty == int(qty):
        return str(int(qty))
    return f"{qty:.9f}".rstrip("0")


def order_quantity(text: Any, tif: str) -> float:
    """An order's ``qty``: whole shares for every time in force, fractions only for ``day``
    orders (Alpaca: "fractional orders must be DAY orders"); a whole count stays an int."""
    try:
        qty = round(float(text), 9)
    except (TypeError, ValueError):
        raise ApiError(422, VALIDATION, "qty must be a number") from None
    if qty <= 0:
        raise ApiError(422, VALIDATION, "qty must be > 0")
    if qty == int(qty):
        return int(qty)
    if tif != "day":
        raise ApiError(422, VALIDATION, "fractional orders must be DAY orders")
    return qty
