"""The pure strategy core shared by research and the daemon: no I/O, no clock, no environment.

The exception is :mod:`shared.adapters`: the one yfinance adapter both use, which downloads (and
sleeps between retries); the core never imports it (an import-linter contract).
"""
