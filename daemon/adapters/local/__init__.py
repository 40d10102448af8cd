"""The local paper broker: the research fill model over the stored bars, its book in SQLite."""
