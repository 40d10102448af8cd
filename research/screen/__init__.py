"""Which pairs to trade: the cointegration screen (``pipeline``; its engines and kernels in
``coint/``) and the greedy selection of non-overlapping pairs. A new pair statistic goes here."""
