"""What one daemon process works with: settings, store, broker, bars, corporate-action
source, clock and logger.

Built by :func:`daemon.commands.app.build_context` (the composition root); :func:`daemon.cycle.run.run_once`
only reads it. ``checkpoint`` is called between the cycle's steps with the step's name: tests
inject one that raises to simulate a crash at that point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from daemon.config.settings import DaemonSettings
from daemon.core.corporate_actions import ActionSource, NoActions
from daemon.core.ports import BarSource, Broker, Clock, Logger
from daemon.store import Store


def _no_checkpoint(step: str) -> None:
    return None


@dataclass
class DaemonContext:
    settings: DaemonSettings
    config_path: Path
    store: Store
    broker: Broker
    bars: BarSource
    clock: Clock
    logger: Logger
    checkpoint: Callable[[str], None] = field(default=_no_checkpoint)
    # The feed's corporate actions (splits, dividends): daemon/core/corporate_actions.py
    actions: ActionSource = field(default_factory=NoActions)

    def close(self) -> None:
        """Release the store (and its lock) and the broker's resources, if it has any."""
        closer = getattr(self.broker, "close", None)
        if callable(closer):
            closer()
        self.store.close()
