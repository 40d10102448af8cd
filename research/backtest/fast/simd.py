"""numpy's 8-accumulator summation leaf as two 4-wide vector accumulators.

numpy's ``pairwise_sum_DOUBLE`` adds a block of up to 128 values into eight accumulators
(``r[j] += a[i + j]``), then combines them as ``((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))``. LLVM does
not vectorize the scalar form numba gives it (eight dependent chains of ``vaddsd``), which made
the sums the most expensive part of a backtest's metrics. Here the accumulators are
``<4 x double>`` registers: each lane performs exactly the scalar additions of its accumulator,
in the same order, and IEEE addition is the same operation in a vector lane as in a scalar
register (no fast-math flags, no reassociation), so the result is the same bits, 4-8x sooner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_V4 = ir.VectorType(ir.DoubleType(), 4)
_I64 = ir.IntType(64)
_I32 = ir.IntType(32)


def array_data(context: Any, builder: Any, signature: Any, args: Any, index: int) -> Any:
    """The data pointer of an intrinsic's array argument ``index``."""
    ary = context.make_array(signature.args[index])(context, builder, args[index])
    return ary.data


def _eight_accumulators(builder: Any, term: Callable[[Any, int], Any], rows: Any) -> Any:
    """numpy's eight accumulators over ``rows`` rows of eight lanes: r0..r3 and r4..r7 start at
    row 0's ``term(row, half)`` and add each later row's, then combine in numpy's order
    ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))."""
    low = cgutils.alloca_once(builder, _V4)  # accumulators r0..r3
    high = cgutils.alloca_once(builder, _V4)  # r4..r7
    builder.store(term(ir.Constant(_I64, 0), 0), low)
    builder.store(term(ir.Constant(_I64, 0), 1), high)
    one = ir.Constant(_I64, 1)
    with cgutils.for_range_slice(builder, one, rows, one) as (row, _):
        builder.store(builder.fadd(builder.load(low), term(row, 0)), low)
        builder.store(builder.fadd(builder.load(high), term(row, 1)), high)
    lanes = [
        builder.extract_element(builder.load(vector), ir.Constant(_I32, i))
        for vector in (low, high)
        for i in range(4)
    ]
    pairs = [builder.fadd(lanes[i], lanes[i + 1]) for i in range(0, 8, 2)]
    return builder.fadd(builder.fadd(pairs[0], pairs[1]), builder.fadd(pairs[2], pairs[3]))


def _eight_lane_sum(typingctx: Any, arr: Any, lo: Any, rows: Any) -> Any:  # pragma: no cover
    """Sum ``arr[lo : lo + 8 * rows]`` (``rows >= 1``, unchecked: the caller bounds it) with
    numpy's eight accumulators, combined in numpy's order."""
    if not (
        isinstance(arr, types.Array)
        and arr.dtype == types.float64
        and arr.ndim == 1
        and arr.layout == "C"
    ):
        return None
    sig = types.float64(arr, types.int64, types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        base = builder.gep(ary.data, [args[1]])

        def load(row: Any, half: int) -> Any:
            offset = builder.add(
                builder.mul(row, ir.Constant(_I64, 8)), ir.Constant(_I64, 4 * half)
            )
            pointer = builder.bitcast(builder.gep(base, [offset]), _V4.as_pointer())
            return builder.load(pointer, align=8)

        return _eight_accumulators(builder, load, args[2])

    return sig, codegen


# The decorated object is what numba resolves inside compiled code; typed for the callers.
eight_lane_sum = cast(Callable[[np.ndarray, int, int], float], intrinsic(_eight_lane_sum))


def _eight_lane_square_sum(
    typingctx: Any, arr: Any, lo: Any, rows: Any, mean: Any
) -> Any:  # pragma: no cover
    """Sum of ``(arr[i] - mean)**2`` over ``arr[lo : lo + 8 * rows]``, numpy's eight
    accumulators, combined in numpy's order: what ``np.std`` sums (``x = a - mean``,
    ``x * x``, a pairwise sum), without storing the squares."""
    if not (
        isinstance(arr, types.Array)
        and arr.dtype == types.float64
        and arr.ndim == 1
        and arr.layout == "C"
    ):
        return None
    sig = types.float64(arr, types.int64, types.int64, types.float64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        base = builder.gep(ary.data, [args[1]])
        means = cgutils.alloca_once(builder, _V4)
        builder.store(ir.Constant(_V4, ir.Undefined), means)
        splat = builder.load(means)
        for i in range(4):
            splat = builder.insert_element(splat, args[3], ir.Constant(_I32, i))

        def square(row: Any, half: int) -> Any:
            offset = builder.add(
                builder.mul(row, ir.Constant(_I64, 8)), ir.Constant(_I64, 4 * half)
            )
            pointer = builder.bitcast(builder.gep(base, [offset]), _V4.as_pointer())
            d = builder.fsub(builder.load(pointer, align=8), splat)
            return builder.fmul(d, d)

        return _eight_accumulators(builder, square, args[2])

    return sig, codegen


eight_lane_square_sum = cast(
    Callable[[np.ndarray, int, int, float], float], intrinsic(_eight_lane_square_sum)
)


# Rolling windows: WINDOW_LANES consecutive windows side by side, one per vector lane.
WINDOW_LANES = 8
# Configs of a lane group (``lane_kernel``): each bar's returns of LANES configs side by side.
LANES = 4


def _leaf_lanes(width: int, stride: int, squared: bool, flagged: bool = False) -> Any:
    """An intrinsic ``(a, lo, n, mean, out)``: for each lane ``l`` in ``0..width-1``, ``out[l]``
    = numpy's sum of the ``n`` values ``a[lo + l + k * stride]`` (``squared``: of
    ``(value - mean[l])**2``), for 8 <= n <= 128, one pairwise-summation leaf.

    ``stride`` 1: lane ``l`` is the window starting ``l`` values later (consecutive windows);
    ``stride == width``: ``a`` holds ``width`` interleaved series and lane ``l`` sums series
    ``l``. Lane ``l`` performs exactly the scalar operations of its own sum in numpy's order
    (eight accumulators, ``((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))``, then the remainder one by
    one), so each lane's sum has the scalar sum's bits; each step's ``width`` values are
    contiguous, which is what lets the lanes share each instruction. Bounds are the caller's to
    check.

    ``flagged`` adds an argument ``moving`` (uint8, one per row of eight steps from ``lo``): a
    row flagged 0 holds only +0.0 in every lane. The sum then skips it (adding +0.0 to an
    accumulator that is not -0.0 is exact, and returns are never -0.0) and the square sum adds
    ``(0.0 - mean)**2`` without loading it: the same additions in the same order."""
    vector = ir.VectorType(ir.DoubleType(), width)

    def typed(arr: Any, mean: Any, out: Any, *more: Any) -> Any:
        float_vector = types.Array(types.float64, 1, "C")
        if not (
            isinstance(arr, types.Array)
            and arr.dtype == types.float64
            and arr.ndim == 1
            and arr.layout == "C"
            and mean == float_vector
            and out == float_vector
            and len(more) == flagged
            and all(m == types.Array(types.uint8, 1, "C") for m in more)
        ):
            return None
        sig = types.void(arr, types.int64, types.int64, mean, out, *more)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            def data(index: int) -> Any:
                return array_data(context, builder, signature, args, index)

            base = builder.gep(data(0), [args[1]])
            mean_vec = builder.load(builder.bitcast(data(3), vector.as_pointer()), align=8)

            def term(k: Any) -> Any:
                offset = builder.mul(k, ir.Constant(_I64, stride))
                pointer = builder.bitcast(builder.gep(base, [offset]), vector.as_pointer())
                value = builder.load(pointer, align=8)
                if not squared:
                    return value
                d = builder.fsub(value, mean_vec)
                return builder.fmul(d, d)

            rows = builder.sdiv(args[2], ir.Constant(_I64, 8))
            accs = [cgutils.alloca_once(builder, vector) for _ in range(8)]
            for j, acc in enumerate(accs):
                builder.store(term(ir.Constant(_I64, j)), acc)
            one = ir.Constant(_I64, 1)

            def add_row(row: Any) -> None:
                start = builder.mul(row, ir.Constant(_I64, 8))
                for j, acc in enumerate(accs):
                    k = builder.add(start, ir.Constant(_I64, j))
                    builder.store(builder.fadd(builder.load(acc), term(k)), acc)

            def _flagged_row(row: Any) -> None:
                flag = builder.load(builder.gep(data(5), [row]))
                moving = builder.icmp_unsigned("!=", flag, ir.Constant(ir.IntType(8), 0))
                with builder.if_else(moving) as (then, otherwise):
                    with then:
                        add_row(row)
                    with otherwise:
                        if squared:  # every value is +0.0: each term is (0.0 - mean)**2
                            d = builder.fsub(ir.Constant(vector, [0.0] * width), mean_vec)
                            flat = builder.fmul(d, d)
                            for acc in accs:
                                builder.store(builder.fadd(builder.load(acc), flat), acc)

            with cgutils.for_range_slice(builder, one, rows, one) as (row, _):
                if not flagged:
                    add_row(row)
                else:
                    _flagged_row(row)

            r = [builder.load(acc) for acc in accs]
            pairs = [builder.fadd(r[i], r[i + 1]) for i in range(0, 8, 2)]
            total = cgutils.alloca_once(builder, vector)
            builder.store(
                builder.fadd(builder.fadd(pairs[0], pairs[1]), builder.fadd(pairs[2], pairs[3])),
                total,
            )
            tail = builder.mul(rows, ir.Constant(_I64, 8))
            with cgutils.for_range_slice(builder, tail, args[2], one) as (k, _):
                builder.store(builder.fadd(builder.load(total), term(k)), total)
            out_pointer = builder.bitcast(data(4), vector.as_pointer())
            builder.store(builder.load(total), out_pointer, align=8)
            return context.get_dummy_value()

        return sig, codegen

    # numba lowers an intrinsic's arguments from its typer's signature: no ``*args`` there.
    def typer(typingctx: Any, arr: Any, lo: Any, n: Any, mean: Any, out: Any) -> Any:
        return typed(arr, mean, out)

    def typer_flagged(
        typingctx: Any, arr: Any, lo: Any, n: Any, mean: Any, out: Any, moving: Any
    ) -> Any:
        return typed(arr, mean, out, moving)

    chosen = typer_flagged if flagged else typer
    kind = "square_sums" if squared else "sums"
    chosen.__name__ = f"{'window' if stride == 1 else 'lane'}_{kind}"
    return chosen


_LeafLanes = Callable[[np.ndarray, int, int, np.ndarray, np.ndarray], None]
# ``window_sums(a, lo, n, mean, out)`` ignores ``mean``; ``window_square_sums`` subtracts it.
window_sums = cast(_LeafLanes, intrinsic(_leaf_lanes(WINDOW_LANES, 1, squared=False)))
window_square_sums = cast(_LeafLanes, intrinsic(_leaf_lanes(WINDOW_LANES, 1, squared=True)))
# ``lane_sums(a, lo * LANES, n, mean, out, moving)``: series ``l`` of ``a`` is ``a[l::LANES]``.
_FlaggedLeafLanes = Callable[[np.ndarray, int, int, np.ndarray, np.ndarray, np.ndarray], None]
lane_sums = cast(_FlaggedLeafLanes, intrinsic(_leaf_lanes(LANES, LANES, False, flagged=True)))
lane_square_sums = cast(_FlaggedLeafLanes, intrinsic(_leaf_lanes(LANES, LANES, True, flagged=True)))
