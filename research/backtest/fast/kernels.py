"""numba kernels of the compiled engine (paths; the portfolio loop is in ``portfolio_kernel``): the same arithmetic as ``shared/`` in the same order.

Bit-exactness matters because a threshold decision (``z < -entry_z``) or a truncation
(``int(beta * stake)``) can flip on one ulp. Three details keep the bits equal to the reference:

* ``price_B**2`` is evaluated with libm's ``pow`` like CPython does; LLVM would fold a constant
  exponent into ``x*x``, which differs from glibc's ``pow`` on ~0.1% of inputs, so the exponent
  arrives as a runtime argument (``two``).
* ``np.mean``/``np.std`` sum with numpy's pairwise summation; :func:`tree_sum` replicates it
  (8 accumulators per block of up to 128 values, recursive halving above; the accumulators are
  vector lanes, see :mod:`research.backtest.fast.simd`).
* Cash and value updates keep the fill model's operation order (``shared/fill_model.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from research.backtest.fast.simd import (
    WINDOW_LANES,
    eight_lane_square_sum,
    eight_lane_sum,
    window_square_sums,
    window_sums,
)

_BLOCK = 128  # numpy's PW_BLOCKSIZE


def sum_program(n: int) -> np.ndarray:
    """numpy's pairwise-summation tree for ``n`` values as a postfix program for
    :func:`tree_sum`: rows ``(lo, count)`` are leaf blocks, rows ``(-1, 0)`` add the two sums on
    top of the stack. (numba segfaults loading a cached recursive function, so the recursion
    is unrolled here, once per length, in plain Python.)"""
    program: list[tuple[int, int]] = []

    def visit(lo: int, count: int) -> None:
        if count <= _BLOCK:
            program.append((lo, count))
            return
        half = count // 2
        half -= half % 8
        visit(lo, half)
        visit(lo + half, count - half)
        program.append((-1, 0))

    visit(0, n)
    return np.array(program, dtype=np.int64).reshape(-1, 2)


@njit(cache=True)
def block_sum(a: np.ndarray, lo: int, n: int) -> float:  # pragma: no cover - compiled
    """numpy's ``pairwise_sum_DOUBLE`` leaf (n <= 128): 8 accumulators, then the rest."""
    if lo < 0 or lo + n > a.shape[0]:
        raise IndexError("block_sum: block out of the array's bounds")
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    rows = n // 8
    res = eight_lane_sum(a, lo, rows)
    for i in range(lo + 8 * rows, lo + n):
        res += a[i]
    return res


@njit(cache=True)
def tree_sum(
    a: np.ndarray, base: int, program: np.ndarray, stack: np.ndarray
) -> float:  # pragma: no cover
    """``np.sum(a[base:base+n])`` bit for bit, ``program = sum_program(n)``; ``stack`` is
    scratch space of at least 64 floats."""
    if program.shape[0] == 1:
        return block_sum(a, base + program[0, 0], program[0, 1])
    sp = 0
    for i in range(program.shape[0]):
        lo = program[i, 0]
        if lo >= 0:
            stack[sp] = block_sum(a, base + lo, program[i, 1])
            sp += 1
        else:
            stack[sp - 2] = stack[sp - 2] + stack[sp - 1]
            sp -= 1
    return stack[0]


@njit(cache=True)
def block_square_sum(a: np.ndarray, lo: int, n: int, mean: float) -> float:  # pragma: no cover
    """:func:`block_sum` of ``(a[i] - mean)**2`` over the block, squares formed on the fly."""
    if lo < 0 or lo + n > a.shape[0]:
        raise IndexError("block_square_sum: block out of the array's bounds")
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            d = a[i] - mean
            res += d * d
        return res
    rows = n // 8
    res = eight_lane_square_sum(a, lo, rows, mean)
    for i in range(lo + 8 * rows, lo + n):
        d = a[i] - mean
        res += d * d
    return res


@njit(cache=True)
def tree_square_sum(
    a: np.ndarray, program: np.ndarray, stack: np.ndarray, mean: float
) -> float:  # pragma: no cover
    """``np.sum((a - mean) ** 2)`` as ``np.std`` forms it (``x = a - mean``, ``x * x``, then
    the pairwise sum of ``program = sum_program(len(a))``), bit for bit, without storing the
    squares."""
    if program.shape[0] == 1:
        return block_square_sum(a, program[0, 0], program[0, 1], mean)
    sp = 0
    for i in range(program.shape[0]):
        lo = program[i, 0]
        if lo >= 0:
            stack[sp] = block_square_sum(a, lo, program[i, 1], mean)
            sp += 1
        else:
            stack[sp - 2] = stack[sp - 2] + stack[sp - 1]
            sp -= 1
    return stack[0]


@njit(cache=True, nogil=True)
def kalman_path(
    price_a: np.ndarray,
    price_b: np.ndarray,
    hedge_ratio: float,
    delta: float,
    R: float,
    two: float,
    beta_out: np.ndarray,
    spread_out: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """The hedge ratio after each bar and the spread it gives (``shared.kalman``)."""
    Q = delta / (1 - delta)
    beta = hedge_ratio
    P = 1.0
    for t in range(price_a.shape[0]):
        pa = price_a[t]
        pb = price_b[t]
        P_prior = P + Q
        if pb != 0:
            S = P_prior * pb**two + R
            K = (P_prior * pb) / S
            y = pa - beta * pb
            beta = beta + K * y
            P = (1 - K * pb) * P_prior
        beta_out[t] = beta
        spread_out[t] = pa - beta * pb


@njit(cache=True, nogil=True)
def zscore_path(
    spreads: np.ndarray, window: int, program: np.ndarray, z_out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """z of each spread against the last ``window`` spreads (``shared.zscore``); NaN where the
    strategy skips the bar (warming up, or a window with zero std).

    Windows of 8..128 values (numpy sums them in one 8-accumulator block) run
    ``WINDOW_LANES`` consecutive bars side by side, one per vector lane: each lane does exactly
    the scalar operations of its own bar, so the bits are the same, but every instruction
    serves eight bars (see :mod:`research.backtest.fast.simd`).
    """
    n = spreads.shape[0]
    t = 0
    while t < n and t + 1 < window:
        z_out[t] = np.nan
        t += 1
    if 8 <= window <= _BLOCK:
        t = _zscore_lanes(spreads, window, t, z_out)
    squares = np.empty(window)
    stack = np.empty(64)
    while t < n:
        lo = t + 1 - window
        mean = tree_sum(spreads, lo, program, stack) / window
        for i in range(window):
            d = spreads[lo + i] - mean
            squares[i] = d * d
        std = math.sqrt(tree_sum(squares, 0, program, stack) / window)
        z_out[t] = np.nan if std == 0 else (spreads[t] - mean) / std
        t += 1


@njit(cache=True, inline="always")
def _zscore_lanes(spreads, window, t, z_out):  # pragma: no cover - compiled
    """z for bars t, t+1, ... in groups of ``WINDOW_LANES``; returns the first bar left over."""
    n = spreads.shape[0]
    sums = np.empty(WINDOW_LANES)
    mean = np.zeros(WINDOW_LANES)
    while t + WINDOW_LANES <= n:
        lo = t + 1 - window  # lane l's window starts at lo + l
        window_sums(spreads, lo, window, mean, sums)
        for lane in range(WINDOW_LANES):
            mean[lane] = sums[lane] / window
        window_square_sums(spreads, lo, window, mean, sums)
        for lane in range(WINDOW_LANES):
            std = math.sqrt(sums[lane] / window)
            z_out[t + lane] = np.nan if std == 0 else (spreads[t + lane] - mean[lane]) / std
        t += WINDOW_LANES
    return t
