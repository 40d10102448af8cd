"""A daemon process that runs the sessions its parent writes on stdin, one per line.

    python -m tests.integration.crash_driver SETTINGS.toml

Each session gets a fresh context from the composition root (``build_context`` with this
process's environment, so ``PAIRS_DAEMON_TEST_KILL_AT`` arms the kill hook) and a clock fixed
on the session's evening; the answer ``<session> <status>`` goes to stdout. The parent can close
a session on an Alpaca-compatible server between two lines, as the exchange would between two
daily runs, and restarts this process when the hook has killed it.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path

from daemon.commands.app import build_context
from daemon.config.settings import load_settings
from daemon.cycle.run import run_once
from daemon.infra.logging import make_logger
from daemon.timing.clock import FixedClock

RUN_TIME = time(23, 30, tzinfo=UTC)  # after the close and after 19:00 New York time
ANSWER = "session-result"  # marks the answer lines; anything else on stdout is ignored


def main(argv: list[str]) -> int:
    settings = load_settings(Path(argv[0]))
    answers, sys.stdout = sys.stdout, sys.stderr  # stray prints must not look like answers
    with (settings.state_dir.parent / "daemon.log").open("a", encoding="utf-8") as log:
        logger = make_logger("json", log)
        for line in sys.stdin:
            session = date.fromisoformat(line.strip())
            clock = FixedClock(datetime.combine(session, RUN_TIME))
            ctx = build_context(settings, os.environ, clock=clock, logger=logger, durable=False)
            try:
                result = run_once(ctx, session)
            finally:
                ctx.close()
            log.flush()
            print(ANSWER, session, result.status, file=answers, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
