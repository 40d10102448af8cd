"""Research: prices, cointegration screen, pair selection, grid optimization, backtests."""
