"""The composition root: turns the settings into a context, building the adapters by name
(:mod:`daemon.adapters.registry`). Nothing here runs at import time.

The commands hand it the process environment (:func:`process_env`); it passes that mapping on
to the adapter builders and the test-only kill hook, and reads nothing from it itself. Secrets
(the Alpaca keys) are never in the settings file: :mod:`daemon.adapters.alpaca.clients` reads
them from that mapping, or from systemd credentials (``$CREDENTIALS_DIRECTORY``). The other
modules that read the process environment (the service for systemd's notify socket and
watchdog, the logger for ``$JOURNAL_STREAM``) are listed in docs/layout.md, "Who reads the
environment".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from typing import TextIO

from daemon.adapters.csv.bars import CsvBarSource
from daemon.adapters.registry import build_actions, build_bars, build_broker
from daemon.config.research_config import load_config
from daemon.config.settings import DaemonSettings
from daemon.core.corporate_actions import ActionSource
from daemon.core.ports import BarSource, Broker, Clock, Logger
from daemon.cycle.context import DaemonContext
from daemon.cycle.fault_injection import install_kill_hook
from daemon.cycle.state_integrity import check_after_open, check_before_open
from daemon.feeds.sanity import BAR_REFUSED_EVENT, exchange_date
from daemon.infra.logging import make_logger
from daemon.store import Store
from daemon.timing.clock import FixedClock, SystemClock
from daemon.timing.sessions import is_session, previous_session
from shared.errors import DataError


def process_env() -> Mapping[str, str]:
    """The process environment: where the Alpaca keys (or ``CREDENTIALS_DIRECTORY``) live."""
    return os.environ


def build_context(
    settings: DaemonSettings,
    env: Mapping[str, str],
    *,
    clock: Clock | None = None,
    logger: Logger | None = None,
    stream: TextIO | None = None,
    broker: Broker | None = None,
    bars: BarSource | None = None,
    actions: ActionSource | None = None,
    durable: bool = True,
) -> DaemonContext:
    """Open the store (taking the state directory's lock) and build the adapters the settings
    name. ``clock``/``logger``/``broker``/``bars``/``actions`` may be injected (tests, replays);
    ``durable=False`` skips fsyncs, for throwaway state only."""
    if clock is None:
        fixed = settings.clock.fixed_now
        clock = FixedClock(fixed) if fixed is not None else SystemClock()
    if logger is None:
        logger = make_logger(settings.log_format, stream)
    if broker is None and settings.broker.kind == "local":
        load_config(settings.config)  # a bad config path fails before a state dir is created
    bars = bars or build_bars(settings, env)  # a bad feed setting fails before any state exists
    actions = actions or build_actions(settings, env, logger)
    local_book = broker is None and settings.broker.kind == "local"
    if local_book:
        check_before_open(settings.state_dir)
    store = Store.open(settings.state_dir, durable=durable)
    try:
        if local_book:
            check_after_open(store)
        ctx = DaemonContext(
            settings=settings,
            config_path=settings.config,
            store=store,
            broker=broker or build_broker(settings, env, clock, store, durable, logger),
            bars=bars,
            clock=clock,
            logger=logger,
            actions=actions,
        )
        install_kill_hook(ctx, env)  # test-only, inert unless PAIRS_DAEMON_TEST_KILL_AT is set
        return ctx
    except BaseException:
        store.close()
        raise


def latest_session(ctx: DaemonContext) -> date:
    """The session ``once`` runs by default: for a CSV feed the file's last date; otherwise the
    last XNYS session that has closed by now (New York time)."""
    if isinstance(ctx.bars, CsvBarSource) and not ctx.settings.data.check_calendar:
        today = exchange_date(ctx.clock.now())
        sessions = ctx.bars.sessions()
        future = [d for d in sessions if d > today]
        if future:  # a row from the future is a bad print, never the latest session
            ctx.logger.warning(
                BAR_REFUSED_EVENT,
                sessions=[d.isoformat() for d in future[:5]],
                error=f"price file {ctx.bars.path} has {len(future)} row(s) dated after "
                f"today ({today}); ignored, fix the file",
            )
        sessions = [d for d in sessions if d <= today]
        if not sessions:
            raise DataError(f"price file {ctx.bars.path} has no rows dated up to {today}")
        return sessions[-1]
    from daemon.timing.sessions import session_close

    now = ctx.clock.now()
    today = now.date()
    if is_session(today) and now >= session_close(today):
        return today
    return previous_session(today)
