"""The daemon's settings: a TOML file validated by a frozen pydantic model.

Secrets never live in this file. API keys come from the environment or from systemd credentials
(``$CREDENTIALS_DIRECTORY``), read by :mod:`daemon.adapters.alpaca.clients` from the mapping the
composition root (:mod:`daemon.commands.app`) passes on. Relative paths in a settings file are
resolved against the file's own directory, so a unit file can point at
``/etc/pairs-daemon/daemon.toml`` without caring about the working directory.

Layout (see ``configs/daemon.toml`` for a documented example)::

    config = "kalman_prod_config.json"   # the research output to trade
    state_dir = "state"                  # SQLite store, lock file, local broker book
    go_live = 2024-06-03                 # optional: observe only before this session
    dry_run = false
    log_format = "json"                  # or "console"

    [broker]  kind = "local" | "alpaca";  time_in_force = "cls" | "opg" | "day"
    [data]    feed = "csv" | "yfinance" | "alpaca";  csv_path = "...";  events_csv = "...";
              calendar_check = ...
    [risk]    max_order_notional, max_gross_exposure, kill_switch, kill_switch_file
    [integrity] on_unbalanced ("complete" | "unwind"), max_repair_sessions
    [schedule] run_at, timezone, misfire_grace_s, max_catch_up_sessions, retry_after_s,
               max_attempts, interval_s (tests)
    [clock]   fixed_now (tests only)
    [alpaca]  trading_url, data_url, feed ("sip" | "iex"), sip_delay_minutes, timeout_s, paper,
              allow_live
    [monitoring] tracking_warning_bps, tracking_critical_bps, late_after_minutes
    [health]  window, max_pvalue, max_half_life_ratio, max_innovation_share,
              max_trade_half_lives, on_degraded ("alert" | "no_new_entries")
    [promotion] min_dsr, max_pbo, min_oos_sharpe, min_trades, max_data_age_sessions
    [handover] dropped ("drain" | "close")
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from daemon.config.monitoring import MonitoringSettings
from daemon.core.ports import TimeInForce
from shared.errors import ConfigError
from shared.health import MIN_WINDOW, HealthRules

EMBEDDED_SOURCE = "<embedded default settings>"

# The embedded default: a local paper broker fed from a local CSV, no account needed.
EMBEDDED_DEFAULT_TOML = """
config = "kalman_prod_config.json"
state_dir = "state"
log_format = "json"

[broker]
kind = "local"
time_in_force = "cls"

[data]
feed = "csv"
csv_path = "adj_close_wide.csv"
"""

_SECRET_KEY = re.compile(r"(secret|password|passwd|token|api_?key|key_?id|credential)", re.I)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BrokerSettings(_Model):
    kind: Literal["local", "alpaca"] = "local"
    # cls: market-on-close on the next session, the backtest's fill (default).
    # opg: market-on-open on the next session; day: a DAY market order (fills at the next open
    # when sent after the close). Both depart from the backtest's close-to-close fill.
    time_in_force: TimeInForce = TimeInForce.CLS


class DataSettings(_Model):
    feed: Literal["csv", "yfinance", "alpaca"] = "csv"
    csv_path: Path | None = None
    # The operator's splits and dividends (docs/operations.md, "Corporate-action sources"): the
    # CSV feed's only source, a supplement to the others' own; none when unset.
    events_csv: Path | None = None
    # Check that no XNYS session is missing from the bars. Default: on for real feeds, off for
    # CSV files (synthetic data uses business days; a CSV's dates are its sessions).
    calendar_check: bool | None = None
    # Fresh bars are compared with the stored ones after taking out one factor per ticker (the
    # median fresh/stored ratio: a dividend or split re-adjustment). A bar whose relative
    # residual exceeds this is a restatement: reported (bars_revised), never applied. 1e-5 is
    # ~7x the float noise between two real Yahoo downloads (1.35e-6) and still below one cent
    # on a $1,000 close.
    rescale_tolerance: float = Field(default=1e-5, gt=0, lt=0.01)
    # A close more than this factor from the previous close (x2 or /2 by default) is refused
    # as a bad print before it is stored. Adjusted feeds rescale history at splits, so a real
    # split never shows as a jump; raise this only for a feed that does not adjust.
    max_daily_move: float = Field(default=2.0, gt=1, le=1000)
    # A symbol with no bar this many sessions in a row is treated as delisted: an error-level
    # leg_delisted alert asks the operator to act (docs/operations.md, "A missing or delisted
    # leg").
    delisted_after_sessions: int = Field(default=5, ge=1, le=250)

    @property
    def check_calendar(self) -> bool:
        return self.calendar_check if self.calendar_check is not None else self.feed != "csv"


class RiskSettings(_Model):
    # Orders that open or grow a position above this notional (real price) are blocked.
    max_order_notional: float | None = Field(default=None, gt=0)
    # Decisions that would take Σ|position × price| above this are blocked.
    max_gross_exposure: float | None = Field(default=None, gt=0)
    # true halts all order sending; so does the existence of kill_switch_file.
    kill_switch: bool = False
    kill_switch_file: Path | None = None


class IntegritySettings(_Model):
    # A pair whose legs the broker holds unlike the research fill model (a refused, expired,
    # cancelled or partly filled leg) is repaired at the next session: "complete" sends the
    # missing part of the leg up to `max_repair_sessions` sessions, then unwinds the filled
    # part; "unwind" closes the filled part at once. An exit that did not complete is retried
    # every session until the pair is flat under both. "alert" sends nothing: the
    # operator repairs by hand while the alert (and `check`) stays CRITICAL.
    on_unbalanced: Literal["complete", "unwind", "alert"] = "complete"
    max_repair_sessions: int = Field(default=2, ge=0)


class HealthSettings(_Model):
    """Pair health every session (shared/health.py; docs/operations.md, "Pair health")."""

    # Trailing sessions of the pair's stored closes the measures look at (at least 60: the
    # screen's shortest test).
    window: int = Field(default=252, ge=MIN_WINDOW, le=10_000)
    # Degraded when the Engle-Granger p-value over the window is above this.
    max_pvalue: float = Field(default=0.05, gt=0, lt=1)
    # ... when the spread's half-life is above this many formation half-lives.
    max_half_life_ratio: float = Field(default=2.0, gt=0)
    # ... when more than this share of the window's Kalman innovations lies beyond the
    # chi-square(1) 99% bound (1% expected).
    max_innovation_share: float = Field(default=0.05, gt=0, lt=1)
    # ... when the open trade has lasted more than this many formation half-lives.
    max_trade_half_lives: float = Field(default=3.0, gt=0)
    # "alert": a pair_degraded warning only; "no_new_entries": also block the entries of a pair
    # degraded on a measure of the closes (blocked intents, as a risk limit blocks them).
    on_degraded: Literal["alert", "no_new_entries"] = "alert"

    @property
    def rules(self) -> HealthRules:
        return HealthRules(
            window=self.window,
            max_pvalue=self.max_pvalue,
            max_half_life_ratio=self.max_half_life_ratio,
            max_innovation_share=self.max_innovation_share,
            max_trade_half_lives=self.max_trade_half_lives,
        )


class PromotionSettings(_Model):
    """The gates a candidate config passes before ``pairs-daemon deploy`` hands the account to
    it (daemon/core/promotion.py; docs/operations.md, "Moving to a new config"). A gate whose
    evidence the config lacks fails: an unmeasured candidate is not a good one."""

    # The Deflated Sharpe Ratio of the chosen config (the probability that its true Sharpe is
    # above the best one expected from the number of configs tried). 0.5: more likely than not
    # better than luck. The seed's DIA/SPY pick has 0.12.
    min_dsr: float = Field(default=0.5, ge=0, le=1)
    # The Probability of Backtest Overfitting of the grid (CSCV). Above 0.5 the in-sample best
    # config ranks below the out-of-sample median more often than not.
    max_pbo: float = Field(default=0.5, ge=0, le=1)
    # The walk-forward's out-of-sample daily Sharpe (``pairs-research walkforward`` records
    # it). 0: the pipeline has not lost money out of sample.
    min_oos_sharpe: float = 0.0
    # Closed trades in the research backtest: fewer is a Sharpe of a handful of trades.
    min_trades: int = Field(default=10, ge=0)
    # Sessions between the config's last research session and the last session the daemon has
    # data for: research on stale data fits a market that has moved on (a monthly re-research
    # is about 21 sessions old at most).
    max_data_age_sessions: int = Field(default=30, ge=0)


class HandoverSettings(_Model):
    """What a deployment does to a pair the new config drops while it holds a position
    (shared/handover.py): ``drain`` lets it exit by its old rules (no new entries), ``close``
    closes it with the hand-over session's orders."""

    dropped: Literal["drain", "close"] = "drain"


class ScheduleSettings(_Model):
    # Local time (in `timezone`) at which the daily run starts. After 19:00 ET Alpaca accepts
    # CLS/OPG orders for the next session.
    run_at: time = time(19, 15)
    timezone: str = "America/New_York"
    misfire_grace_s: int = Field(default=3600, ge=1)
    # More missed sessions than this are not caught up automatically.
    max_catch_up_sessions: int = Field(default=5, ge=0)
    # A failed session is retried after retry_after_s; after max_attempts failures in a row the
    # service halts (it stays up and says why) until an operator fixes the cause and restarts.
    retry_after_s: int = Field(default=900, ge=1)
    max_attempts: int = Field(default=3, ge=1)
    # Tests and demos only: fire every interval_s seconds instead of daily at run_at.
    interval_s: int | None = Field(default=None, ge=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, KeyError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'America/New_York'"
            ) from None
        return value


class ClockSettings(_Model):
    # Tests and demos only: freeze "now" (timezone-aware, e.g. 2025-03-14T20:00:00-04:00) so
    # the sessions a run considers due are deterministic. Never set in production.
    fixed_now: datetime | None = None

    @model_validator(mode="after")
    def _aware(self) -> ClockSettings:
        if self.fixed_now is not None and self.fixed_now.tzinfo is None:
            raise ValueError("fixed_now needs a UTC offset, e.g. 2025-03-14T20:00:00-04:00")
        return self


class AlpacaSettings(_Model):
    trading_url: str = "https://paper-api.alpaca.markets"
    data_url: str = "https://data.alpaca.markets"
    # sip: the consolidated tape, whose daily close is the official close research used (the
    # free plan serves it except for its latest 15 minutes). iex: IEX's own last trade.
    feed: Literal["iex", "sip"] = "sip"
    # Every SIP request ends at least this long before the broker's clock (the free plan's
    # delay; 0 for a paid plan).
    sip_delay_minutes: int = Field(default=15, ge=0, le=24 * 60)
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    paper: bool = True
    # A live account needs paper=false AND allow_live=true.
    allow_live: bool = False

    @field_validator("trading_url", "data_url")
    @classmethod
    def _no_userinfo(cls, url: str) -> str:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("needs an http(s) URL")
        if "@" in parts.netloc:
            raise ValueError(
                "must not carry credentials (user:password@host): API keys go in "
                "APCA_API_KEY_ID / APCA_API_SECRET_KEY, never in a URL"
            )
        return url

    @model_validator(mode="after")
    def _live_needs_consent(self) -> AlpacaSettings:
        if not self.paper and not self.allow_live:
            raise ValueError("paper = false needs allow_live = true (live trading is opt-in)")
        return self


class DaemonSettings(_Model):
    config: Path = Path("kalman_prod_config.json")
    state_dir: Path = Path("state")
    go_live: date | None = None
    dry_run: bool = False
    log_format: Literal["json", "console"] = "json"
    broker: BrokerSettings = BrokerSettings()
    data: DataSettings = DataSettings()
    risk: RiskSettings = RiskSettings()
    integrity: IntegritySettings = IntegritySettings()
    schedule: ScheduleSettings = ScheduleSettings()
    clock: ClockSettings = ClockSettings()
    alpaca: AlpacaSettings = AlpacaSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    health: HealthSettings = HealthSettings()
    promotion: PromotionSettings = PromotionSettings()
    handover: HandoverSettings = HandoverSettings()
    # Where these settings came from (a path, or the embedded default); not a TOML key.
    source: str = Field(default=EMBEDDED_SOURCE, exclude=True)

    @model_validator(mode="after")
    def _csv_needs_path(self) -> DaemonSettings:
        if self.data.feed == "csv" and self.data.csv_path is None:
            raise ValueError("data.feed = 'csv' needs data.csv_path")
        return self

    def kill_switch_engaged(self) -> str | None:
        """Why trading is halted, or None. Reads the file system (the switch file)."""
        if self.risk.kill_switch:
            return "risk.kill_switch = true"
        path = self.risk.kill_switch_file
        if path is not None and path.exists():
            return f"kill switch file {path} exists"
        return None


def _find_secret_keys(table: dict[str, Any], prefix: str = "") -> list[str]:
    found = []
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            found += _find_secret_keys(value, dotted + ".")
        elif _SECRET_KEY.search(key):
            found.append(dotted)
    return found


def _resolve(path: Path | None, base: Path) -> Path | None:
    if path is None:
        return None
    path = path.expanduser()
    return path if path.is_absolute() else base / path


def _resolve_paths(settings: DaemonSettings, base: Path) -> DaemonSettings:
    data = settings.data.model_copy(
        update={
            "csv_path": _resolve(settings.data.csv_path, base),
            "events_csv": _resolve(settings.data.events_csv, base),
        }
    )
    risk = settings.risk.model_copy(
        update={"kill_switch_file": _resolve(settings.risk.kill_switch_file, base)}
    )
    return settings.model_copy(
        update={
            "config": _resolve(settings.config, base),
            "state_dir": _resolve(settings.state_dir, base),
            "data": data,
            "risk": risk,
        }
    )


def parse_settings(text: str, source: str, base_dir: Path) -> DaemonSettings:
    """Validate settings TOML; errors name ``source`` and the dotted key."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})", source=source) from None
    secrets = _find_secret_keys(table)
    if secrets:
        raise ConfigError(
            "secrets are never read from the settings file; remove the key and set "
            "APCA_API_KEY_ID / APCA_API_SECRET_KEY in the environment or via systemd "
            "LoadCredential",
            key=secrets[0],
            source=source,
        )
    try:
        settings = DaemonSettings.model_validate({**table, "source": source})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "<root>"
        if first["type"] == "extra_forbidden":
            message = "is not a known setting (typo?); see configs/daemon.toml"
        else:
            message = first["msg"]
            if "@" not in str(first.get("input")):  # never echo a URL's credentials
                message += f" (got {first.get('input')!r})"
        raise ConfigError(message, key=key, source=source) from None
    return _resolve_paths(settings, base_dir)


def load_settings(
    path: Path | str | None = None, *, base_dir: Path | None = None
) -> DaemonSettings:
    """Settings from ``path``, or the embedded default (relative paths against ``base_dir``,
    the working directory by default) when ``path`` is None."""
    if path is None:
        return parse_settings(EMBEDDED_DEFAULT_TOML, EMBEDDED_SOURCE, base_dir or Path.cwd())
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "settings file not found; pass --settings with an existing file "
            "(configs/daemon.toml is a documented example)",
            source=str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read settings file ({exc})", source=str(path)) from None
    return parse_settings(text, str(path), base_dir or path.resolve().parent)
