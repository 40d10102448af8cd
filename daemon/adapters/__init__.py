"""Brokers and feeds: vendor code stops here. One package per adapter (``local`` is the
research fill model's paper broker; ``csv`` and ``yfinance`` are bar and corporate-action
sources; ``alpaca`` is all three), each built by name in ``registry.py``."""
