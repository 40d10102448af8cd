"""The paper-trading daemon: runs the shared strategy on daily bars and routes orders.

Groups, top to bottom; each imports only the ones below it (an import-linter layers contract
in ``pyproject.toml`` keeps it so). ``docs/daemon.md``, "Layout", lists every module and says
where a new broker, feed, alert, step of the cycle or command goes:

- ``commands/``   the CLI, the composition root (``app.py``), ``once``, ``replay``, the service
  and its APScheduler job, ``rewarm``, ``check``/``report``.
- ``adapters/``   brokers and feeds, one package each (``local``, ``csv``, ``yfinance``,
  ``alpaca``), built by name from ``registry.py``.
- ``cycle/``      ``run_once`` (``run.py``) and its steps: corporate actions, reconciliation,
  orders, missing legs, the session summary.
- ``monitoring/`` the shadow model, tracking attribution, alerts, ``check``, the report.
- ``feeds/``      bars checked and merged onto the stored scale; revisions; bad prints.
- ``timing/``     clock, the exchange calendar and catch-up policy, order and session windows.
- ``config/``     the daemon's settings file and the research config it trades.
- ``store/``      SQLite state: runs, intents, fills, equity, alerts, corporate actions.
- ``infra/``      logging (structlog, journald), systemd notify, secret redaction.
- ``core/``       ports (Protocols), statuses, errors, the pure decision and corporate-action
  rules.
"""
