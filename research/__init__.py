"""Research: everything before the production config.

The groups are layers, each importing only those below it (an import-linter contract):
``commands`` (the CLI) → ``search`` (grid, optimize, sweep) → ``report`` (plots) →
``evaluation`` (performance, overfitting, walk-forward) → ``screen`` (cointegration, pair
selection) | ``backtest`` (engines) → ``data`` (prices in). See docs/layout.md for where a new
statistic, engine or data source goes.
"""
