"""Prices in: Yahoo downloads, imported CSVs, the synthetic universe, cleaning, and the aligned
closes every engine reads. A new data source goes here."""
