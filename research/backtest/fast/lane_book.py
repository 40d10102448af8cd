"""The held bars of up to ``LANES`` configs at once, one config per vector lane.

Configs that differ only in their stake trade on the same bars (``lane_kernel``), so while they
hold, each bar's value and its marks (``account.mark``) are the same operations for every one
of them on different numbers. A held bar's return is a division per config, and the divider is
what bounds a scalar loop; a ``<LANES x double>`` division serves every lane for the price of
one. The drawdown % of a closed segment (``mark`` divides it out on every bar, to stay
branch-free) is divided out only on the bars where some lane makes a new peak: the lanes'
combined test is one branch, which measured cheaper than a second division on every bar.

A lane's ``book`` column is its cash, positions and marks. Each lane performs exactly the scalar
operations of ``account.hold`` / ``account.mark`` in their order (IEEE arithmetic is the same in
a vector lane, no fast-math, no reassociation; ``max(a, b)`` is numba's ``b if b > a else a``),
so the bits are the same as a config's own loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from research.backtest.fast.simd import LANES, array_data

# Rows of a book (each ``LANES`` wide): the account (positions by symbol column), then
# ``account.mark``'s marks in order, then what ``lane_kernel`` keeps per lane: the pending
# orders' signed sizes on legs A and B (0: none), the fills and closed trades so far, and 1.0
# once the lane has left the shared decisions. All are floats (counts and sizes are exact).
CASH, POS_0, POS_1, PREV, PROD, PEAK, SEG, DD_PCT, DD_ABS = range(9)
ORDER_A, ORDER_B, FILLS, TRADES, DIVERGED = range(9, 14)
BOOK_ROWS = 14
_MARKS = (PREV, PROD, PEAK, SEG, DD_PCT, DD_ABS)

_V = ir.VectorType(ir.DoubleType(), LANES)
_I64 = ir.IntType(64)
_I32 = ir.IntType(32)


def splat(builder: Any, value: Any) -> Any:
    """``value`` in every lane."""
    vector = ir.Constant(_V, ir.Undefined)
    for i in range(LANES):
        vector = builder.insert_element(vector, value, ir.Constant(_I32, i))
    return vector


def _max(builder: Any, a: Any, b: Any) -> Any:
    """numba's ``max(a, b)`` on floats: ``b if b > a else a`` (NaN compares false)."""
    return builder.select(builder.fcmp_ordered(">", b, a), b, a)


def _hold_lanes(typingctx: Any, closes: Any, t0: Any, t1: Any, book: Any, returns: Any) -> Any:
    """``hold_lanes(closes, t0, t1, book, returns)``: mark bars ``t0..t1-1`` for every lane,
    held with the book's positions and cash; ``returns[t * LANES + l]`` gets lane ``l``'s
    return of bar ``t``. ``closes`` is (bars, 2), ``book`` (BOOK_ROWS, LANES), both C order.
    Bounds are the caller's to check."""
    matrix = types.Array(types.float64, 2, "C")
    if not (closes == matrix and book == matrix and returns == types.Array(types.float64, 1, "C")):
        return None
    sig = types.void(closes, types.int64, types.int64, book, returns)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        prices, book_data, out = (
            array_data(context, builder, signature, args, i) for i in (0, 3, 4)
        )

        def row_pointer(row: int) -> Any:
            pointer = builder.gep(book_data, [ir.Constant(_I64, row * LANES)])
            return builder.bitcast(pointer, _V.as_pointer())

        cash, pos_0, pos_1 = (builder.load(row_pointer(r), align=8) for r in (CASH, POS_0, POS_1))
        marks = {row: cgutils.alloca_once(builder, _V) for row in _MARKS}
        for row, slot in marks.items():
            builder.store(builder.load(row_pointer(row), align=8), slot)
        zero, one, hundred = (splat(builder, ir.Constant(ir.DoubleType(), x)) for x in (0, 1, 100))
        # The broker skips a flat leg when it sums the value (``value += pos * close`` only
        # for a position): the same selection per lane.
        held_0 = builder.fcmp_unordered("!=", pos_0, zero)
        held_1 = builder.fcmp_unordered("!=", pos_1, zero)
        step = ir.Constant(_I64, 1)
        with cgutils.for_range_slice(builder, args[1], args[2], step) as (t, _):
            at = builder.mul(t, ir.Constant(_I64, 2))
            close_0 = splat(builder, builder.load(builder.gep(prices, [at])))
            close_1 = splat(builder, builder.load(builder.gep(prices, [builder.add(at, step)])))
            value = builder.select(held_0, builder.fadd(cash, builder.fmul(pos_0, close_0)), cash)
            value = builder.select(held_1, builder.fadd(value, builder.fmul(pos_1, close_1)), value)
            # account.mark, lane by lane
            prev, prod, peak, seg, dd_pct, dd_abs = (builder.load(marks[r]) for r in _MARKS)
            same = builder.fcmp_ordered("==", value, prev)
            r = builder.select(same, zero, builder.fsub(builder.fdiv(value, prev), one))
            slot = builder.gep(out, [builder.mul(t, ir.Constant(_I64, LANES))])
            builder.store(r, builder.bitcast(slot, _V.as_pointer()), align=8)
            prod = builder.fmul(prod, builder.fadd(one, r))
            prev = builder.select(same, prev, value)
            new_peak = builder.fcmp_ordered(">", value, peak)
            money = builder.fsub(peak, value)
            dd_abs = _max(builder, dd_abs, money)
            deeper = _max(builder, seg, money)
            any_peak = builder.icmp_unsigned(
                "!=",
                builder.bitcast(new_peak, ir.IntType(LANES)),
                ir.Constant(ir.IntType(LANES), 0),
            )
            with builder.if_then(any_peak):
                closed = _max(builder, dd_pct, builder.fdiv(builder.fmul(hundred, seg), peak))
                builder.store(builder.select(new_peak, closed, dd_pct), marks[DD_PCT])
            dd_pct = builder.load(marks[DD_PCT])
            seg = builder.select(new_peak, zero, deeper)
            peak = builder.select(new_peak, value, peak)
            for row, x in zip(_MARKS, (prev, prod, peak, seg, dd_pct, dd_abs), strict=True):
                builder.store(x, marks[row])
        for row, slot in marks.items():
            builder.store(builder.load(slot), row_pointer(row), align=8)
        return context.get_dummy_value()

    return sig, codegen


hold_lanes = cast(
    Callable[[np.ndarray, int, int, np.ndarray, np.ndarray], None], intrinsic(_hold_lanes)
)
