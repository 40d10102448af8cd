"""Daily bars in, checked, on the scale the strategy traded on. The feeds themselves (CSV,
yfinance, Alpaca) are adapters (``daemon.adapters``) returning the same frames.

- ``bars``: the per-session validation (NaN, duplicates, a missing leg, a stale feed), merged
  with the stored history into a ``BarUpdate``.
- ``sanity``: bad prints refused before anything is stored (non-finite, absurd, implausible
  one-day moves, dates after the clock's today).
- ``revisions``: stored vs fresh bars: a re-adjustment factor per symbol, restatements and rows
  filled in late, reported and never applied until ``pairs-daemon rewarm``.
- ``reports``: the events and the store notes for all of the above.
"""
