"""``kalman_prod_config.json``: the contract between research and the daemon (DESIGN.md §4).

It keeps every key the seed writes (``window, entry_z, exit_z, stop_z, stake, long_only, delta,
R, initial_cash, commission, note``) and adds what the daemon needs to reproduce the research
path exactly: the pairs with their screen statistics, the data window the config was fitted on,
the selection metrics and provenance. The model is frozen and strict: unknown keys, missing keys
and out-of-range values fail with an error that names the key. Reading and writing files is the
callers' job (this package does no I/O); use :func:`parse_config` / :func:`dump_config`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.errors import ConfigError
from shared.strategy import Pair, StrategyParams

SCHEMA_VERSION: Literal[1] = 1
SEED_NOTE = "Auto-generated from 02_kalman_optimization.ipynb"
# Bounds that catch absurd values before they become orders: a stake is a share count per
# trade, cash a paper account's size.
MAX_HEDGE_RATIO = 1e4
MAX_STAKE = 1_000_000
MAX_INITIAL_CASH = 1e12


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class PairConfig(_Frozen):
    asset_1: str = Field(min_length=1)
    asset_2: str = Field(min_length=1)
    # |hedge_ratio| above 1e4 is no screen's output; int(beta*stake) would overflow an order.
    hedge_ratio: float = Field(allow_inf_nan=False, ge=-MAX_HEDGE_RATIO, le=MAX_HEDGE_RATIO)
    # The screen's statistics, kept for the record (optional for hand-written configs).
    corr: float | None = None
    pvalue: float | None = Field(default=None, ge=0, le=1)
    coint_t: float | None = None
    crit_1pct: float | None = None
    crit_5pct: float | None = None
    crit_10pct: float | None = None
    intercept: float | None = None
    n_obs: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _distinct_assets(self) -> PairConfig:
        if self.asset_1 == self.asset_2:
            raise ValueError(f"asset_1 and asset_2 are both '{self.asset_1}'")
        return self

    def to_pair(self) -> Pair:
        return Pair(self.asset_1, self.asset_2, self.hedge_ratio)


class DataWindow(_Frozen):
    """The bars the config was fitted on: the daemon warms up from ``first_session``."""

    first_session: date
    last_session: date
    n_sessions: int = Field(ge=1)
    source: str = "unknown"
    sha256: str | None = None  # hash of the cleaned input prices

    @model_validator(mode="after")
    def _ordered(self) -> DataWindow:
        if self.last_session < self.first_session:
            raise ValueError("last_session is before first_session")
        return self


class Provenance(_Frozen):
    generated_at: datetime | None = None
    tool: str = "kalman-pairs"
    tool_version: str | None = None
    grid: dict[str, list[Any]] | None = None
    grid_size: int | None = None
    engine: str | None = None
    # Selection-corrected evidence (walk-forward, DSR, PBO) is recorded here when computed.
    evidence: dict[str, Any] | None = None


class ProdConfig(_Frozen):
    # --- the seed's keys, unchanged ---
    window: int = Field(ge=2, le=10_000)
    entry_z: float = Field(gt=0, allow_inf_nan=False)
    exit_z: float = Field(ge=0, allow_inf_nan=False)
    stop_z: float = Field(gt=0, allow_inf_nan=False)
    stake: int = Field(ge=1, le=MAX_STAKE)
    long_only: bool
    delta: float = Field(gt=0, lt=1)
    R: float = Field(gt=0, le=1e6, allow_inf_nan=False)
    initial_cash: float = Field(gt=0, le=MAX_INITIAL_CASH, allow_inf_nan=False)
    commission: float = Field(ge=0, lt=1)
    note: str = SEED_NOTE
    # --- what the daemon needs on top ---
    schema_version: Literal[1] = 1
    pairs: tuple[PairConfig, ...] = Field(min_length=1)
    data: DataWindow
    selection_metrics: dict[str, float | int | None] = Field(default_factory=dict)
    provenance: Provenance = Field(default_factory=Provenance)

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> ProdConfig:
        if not self.exit_z < self.entry_z:
            raise ValueError(f"exit_z ({self.exit_z}) must be below entry_z ({self.entry_z})")
        if not self.entry_z < self.stop_z:
            raise ValueError(f"stop_z ({self.stop_z}) must be above entry_z ({self.entry_z})")
        return self

    @model_validator(mode="after")
    def _pairs_independent(self) -> ProdConfig:
        """Each symbol belongs to one pair: positions are per symbol, so two pairs sharing a
        leg would net their orders and each read the other's position as its own."""
        owner: dict[str, str] = {}
        for k, p in enumerate(self.pairs):
            name = f"pairs.{k} ({p.asset_1}/{p.asset_2})"
            for symbol in (p.asset_1, p.asset_2):
                if symbol in owner:
                    kind = "duplicates" if {p.asset_1, p.asset_2} <= owner.keys() else "shares"
                    raise ValueError(
                        f"{name} {kind} {symbol} with {owner[symbol]}; each symbol may "
                        "belong to one pair only (re-run `pairs-research select`)"
                    )
            owner[p.asset_1] = owner[p.asset_2] = name
        return self

    @property
    def params(self) -> StrategyParams:
        return StrategyParams(
            window=self.window,
            entry_z=self.entry_z,
            exit_z=self.exit_z,
            stop_z=self.stop_z,
            stake=self.stake,
            long_only=self.long_only,
            delta=self.delta,
            R=self.R,
        )

    @property
    def pair_list(self) -> list[Pair]:
        return [p.to_pair() for p in self.pairs]

    @property
    def symbols(self) -> list[str]:
        """Tickers in the seed's order: sorted set of both legs of every pair."""
        return sorted({s for p in self.pairs for s in (p.asset_1, p.asset_2)})

    @property
    def config_id(self) -> str:
        """A short, stable id of what decides trades: the parameters, the pairs' legs and
        hedge ratios, and the session the filter warms up from. Labels (note, provenance, the
        data source's name and hash, the screen's statistics) do not change it."""
        decisive = self.model_dump(
            mode="json",
            include={
                "window",
                "entry_z",
                "exit_z",
                "stop_z",
                "stake",
                "long_only",
                "delta",
                "R",
                "initial_cash",
                "commission",
            },
        )
        decisive["pairs"] = [[p.asset_1, p.asset_2, p.hedge_ratio] for p in self.pairs]
        decisive["first_session"] = self.data.first_session.isoformat()
        canonical = json.dumps(decisive, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _error_key(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def parse_config(payload: str | bytes | dict[str, Any], source: str = "config") -> ProdConfig:
    """Validate a config from JSON text or a dict; errors name ``source`` and the key."""
    if isinstance(payload, str | bytes):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
                "regenerate it with `pairs-research optimize` or fix the syntax",
                source=source,
            ) from None
    if not isinstance(payload, dict):
        raise ConfigError("expected a JSON object at the top level", source=source)
    try:
        return ProdConfig.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = _error_key(first["loc"])
        kind = first["type"]
        if kind == "missing":
            message = "is missing; every key the research step writes is required"
        elif kind == "extra_forbidden":
            message = "is not a known key (typo? schema_version mismatch?)"
        elif not first["loc"]:  # a rule across keys: its message names them
            message = str(first["msg"]).removeprefix("Value error, ")
            key = "pairs" if message.startswith("pairs.") else key
        else:
            message = f"{first['msg']} (got {first.get('input')!r})"
        more = len(exc.errors()) - 1
        if more:
            message += f"; and {more} more problem(s)"
        raise ConfigError(message, key=key, source=source) from None


def dump_config(config: ProdConfig) -> str:
    """JSON text with the seed's keys first, indented like the seed's ``json.dump(indent=4)``."""
    return json.dumps(config.model_dump(mode="json"), indent=4) + "\n"
