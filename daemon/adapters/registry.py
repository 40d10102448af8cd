"""Adapters by name: how the composition root turns ``[data] feed`` and ``[broker] kind`` into a
``BarSource``, an ``ActionSource`` and a ``Broker``.

A new broker or feed is a package beside ``local/``, ``csv/``, ``yfinance/`` and ``alpaca/``
plus one entry here (and the name in the settings' ``Literal``; a unit test checks the two
agree). Vendor packages are imported inside the builders, so choosing the local broker never
imports alpaca-py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import get_args

from daemon.adapters.csv.bars import CsvBarSource
from daemon.adapters.csv.events import CsvActions
from daemon.config.research_config import load_config
from daemon.config.settings import BrokerSettings, DaemonSettings, DataSettings
from daemon.core.corporate_actions import ActionSource, CombinedActions, NoActions
from daemon.core.ports import BarSource, Broker, Clock, Logger
from daemon.store import Store
from daemon.store.files import BROKER_DB_NAME
from shared.errors import ConfigError

Env = Mapping[str, str]
BarsBuilder = Callable[[DaemonSettings, Env], BarSource]
# The feed's own corporate-action source (None: the feed has none; the events file may add one).
ActionsBuilder = Callable[[DaemonSettings, Env, Logger | None], ActionSource | None]
BrokerBuilder = Callable[[DaemonSettings, Env, Clock, Store, bool, Logger | None], Broker]


def _csv_bars(settings: DaemonSettings, env: Env) -> BarSource:
    path = settings.data.csv_path
    if path is None:  # the settings model already refuses this
        raise ConfigError("needs data.csv_path", key="data.feed", source=settings.source)
    if path.is_dir():
        raise ConfigError(
            f"{path} is a directory; data.csv_path (or --prices) must name a CSV file of closes",
            key="data.csv_path",
            source=settings.source,
        )
    return CsvBarSource(path)


def _yfinance_bars(settings: DaemonSettings, env: Env) -> BarSource:
    from daemon.adapters.yfinance.bars import YFinanceBarSource

    return YFinanceBarSource()


def _alpaca_bars(settings: DaemonSettings, env: Env) -> BarSource:
    from daemon.adapters.alpaca.factory import build_alpaca_bars

    return build_alpaca_bars(env, settings.alpaca)


def _no_actions(settings: DaemonSettings, env: Env, logger: Logger | None) -> None:
    return None


def _yfinance_actions(settings: DaemonSettings, env: Env, logger: Logger | None) -> ActionSource:
    from daemon.adapters.yfinance.events import YFinanceActions

    return YFinanceActions()


def _alpaca_actions(settings: DaemonSettings, env: Env, logger: Logger | None) -> ActionSource:
    from daemon.adapters.alpaca.factory import build_alpaca_actions

    return build_alpaca_actions(env, settings.alpaca, logger=logger)


def _local_broker(
    settings: DaemonSettings,
    env: Env,
    clock: Clock,
    store: Store,
    durable: bool,
    logger: Logger | None,
) -> Broker:
    from daemon.adapters.local.broker import LocalPaperBroker

    # The local book starts from the config's cash and commission (the research fill model);
    # a pair's orders wait while either of its legs has no close (its pairs).
    config = load_config(settings.config)
    return LocalPaperBroker(
        store.path.parent / BROKER_DB_NAME,
        initial_cash=config.initial_cash,
        commission=config.commission,
        clock=clock,
        durable=durable,
        pairs=[(p.asset_1, p.asset_2) for p in config.pair_list],
    )


def _alpaca_broker(
    settings: DaemonSettings,
    env: Env,
    clock: Clock,
    store: Store,
    durable: bool,
    logger: Logger | None,
) -> Broker:
    from daemon.adapters.alpaca.factory import build_alpaca_broker

    return build_alpaca_broker(env, settings.alpaca, logger=logger)


# name -> (bars, the feed's corporate actions)
FEEDS: dict[str, tuple[BarsBuilder, ActionsBuilder]] = {
    "csv": (_csv_bars, _no_actions),
    "yfinance": (_yfinance_bars, _yfinance_actions),
    "alpaca": (_alpaca_bars, _alpaca_actions),
}
BROKERS: dict[str, BrokerBuilder] = {
    "local": _local_broker,
    "alpaca": _alpaca_broker,
}


def declared_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The feed and broker names the settings accept (their ``Literal`` types)."""
    feed = get_args(DataSettings.model_fields["feed"].annotation)
    kind = get_args(BrokerSettings.model_fields["kind"].annotation)
    return tuple(feed), tuple(kind)


def build_bars(settings: DaemonSettings, env: Env) -> BarSource:
    bars, _ = FEEDS[settings.data.feed]
    return bars(settings, env)


def build_actions(settings: DaemonSettings, env: Env, logger: Logger | None = None) -> ActionSource:
    """The feed's corporate-action source (Alpaca's API, yfinance's actions; the CSV feed has
    none) supplemented by the operator's events file when ``data.events_csv`` is set (an
    operator adding a split the feed has not published)."""
    _, actions = FEEDS[settings.data.feed]
    source = actions(settings, env, logger)
    events = events_file(settings.data.events_csv, settings.source)
    if source is None:
        return events or NoActions()
    return source if events is None else CombinedActions(source, events)


def events_file(path: Path | None, settings_source: str | None) -> CsvActions | None:
    if path is None:
        return None
    if path.is_dir():
        raise ConfigError(
            f"{path} is a directory; data.events_csv must name a CSV file of events",
            key="data.events_csv",
            source=settings_source,
        )
    return CsvActions(path)


def build_broker(
    settings: DaemonSettings,
    env: Env,
    clock: Clock,
    store: Store,
    durable: bool = True,
    logger: Logger | None = None,
) -> Broker:
    return BROKERS[settings.broker.kind](settings, env, clock, store, durable, logger)
