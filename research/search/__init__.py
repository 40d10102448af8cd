"""Searching the parameter space: the grid, the per-pair grid optimization that emits the
production config, and the all-pairs sweep."""
