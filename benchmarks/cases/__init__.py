"""Benchmark cases: every module here exposing ``run(args) -> list[dict]`` is a case.

``benchmarks.run`` discovers them, so a new case is a new module, nothing else. Each returned
dict is printed as one JSON line; a case that compares engines puts the baseline and the fast
timing side by side in the same dict (measured in the same run, so machine noise cancels).
"""
