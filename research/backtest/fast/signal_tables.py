"""Next-signal tables of a z-series: from any bar, the next bar where a threshold test fires.

A lane group (``lane_kernel``) alternates between waiting for an entry (``z < -entry``, or
``z > entry`` when it may go short) and waiting for an exit (``|z| < exit`` or ``|z| > stop``).
Every group of a z-series asks these questions with the grid's few thresholds, tens of times
each, so each threshold's answer for every bar is made once per z-series, in one backward pass
(``table[t]`` = the first bar >= t where the test holds, ``n`` if none), and a wait becomes two
lookups. The tests are the strategy's own comparisons (NaN never fires), so the bar found is
the one a bar-by-bar scan finds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Kinds of test: z below -level, z above level, |z| below level, |z| above level.
BELOW, ABOVE, ABS_BELOW, ABS_ABOVE = range(4)


def table_layout(
    entry_z: np.ndarray, exit_z: np.ndarray, stop_z: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(test kinds, levels) of a z-series' tables, and each config's four table rows: entry
    below, entry above, exit, stop. Each distinct threshold gets its rows once."""
    entries, entry_ix = np.unique(entry_z, return_inverse=True)
    exits, exit_ix = np.unique(exit_z, return_inverse=True)
    stops, stop_ix = np.unique(stop_z, return_inverse=True)
    e, x = len(entries), len(exits)
    kinds = np.concatenate(
        [np.tile([BELOW, ABOVE], e), np.full(x, ABS_BELOW), np.full(len(stops), ABS_ABOVE)]
    ).astype(np.int64)
    levels = np.concatenate([np.repeat(entries, 2), exits, stops]).astype(np.float64)
    rows = np.column_stack([2 * entry_ix, 2 * entry_ix + 1, 2 * e + exit_ix, 2 * e + x + stop_ix])
    return kinds, levels, np.ascontiguousarray(rows, dtype=np.int64)


@njit(cache=True, nogil=True)
def build(z, kinds, levels, out):  # pragma: no cover - compiled
    """``out[r, t]`` = the first bar >= t of ``z`` where test ``kinds[r]`` at ``levels[r]``
    holds, ``len(z)`` if none (``out[r, len(z)]`` too, so a lookup past the last bar is
    valid)."""
    n = z.shape[0]
    for r in range(kinds.shape[0]):
        kind = kinds[r]
        level = levels[r]
        following = n
        out[r, n] = n
        for t in range(n - 1, -1, -1):
            zt = z[t]
            if kind == BELOW:
                fires = zt < -level
            elif kind == ABOVE:
                fires = zt > level
            elif kind == ABS_BELOW:
                fires = abs(zt) < level
            else:
                fires = abs(zt) > level
            following = t if fires else following
            out[r, t] = following
