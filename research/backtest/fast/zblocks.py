"""Skip-scans of a z-series: the next entry or exit signal without testing every bar.

A single-pair config spends most bars flat, waiting for ``z`` to cross an entry threshold, or
holding, waiting for ``|z|`` to leave the (exit, stop) band. Every config of a batch scans the
same few z rows, so each row's blocks of :data:`BLOCK` bars get their extremes once (NaN, which
never signals, left out) and a scan tests a whole block with two comparisons. A block whose
extremes cannot signal holds no signalling bar, because a comparison with the block's minimum
or maximum bounds the comparison with every bar of it; blocks that might are scanned bar by
bar with the strategy's own comparisons. The result is the same bar as a plain scan.
"""

from __future__ import annotations

import numpy as np
from numba import njit

BLOCK = 16
LO, HI, ABS_LO, ABS_HI, N_EXTREMES = range(5)


@njit(cache=True, nogil=True)
def block_extremes(z: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out[b]`` = (min z, max z, min |z|, max |z|) over the non-NaN bars of block ``b``
    (+inf, -inf, +inf, -inf when it has none)."""
    n = z.shape[0]
    for b in range(out.shape[0]):
        lo = abs_lo = np.inf
        hi = abs_hi = -np.inf
        for t in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
            v = z[t]
            if v != v:
                continue
            lo = min(lo, v)
            hi = max(hi, v)
            abs_lo = min(abs_lo, abs(v))
            abs_hi = max(abs_hi, abs(v))
        out[b, LO] = lo
        out[b, HI] = hi
        out[b, ABS_LO] = abs_lo
        out[b, ABS_HI] = abs_hi


@njit(cache=True, inline="always")
def next_entry(z, ext, t, entry, only_long):  # pragma: no cover - compiled
    """First bar from ``t`` where ``z < -entry`` or (both sides) ``z > entry``; ``len(z)`` if
    none. NaN never signals."""
    n = z.shape[0]
    while t < n:
        b = t // BLOCK
        end = min(n, (b + 1) * BLOCK)
        if ext[b, LO] < -entry or (not only_long and ext[b, HI] > entry):
            while t < end:
                zt = z[t]
                if zt < -entry or (not only_long and zt > entry):
                    return t
                t += 1
        t = end
    return n


@njit(cache=True, inline="always")
def next_exit(z, ext, t, exit_, stop):  # pragma: no cover - compiled
    """First bar from ``t`` where ``|z| < exit_`` or ``|z| > stop``; ``len(z)`` if none."""
    n = z.shape[0]
    while t < n:
        b = t // BLOCK
        end = min(n, (b + 1) * BLOCK)
        if ext[b, ABS_LO] < exit_ or ext[b, ABS_HI] > stop:
            while t < end:
                zt = abs(z[t])
                if zt < exit_ or zt > stop:
                    return t
                t += 1
        t = end
    return n
