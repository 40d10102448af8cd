"""Backtest engines behind one protocol (``api``), found by name (``registry``): backtrader,
the compiled engine (``fast_engine`` over the ``fast/`` kernels) and the reference simulation.
A new engine goes here."""
