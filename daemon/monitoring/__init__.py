"""Monitoring a paper account: the shadow model and tracking attribution, alerts, a feed that
stopped growing (``staleness``), the ``check`` logic (Nagios exit codes, Prometheus textfile)
and the static report. The commands that print them are ``daemon.commands.monitor``."""
