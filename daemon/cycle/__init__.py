"""One session, end to end: `run.py` (`run_once`) and the steps it runs in order."""
