"""``kalman_prod_config.json``: the contract between research and the daemon (docs/artifacts.md).

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
from shared.schema import ACCOUNT_SPECS, ParamSpec, threshold_violation
from shared.strategy import PARAM_NAMES, PARAM_SPECS, Pair, StrategyParams

# 2 adds each pair's formation ``half_life``; a version-1 config (without it) still loads, and
# the daemon's pair health then reports the formation half-life as unknown.
SCHEMA_VERSION: Literal[2] = 2
SCHEMA_VERSIONS = (1, 2)
SEED_NOTE = "Auto-generated from 02_kalman_optimization.ipynb"
# A hedge ratio beyond this is a screen or hand-editing error, not a market relation (the
# parameters' own bounds are declared with StrategyParams and ACCOUNT_SPECS).
MAX_HEDGE_RATIO = 1e4


def _spec_field(spec: ParamSpec) -> Any:
    return Field(**spec.bounds())


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
    # Schema 2: the half-life (sessions) of the pair's Engle-Granger spread over the formation
    # window (shared.health.spread_half_life); null when unknown or not mean-reverting.
    half_life: float | None = Field(default=None, gt=0, allow_inf_nan=False)

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
    # (types and bounds from StrategyParams' declarations; a test checks every one is here)
    window: int = _spec_field(PARAM_SPECS["window"])
    entry_z: float = _spec_field(PARAM_SPECS["entry_z"])
    exit_z: float = _spec_field(PARAM_SPECS["exit_z"])
    stop_z: float = _spec_field(PARAM_SPECS["stop_z"])
    stake: int = _spec_field(PARAM_SPECS["stake"])
    long_only: bool = _spec_field(PARAM_SPECS["long_only"])
    delta: float = _spec_field(PARAM_SPECS["delta"])
    R: float = _spec_field(PARAM_SPECS["R"])
    initial_cash: float = _spec_field(ACCOUNT_SPECS["initial_cash"])
    commission: float = _spec_field(ACCOUNT_SPECS["commission"])
    note: str = SEED_NOTE
    # --- what the daemon needs on top ---
    schema_version: Literal[1, 2] = SCHEMA_VERSION
    pairs: tuple[PairConfig, ...] = Field(min_length=1)
    data: DataWindow
    selection_metrics: dict[str, float | int | None] = Field(default_factory=dict)
    provenance: Provenance = Field(default_factory=Provenance)

    @model_validator(mode="after")
    def _fields_of_its_version(self) -> ProdConfig:
        if self.schema_version < 2:
            for k, p in enumerate(self.pairs):
                if p.half_life is not None:
                    raise ValueError(
                        f"pairs.{k}.half_life needs schema_version 2 (this config says "
                        f"{self.schema_version}); set schema_version to 2 or drop the key"
                    )
        return self

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> ProdConfig:
        violation = threshold_violation(self.params_dict())
        if violation:
            lower, upper = violation
            raise ValueError(
                f"{lower} ({getattr(self, lower)}) must be below {upper} ({getattr(self, upper)})"
            )
        return self

    def params_dict(self) -> dict[str, Any]:
        """The strategy parameters by name."""
        return {name: getattr(self, name) for name in PARAM_NAMES}

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
        return StrategyParams(**self.params_dict())

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
            include={*PARAM_NAMES, *ACCOUNT_SPECS},
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
