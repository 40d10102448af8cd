"""Time: the injected clock, the NYSE calendar and catch-up policy, broker session and order windows."""
