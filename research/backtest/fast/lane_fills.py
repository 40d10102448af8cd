"""A lane group's orders and fills, every lane at once (one config per vector lane).

An event of a lane group (``lane_kernel``) sends each lane's orders and fills them the next bar;
per lane that is a few dozen scalar operations with a branch or two, and at the benchmark
grid's trade counts the events cost more than the held bars between them. Here each step is a
``<LANES x double>`` operation with the lanes' sizes and cash side by side, the branches of
``account.execute`` are selects, and each lane performs exactly its scalar operations in their
order (IEEE arithmetic, no fast-math; ``abs`` is ``fabs``; a size is an integer held exactly in a
double), so the bits are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from research.backtest.fast.lane_book import (
    CASH,
    FILLS,
    ORDER_A,
    ORDER_B,
    POS_0,
    TRADES,
    splat,
)
from research.backtest.fast.simd import LANES, array_data

_V = ir.VectorType(ir.DoubleType(), LANES)
_I64 = ir.IntType(64)


def _book_rows(context: Any, builder: Any, signature: Any, args: Any) -> Callable[[Any], Any]:
    """``row(r)``: a pointer to the book's row ``r`` (an int or an LLVM i64) as a vector."""
    data = array_data(context, builder, signature, args, 0)

    def row(r: Any) -> Any:
        index = r if isinstance(r, ir.Value) else ir.Constant(_I64, r)
        pointer = builder.gep(data, [builder.mul(index, ir.Constant(_I64, LANES))])
        return builder.bitcast(pointer, _V.as_pointer())

    return row


def _vector_intrinsic(builder: Any, name: str, x: Any) -> Any:
    """LLVM's ``llvm.<name>`` on a vector (llvmlite names only scalar overloads)."""
    function = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(_V, [_V]), f"llvm.{name}.v{LANES}f64"
    )
    return builder.call(function, [x])


def _fabs(builder: Any, x: Any) -> Any:
    return _vector_intrinsic(builder, "fabs", x)


def _send_orders(typingctx: Any, book: Any, beta: Any, stakes: Any, direction: Any) -> Any:
    """``send_orders(book, beta, stakes, direction)``: each lane's entry orders, leg A's
    ``direction * abs(int(beta * stake))`` and leg B's ``-direction * abs(stake)`` (``stakes``
    as doubles, 0 in spare lanes: no order)."""
    if not (
        book == types.Array(types.float64, 2, "C") and stakes == types.Array(types.float64, 1, "C")
    ):
        return None
    sig = types.void(book, types.float64, stakes, types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        row = _book_rows(context, builder, signature, args)
        size_b = builder.load(
            builder.bitcast(array_data(context, builder, signature, args, 2), _V.as_pointer()),
            align=8,
        )
        sign = splat(builder, builder.sitofp(args[3], ir.DoubleType()))
        # int() truncates toward zero: the same integer as trunc, held exactly in a double
        product = builder.fmul(splat(builder, args[1]), size_b)
        qty_a = _fabs(builder, _vector_intrinsic(builder, "trunc", product))
        zero = ir.Constant(_V, [0.0] * LANES)  # + 0.0: a size of 0 is +0.0, as the int's is
        order_a = builder.fadd(builder.fmul(sign, qty_a), zero)
        order_b = builder.fadd(builder.fmul(builder.fneg(sign), _fabs(builder, size_b)), zero)
        builder.store(order_a, row(ORDER_A), align=8)
        builder.store(order_b, row(ORDER_B), align=8)
        return context.get_dummy_value()

    return sig, codegen


def _fills(closing: bool) -> Any:
    """An intrinsic ``(book, a, created_a, created_b, filled_a, filled_b, commission)``: every
    lane's orders (``ORDER_A`` on leg A, column ``a``, then ``ORDER_B``; 0: not sent) checked at
    the creation prices, then filled at the fill prices (``lane_kernel._fill_lanes``' steps).
    ``closing``: the orders close whole positions; else they open flat legs."""

    def typer(
        typingctx: Any, book: Any, a: Any, ca: Any, cb: Any, fa: Any, fb: Any, fee: Any
    ) -> Any:
        if book != types.Array(types.float64, 2, "C"):
            return None
        return types.void(book, types.int64, *(types.float64,) * 5), codegen

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        row = _book_rows(context, builder, signature, args)
        created_a, created_b, filled_a, filled_b, fee = (splat(builder, x) for x in args[2:])
        zero = ir.Constant(_V, [0.0] * LANES)
        pos_a = row(builder.add(ir.Constant(_I64, POS_0), args[1]))
        pos_b = row(builder.sub(ir.Constant(_I64, POS_0 + 1), args[1]))
        cash = builder.load(row(CASH), align=8)
        qa = builder.load(row(ORDER_A), align=8)
        qb = builder.load(row(ORDER_B), align=8)

        def cost(after: Any, q: Any, price: Any) -> Any:
            """``after - q * price - abs(q) * price * commission``, in that order."""
            after = builder.fsub(after, builder.fmul(q, price))
            return builder.fsub(after, builder.fmul(builder.fmul(_fabs(builder, q), price), fee))

        run_cash = cost(cash, qa, created_a)
        ok_a = builder.fcmp_ordered(">=", run_cash, zero)  # not restored after a rejection
        ok_b = builder.fcmp_ordered(">=", cost(run_cash, qb, created_b), zero)
        done = []
        for q, ok, price, pos in ((qa, ok_a, filled_a, pos_a), (qb, ok_b, filled_b, pos_b)):
            after = cost(cash, q, price)
            fills = builder.and_(ok, builder.fcmp_unordered("!=", q, zero))
            if not closing:  # the opening part is nullified if it leaves cash below 0
                fills = builder.and_(fills, builder.not_(builder.fcmp_ordered("<", after, zero)))
            cash = builder.select(fills, after, cash)
            held = builder.load(pos, align=8)
            builder.store(builder.select(fills, zero if closing else q, held), pos, align=8)
            done.append(builder.uitofp(fills, _V))
        builder.store(cash, row(CASH), align=8)
        count = builder.fadd(done[0], done[1])
        counters = (FILLS, TRADES) if closing else (FILLS,)
        for counter in counters:
            builder.store(
                builder.fadd(builder.load(row(counter), align=8), count), row(counter), align=8
            )
        return context.get_dummy_value()

    typer.__name__ = "close_lanes" if closing else "open_lanes"
    return typer


send_orders = cast(Callable[[np.ndarray, float, np.ndarray, int], None], intrinsic(_send_orders))
_Fills = Callable[[np.ndarray, int, float, float, float, float, float], None]
open_lanes = cast(_Fills, intrinsic(_fills(closing=False)))
close_lanes = cast(_Fills, intrinsic(_fills(closing=True)))
