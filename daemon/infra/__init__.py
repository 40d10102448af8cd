"""Process plumbing: structured logs (stdout or journald), systemd notify and watchdog, secret redaction."""
