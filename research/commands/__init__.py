"""The subcommands of ``pairs-research``, one module per step."""
