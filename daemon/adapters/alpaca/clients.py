"""Credentials and alpaca-py clients with timeouts and without alpaca-py's own retry.

alpaca-py 0.44 (pinned <0.45 in pyproject.toml) sends every request through one
``requests.Session`` per client with no timeout, and retries 429/504 itself with fixed 3 s
sleeps. ``TradingClient`` exposes neither, so the clients below are small subclasses that
replace the session with one that applies our timeout and empty the retried status codes; our
``RetryPolicy`` owns retrying. ``tests/unit/test_alpaca_*`` prove both behaviours over HTTP, so
an alpaca-py upgrade that renames these attributes fails loudly there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.trading.client import TradingClient

from daemon.infra.redaction import register_secrets
from shared.errors import ConfigError

KEY_ID_VAR = "APCA_API_KEY_ID"
SECRET_KEY_VAR = "APCA_API_SECRET_KEY"
TRADING_URL_VAR = "APCA_API_BASE_URL"
DATA_URL_VAR = "APCA_API_DATA_URL"
CREDENTIALS_DIR_VAR = "CREDENTIALS_DIRECTORY"  # systemd LoadCredential=

PAPER_TRADING_URL = "https://paper-api.alpaca.markets"
LIVE_TRADING_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"


@dataclass(frozen=True, slots=True)
class AlpacaCredentials:
    """An API key pair. The secret never appears in ``repr`` or ``str``; the key id only by its
    last four characters, which is enough to tell two keys apart in a log."""

    key_id: str = field(repr=False)
    secret_key: str = field(repr=False)

    def __repr__(self) -> str:
        return f"AlpacaCredentials(key_id='...{self.key_id[-4:]}', secret_key='***')"

    __str__ = __repr__


class RedactedEnv(Mapping[str, str]):
    """A read-only view of an environment whose ``repr`` lists names, never values: tracebacks
    rendered with locals (and debuggers) show the frames' ``env`` without the keys."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def __getitem__(self, name: str) -> str:
        return self._env[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)

    def __repr__(self) -> str:
        return f"RedactedEnv({sorted(self._env)})"


def redacted(env: Mapping[str, str] | None) -> RedactedEnv:
    env = os.environ if env is None else env
    return env if isinstance(env, RedactedEnv) else RedactedEnv(env)


def _read(name: str, env: Mapping[str, str]) -> str | None:
    """A setting from a systemd credential file, else from the environment. Credential files
    win: they are how the unit is meant to pass secrets, an inherited variable is not."""
    cred_dir = env.get(CREDENTIALS_DIR_VAR)
    if cred_dir:
        path = Path(cred_dir) / name
        if path.is_file():
            value = path.read_text(encoding="utf-8").strip()
            if value:
                return value
    value = env.get(name, "").strip()
    return value or None


def load_credentials(env: Mapping[str, str] | None = None) -> AlpacaCredentials:
    # No local of this frame holds a key when the error is raised (tracebacks with locals).
    env = redacted(env)
    missing = [name for name in (KEY_ID_VAR, SECRET_KEY_VAR) if _read(name, env) is None]
    if missing:
        raise ConfigError(
            f"Alpaca API keys missing: set {' and '.join(missing)} in the environment "
            f"(EnvironmentFile=) or as systemd credentials (LoadCredential={missing[0]}:...), "
            "or use the local paper broker",
            key=missing[0],
        )
    # From here on every log line, error message and store write masks these values.
    register_secrets([_read(KEY_ID_VAR, env), _read(SECRET_KEY_VAR, env)])
    return AlpacaCredentials(
        key_id=_read(KEY_ID_VAR, env) or "", secret_key=_read(SECRET_KEY_VAR, env) or ""
    )


def register_env_secrets(env: Mapping[str, str] | None = None) -> None:
    """Register the keys found in ``env`` (or its credential files) for redaction, without
    requiring them: commands that never call Alpaca still print stored messages."""
    env = redacted(env)
    register_secrets([_read(KEY_ID_VAR, env), _read(SECRET_KEY_VAR, env)])


def endpoint(override: str | None, var: str, default: str, env: Mapping[str, str]) -> str:
    """Settings beat the environment beat Alpaca's default. alpaca-py appends ``/v2`` itself,
    so a URL copied with it from Alpaca's dashboard is accepted too."""
    url = (override or _read(var, env) or default).strip().rstrip("/")
    check_url(url, var)
    return url.removesuffix("/v2")


def check_url(url: str, key: str) -> None:
    """An http(s) URL without credentials in it. The error never repeats a URL that carries
    userinfo: that part is a secret the URL should not have held."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = url if "@" not in url else "<the URL>"
        raise ConfigError(f"'{shown}' is not an http(s) URL", key=key)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ConfigError(
            "the URL carries credentials (user:password@host); remove them: the API keys go in "
            "APCA_API_KEY_ID / APCA_API_SECRET_KEY (environment or systemd credentials), never "
            "in a URL, which ends up in logs",
            key=key,
        )


class TimeoutSession(requests.Session):
    """A session whose requests all time out; ``timeout_s`` bounds connect and each read."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = (self.timeout_s, self.timeout_s)
        return super().request(method, url, *args, **kwargs)


class EdgeTradingClient(TradingClient):
    """``TradingClient`` with a timeout on every request and no internal retry."""

    def __init__(self, creds: AlpacaCredentials, *, url: str, paper: bool, timeout_s: float):
        super().__init__(
            api_key=creds.key_id, secret_key=creds.secret_key, paper=paper, url_override=url
        )
        self._session = TimeoutSession(timeout_s)
        self._retry_codes = []

    def __repr__(self) -> str:
        return f"EdgeTradingClient(url={self._base_url!r})"


class EdgeDataClient(StockHistoricalDataClient):
    """``StockHistoricalDataClient`` with a timeout on every request and no internal retry."""

    def __init__(self, creds: AlpacaCredentials, *, url: str, timeout_s: float):
        super().__init__(api_key=creds.key_id, secret_key=creds.secret_key, url_override=url)
        self._session = TimeoutSession(timeout_s)
        self._retry_codes = []

    def __repr__(self) -> str:
        return f"EdgeDataClient(url={self._base_url!r})"
