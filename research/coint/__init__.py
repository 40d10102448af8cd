"""Engle-Granger cointegration screening: the statsmodels reference path and a compiled path
that returns statsmodels' own numbers. The public entry point is
:func:`research.cointegration.run_screen`."""

from research.fast.cache import configure_numba_cache

configure_numba_cache()  # before any kernel module is imported: see research/fast/cache.py
