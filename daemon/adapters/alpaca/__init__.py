"""Alpaca adapters: the paper-trading broker and daily bars, both on alpaca-py.

Vendor types stop here: every public method returns the daemon's own types from
``daemon.core.ports`` (or the small records in ``daemon.adapters.alpaca.models``).
"""
