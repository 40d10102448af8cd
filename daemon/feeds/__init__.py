"""Daily bars in, checked, on the scale the strategy traded on.

- ``bars``: the CSV and yfinance feeds and the per-session validation (NaN, duplicates, a missing
  leg, a stale feed), merged with the stored history into a ``BarUpdate``.
- ``sanity``: bad prints refused before anything is stored (non-finite, absurd, implausible
  one-day moves, dates after the clock's today).
- ``revisions``: stored vs fresh bars: a re-adjustment factor per symbol, restatements and rows
  filled in late, reported and never applied until ``pairs-daemon rewarm``.
- ``actions``: the corporate actions of the CSV feed (an optional events file) and of the
  yfinance feed (Yahoo's ``actions``).
- ``reports``: the events and the store notes for all of the above; ``staleness``: a CSV feed
  that stopped growing is loud on every scheduler tick.

The Alpaca feed is an adapter of its own (``daemon.alpaca.bars``) returning the same frames.
"""
