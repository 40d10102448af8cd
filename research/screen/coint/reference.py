"""The reference Engle-Granger test: statsmodels' ``coint`` with its defaults, step by step.

The test itself lives in :mod:`shared.coint` (the daemon's pair health runs the same one on a
trailing window); it is re-exported here under its research names. What research adds is
:func:`single_threaded_blas` for running many of them side by side.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

from shared.coint import (
    COLLINEAR_RSQUARED,
    N_VARS,
    SQRTEPS,
    EngleGranger,
    critical_values,
    engle_granger,
)

__all__ = [
    "COLLINEAR_RSQUARED",
    "N_VARS",
    "SQRTEPS",
    "EngleGranger",
    "critical_values",
    "engle_granger",
    "single_threaded_blas",
]


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """statsmodels' small SVDs (1,255 x <= 25) only lose from BLAS threads: with the cores
    busy, a threaded OpenBLAS makes one ``coint`` call 10-25x slower than a single thread."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield
