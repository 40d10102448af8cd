"""Monitoring a paper account: the shadow model and tracking attribution, alerts, the ``check``
command (Nagios exit codes, Prometheus textfile) and the static report (DESIGN.md §10)."""
