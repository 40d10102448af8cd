"""What the daemon is told: its settings file (`settings.py`, `monitoring.py`) and the research config it trades (`research_config.py`)."""
