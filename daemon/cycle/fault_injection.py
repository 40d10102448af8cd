"""Test-only fault injection: the daemon SIGKILLs its own process at a named step of the cycle.

Inert unless the environment sets ``PAIRS_DAEMON_TEST_KILL_AT``, read from the environment
mapping the composition root (:func:`daemon.commands.app.build_context`) passes in. The crash-safety tests use it to kill a real daemon
process at every step of :func:`daemon.cycle.run.run_once` and check that a restart neither loses
nor duplicates anything. Never set it in production::

    PAIRS_DAEMON_TEST_KILL_AT = [YYYY-MM-DD@]STEP
    STEP = started | bars_stored | actions_applied | settled | reconciled | decided | submitted | completed
         | sent#N         after the N-th order of the run reached the broker, before the store
                          records it
         | sql:FRAGMENT   when a store statement containing FRAGMENT starts: inside its
                          transaction, before COMMIT

With a date, only the run whose clock reads that date is killed (replays and tests fix the
clock on the session's evening); without one, the first time the step is reached.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from daemon.cycle.context import DaemonContext
from shared.errors import ConfigError

KILL_ENV = "PAIRS_DAEMON_TEST_KILL_AT"
CHECKPOINTS = (
    "started",
    "bars_stored",
    "actions_applied",
    "settled",
    "reconciled",
    "decided",
    "submitted",
    "completed",
)


@dataclass(frozen=True, slots=True)
class KillSpec:
    day: date | None
    step: str


def parse_kill_spec(text: str) -> KillSpec:
    day_text, _, step = text.strip().rpartition("@")
    try:
        day = date.fromisoformat(day_text) if day_text else None
    except ValueError:
        day = None
        step = ""
    sent = step.startswith("sent#") and step[5:].isdigit() and int(step[5:]) >= 1
    if not (step in CHECKPOINTS or sent or (step.startswith("sql:") and len(step) > 4)):
        raise ConfigError(
            f"{text!r} is not [YYYY-MM-DD@]STEP with STEP one of {', '.join(CHECKPOINTS)}, "
            "sent#N or sql:FRAGMENT; unset it to run normally",
            key=KILL_ENV,
            source="environment",
        )
    return KillSpec(day, step)


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install_kill_hook(ctx: DaemonContext, env: Mapping[str, str]) -> None:
    """Arm the kill named by ``env`` on ``ctx`` (its checkpoint or its store's statements)."""
    raw = env.get(KILL_ENV, "").strip()
    if not raw:
        return
    spec = parse_kill_spec(raw)

    def due() -> bool:
        return spec.day is None or ctx.clock.now().date() == spec.day

    if spec.step.startswith("sql:"):
        fragment = spec.step[4:]

        def trace(sql: str) -> None:
            if fragment in sql and due():
                _kill()

        # The store keeps its connection private; only this test hook reaches into it.
        ctx.store._conn.set_trace_callback(trace)
        return
    sent = 0

    def checkpoint(name: str) -> None:
        nonlocal sent
        if name == "started":
            sent = 0  # counts per run, also when one context runs many sessions (the service)
        if name.startswith("sent:"):
            sent += 1
            name = f"sent#{sent}"
        if name == spec.step and due():
            _kill()

    ctx.checkpoint = checkpoint
