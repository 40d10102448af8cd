"""Composition helpers: build the Alpaca broker, bar source and corporate-action source from the environment and the
``[alpaca]`` settings section. Only the daemon's composition root calls these.

Endpoints: an explicitly set ``trading_url``/``data_url`` setting wins, then Alpaca's own
variables ``APCA_API_BASE_URL``/``APCA_API_DATA_URL``, then Alpaca's defaults (the paper
endpoint unless live trading was opted into). Keys: ``APCA_API_KEY_ID`` and
``APCA_API_SECRET_KEY`` from ``$CREDENTIALS_DIRECTORY`` files or the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from daemon.adapters.alpaca.bars import AlpacaBars
from daemon.adapters.alpaca.broker import AlpacaBroker
from daemon.adapters.alpaca.clients import (
    DATA_URL,
    DATA_URL_VAR,
    LIVE_TRADING_URL,
    PAPER_TRADING_URL,
    TRADING_URL_VAR,
    EdgeDataClient,
    EdgeTradingClient,
    endpoint,
    load_credentials,
    redacted,
)
from daemon.adapters.alpaca.corporate_actions import (
    AlpacaCorporateActions,
    EdgeCorporateActionsClient,
)
from daemon.adapters.alpaca.retry import RetryPolicy
from daemon.config.settings import AlpacaSettings
from daemon.core.ports import BarSource, Broker, EventLog
from shared.errors import ConfigError

_LIVE_HOST = urlsplit(LIVE_TRADING_URL).hostname
_PAPER_HOST = urlsplit(PAPER_TRADING_URL).hostname


def _explicit(settings: AlpacaSettings, field: str) -> str | None:
    """A URL setting only overrides the environment when the settings file set it."""
    return getattr(settings, field) if field in settings.model_fields_set else None


def trading_endpoint(env: Mapping[str, str], settings: AlpacaSettings) -> str:
    default = PAPER_TRADING_URL if settings.paper else LIVE_TRADING_URL
    url = endpoint(_explicit(settings, "trading_url"), TRADING_URL_VAR, default, env)
    host = urlsplit(url).hostname
    if settings.paper and host == _LIVE_HOST:
        raise ConfigError(
            f"{url} is Alpaca's live endpoint but alpaca.paper = true; use {PAPER_TRADING_URL} "
            "or opt into live trading with paper = false and allow_live = true",
            key="alpaca.trading_url",
        )
    if not settings.paper and host == _PAPER_HOST:
        raise ConfigError(
            f"{url} is Alpaca's paper endpoint but alpaca.paper = false; set paper = true",
            key="alpaca.trading_url",
        )
    return url


def _policy(retry: RetryPolicy | None, logger: EventLog | None) -> RetryPolicy:
    retry = retry or RetryPolicy()
    return replace(retry, logger=logger) if logger is not None else retry


def build_alpaca_broker(
    env: Mapping[str, str],
    settings: AlpacaSettings,
    *,
    retry: RetryPolicy | None = None,
    preflight: bool = True,
    logger: EventLog | None = None,
) -> Broker:
    """The Alpaca broker. ``logger`` (the daemon's bound logger) receives the retry and
    live-trading events; without it they go to structlog's default logger."""
    if not settings.paper and not settings.allow_live:
        # The settings model already refuses this; kept for callers that build settings
        # without validation (model_construct).
        raise ConfigError("live trading needs allow_live = true", key="alpaca.allow_live")
    env = redacted(env)
    url = trading_endpoint(env, settings)
    creds = load_credentials(env)
    policy = _policy(retry, logger)
    log = policy.log
    if not settings.paper:
        log.warning(
            "alpaca_live_trading",
            message="LIVE TRADING: orders go to a real-money Alpaca account",
            trading_url=url,
        )
    else:
        log.info("alpaca_paper_trading", trading_url=url)
    client = EdgeTradingClient(creds, url=url, paper=settings.paper, timeout_s=settings.timeout_s)
    return AlpacaBroker(client, retry=policy, preflight=preflight)


def build_alpaca_bars(
    env: Mapping[str, str],
    settings: AlpacaSettings,
    *,
    retry: RetryPolicy | None = None,
    logger: EventLog | None = None,
) -> BarSource:
    env = redacted(env)
    url = endpoint(_explicit(settings, "data_url"), DATA_URL_VAR, DATA_URL, env)
    creds = load_credentials(env)
    client = EdgeDataClient(creds, url=url, timeout_s=settings.timeout_s)
    # SIP requests end a delay before the *broker's* clock: read it from the trading API.
    clock = EdgeTradingClient(
        creds,
        url=trading_endpoint(env, settings),
        paper=settings.paper,
        timeout_s=settings.timeout_s,
    )
    return AlpacaBars(
        client,
        feed=settings.feed,
        retry=_policy(retry, logger),
        now=lambda: _clock_time(clock),
        sip_delay=timedelta(minutes=settings.sip_delay_minutes),
    )


def build_alpaca_actions(
    env: Mapping[str, str],
    settings: AlpacaSettings,
    *,
    retry: RetryPolicy | None = None,
    logger: EventLog | None = None,
) -> AlpacaCorporateActions:
    """Corporate actions from the data endpoint the bars come from, with the same keys,
    timeout and retry policy."""
    env = redacted(env)
    url = endpoint(_explicit(settings, "data_url"), DATA_URL_VAR, DATA_URL, env)
    client = EdgeCorporateActionsClient(
        load_credentials(env), url=url, timeout_s=settings.timeout_s
    )
    return AlpacaCorporateActions(client, retry=_policy(retry, logger))


def _clock_time(client: EdgeTradingClient) -> datetime:
    clock = client.get_clock()
    assert not isinstance(clock, dict)  # raw_data is off: alpaca-py returns models
    return clock.timestamp
