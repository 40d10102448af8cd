"""Engle-Granger cointegration screening: the statsmodels reference path and a compiled path
that returns statsmodels' own numbers. The public entry point is
:func:`research.screen.pipeline.run_screen`."""

from research.kernel_cache import configure_numba_cache

configure_numba_cache()  # before any kernel module is imported: see research/kernel_cache.py
