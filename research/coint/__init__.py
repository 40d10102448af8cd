"""Engle-Granger cointegration screening: the statsmodels reference path and a compiled path
that returns statsmodels' own numbers. The public entry point is
:func:`research.cointegration.screen_pairs`."""
