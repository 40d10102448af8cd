"""A small Alpaca-compatible REST server for tests and local development.

It speaks the subset of Alpaca's trading and market-data APIs the daemon uses, with the JSON
shapes alpaca-py's models require, keeps an account (cash, positions, orders), fills queued
market orders when told a session closed, and injects faults and what real brokers do (partial
auctions, expiry, hard-to-borrow cancels, refusals, paper quirks) on demand. Run it standalone
with ``python -m tests.alpaca_server``.
"""

from tests.alpaca_server.server import AlpacaServer
from tests.alpaca_server.state import AccountBook, Fault, Refusal

__all__ = ["AccountBook", "AlpacaServer", "Fault", "Refusal"]
