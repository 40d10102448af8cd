"""Daily bars in, checked, on the scale the strategy traded on. The feeds themselves (CSV,
yfinance, Alpaca) are adapters (``daemon.adapters``) returning the same frames.

- ``bars``: the per-session validation (NaN, duplicates, a missing leg, a stale feed), merged
  with the stored history into a ``BarUpdate``.
- ``sanity``: bad prints refused before anything is stored (non-finite, absurd, implausible
  one-day moves, dates after the clock's today).
- ``revisions``: stored vs fresh bars: a re-adjustment factor per symbol (the one at the end of
  the stored history), factor changes inside it, restatements, rows filled in late or dropped,
  reported and never applied until ``pairs-daemon rewarm``; a fresh history that is not the
  stored one re-adjusted (a shift, another series) stops the session.
- ``reports``: the events and the store notes for all of the above.
"""
