"""Rolling z-score of the spread over the last ``window`` values (population std, ddof 0)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rolling_zscore(spreads: Sequence[float], window: int) -> float | None:
    """z of the newest spread against the last ``window`` spreads.

    Returns ``None`` when fewer than ``window`` spreads exist or their std is 0 (the seed skips
    the bar then). Uses numpy's mean/std on the same list the seed does, so the bits match.
    """
    if len(spreads) < window:
        return None
    buf = np.asarray(spreads[-window:], dtype=np.float64)
    mean = np.mean(buf)
    std = np.std(buf)
    if std == 0:
        return None
    return float((spreads[-1] - mean) / std)
