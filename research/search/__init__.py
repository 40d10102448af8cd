"""Searching the parameter space: the grid, the per-pair grid optimization that emits the
production config (``optimize``, checked on backtrader by ``verification``), and the all-pairs
sweep (``sweep`` driving ``sweep_worker`` tasks)."""
