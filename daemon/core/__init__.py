"""The floor every group may use: ports (Protocols), statuses, errors, and the pure rules (decisions, corporate actions). No I/O."""
