"""The compiled backtest engine: numba kernels and the grid planning that feeds them.

Import cost is kept off ``research``'s import path: nothing here is imported until an engine
or a sweep asks for it.
"""

from research.kernel_cache import configure_numba_cache

configure_numba_cache()  # before any kernel module is imported: see research/kernel_cache.py
