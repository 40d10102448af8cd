"""The parameter grid of the optimization: the seed's by default, or one loaded from a file.

A grid file (JSON or TOML) gives each axis as a list, e.g.::

    window = [45, 60, 90]
    entry_z = [2.0, 2.5]
    exit_z = [0.5]
    stop_z = [3.5, 4.0]
    stake = [25, 50, 75]
    long_only = [false, true]
    delta = 1e-5          # scalar or list
    R = 0.001             # scalar or list
    initial_cash = 100000.0
    commission = 0.0005

Omitted keys take the seed's values. Configurations are enumerated exactly like the seed's
``itertools.product(window, entry_z, exit_z, stop_z, stake, long_only)`` (then delta, R), so
the grid order, which breaks ranking ties, is the seed's.
"""

from __future__ import annotations

import itertools
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.errors import ConfigError
from shared.schema import ACCOUNT_SPECS, THRESHOLD_ORDER, ParamSpec
from shared.strategy import PARAM_NAMES, PARAM_SPECS, StrategyParams

# The axes are the strategy's parameters, in their declaration order (the seed's product order).
AXES: tuple[str, ...] = PARAM_NAMES
SCALARS: tuple[str, ...] = tuple(ACCOUNT_SPECS)
SCALAR_OR_LIST: tuple[str, ...] = ("delta", "R")  # axes a grid file may give as one number


@dataclass(frozen=True)
class Grid:
    """One tuple of values per axis (``AXES``, the strategy's parameters) and the account's
    scalars (``SCALARS``); the fields must match those names (a test checks it)."""

    window: tuple[int, ...] = (45, 60, 90)
    entry_z: tuple[float, ...] = (2.0, 2.5)
    exit_z: tuple[float, ...] = (0.5,)
    stop_z: tuple[float, ...] = (3.5, 4.0)
    stake: tuple[int, ...] = (25, 50, 75)
    long_only: tuple[bool, ...] = (False, True)
    delta: tuple[float, ...] = (1e-5,)
    R: tuple[float, ...] = (0.001,)
    initial_cash: float = 100_000.0
    commission: float = 0.0005

    def params(self) -> list[StrategyParams]:
        """Every configuration, in the seed's ``itertools.product`` order."""
        axes = [getattr(self, a) for a in AXES]
        return [
            StrategyParams(**dict(zip(AXES, combo, strict=True)))
            for combo in itertools.product(*axes)
        ]

    @property
    def size(self) -> int:
        return math.prod(len(getattr(self, a)) for a in AXES)

    def as_dict(self) -> dict[str, list[Any]]:
        """The axes (and cash/commission as one-element lists) for the config's provenance."""
        out: dict[str, list[Any]] = {a: list(getattr(self, a)) for a in AXES}
        out.update({s: [getattr(self, s)] for s in SCALARS})
        return out


SEED_GRID = Grid()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_SPECS: dict[str, ParamSpec] = {**PARAM_SPECS, **ACCOUNT_SPECS}


def grid_from_mapping(raw: Mapping[str, Any], source: str = "grid") -> Grid:
    """Validate a grid given as a mapping; errors name ``source`` and the key."""
    unknown = sorted(set(raw) - set(AXES) - set(SCALARS))
    if unknown:
        raise ConfigError(
            f"is not a grid key; known keys: {', '.join((*AXES, *SCALARS))}",
            key=unknown[0],
            source=source,
        )
    values: dict[str, Any] = {}
    for key, value in raw.items():
        spec = _SPECS[key]
        wanted = spec.describe()
        if key in SCALARS:
            if not spec.accepts(value):
                raise ConfigError(f"must be {wanted} (got {value!r})", key=key, source=source)
            values[key] = float(value)
            continue
        items = value if isinstance(value, list) else [value] if key in SCALAR_OR_LIST else None
        if not items:
            raise ConfigError(f"must be a non-empty list (got {value!r})", key=key, source=source)
        bad = [v for v in items if not spec.accepts(v)]
        if bad:
            raise ConfigError(
                f"each value must be {wanted} (got {bad[0]!r})", key=key, source=source
            )
        values[key] = tuple(v if _is_int(v) or isinstance(v, bool) else float(v) for v in items)
    grid = Grid(**values)
    _check_thresholds(grid, source)
    return grid


def _check_thresholds(grid: Grid, source: str) -> None:
    """The thresholds increase (``THRESHOLD_ORDER``) for every combination: the production
    config demands it."""
    for lower, upper in itertools.pairwise(THRESHOLD_ORDER):
        highest, lowest = max(getattr(grid, lower)), min(getattr(grid, upper))
        if highest >= lowest:
            raise ConfigError(
                f"every {lower} must be below every {upper} ({lower} {highest} >= "
                f"{upper} {lowest})",
                key=lower,
                source=source,
            )


def load_grid(path: str | Path) -> Grid:
    """Read a grid from a ``.json`` or ``.toml`` file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            "grid file not found; pass an existing JSON or TOML file", source=str(path)
        )
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            raw: Any = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            raw = json.loads(text)
        else:
            raise ConfigError("grid file must end in .json or .toml", source=str(path))
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot parse the grid file: {exc}", source=str(path)) from None
    if not isinstance(raw, dict):
        raise ConfigError("expected a table/object of axes at the top level", source=str(path))
    return grid_from_mapping(raw, source=str(path))
