"""Judging results: performance figures, overfitting evidence (PSR, DSR, PBO) and walk-forward
validation."""
