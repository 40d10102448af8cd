"""Benchmarks of the research engines (``make bench`` → ``python -m benchmarks.run``)."""
