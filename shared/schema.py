"""How a parameter is declared once and checked everywhere.

A strategy parameter is declared in one place, as a field of
:class:`shared.strategy.StrategyParams` whose metadata is a :class:`ParamSpec` (its type and
bounds). The grid's axes and value rules, the production config's fields and bounds, the results
table's columns and the compiled engine's columns are all derived from those declarations, so
adding a parameter means: the dataclass field, the step function, the kernels and a test.

The account's two numbers (``initial_cash``, ``commission``) are not strategy parameters but are
declared and checked the same way, defaults included (:class:`AccountParams`, whose defaults are
:data:`DEFAULT_ACCOUNT`); the thresholds' cross-rule (``exit_z < entry_z < stop_z``) is
:data:`THRESHOLD_ORDER`; the cointegration screen's statistics, in the seed's column order, are
:data:`SCREEN_STATISTICS`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any

SPEC_KEY = "spec"  # the key of a ParamSpec in a dataclass field's metadata


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """A parameter's type and bounds (``ge``/``gt`` below, ``le``/``lt`` above; finite numbers)."""

    kind: type  # int, float or bool
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has this parameter's type (an int for a float is fine; a bool is
        never a number) and lies within its bounds."""
        if self.kind is bool:
            return isinstance(value, bool)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        return (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )

    def describe(self) -> str:
        """What a valid value is, completing "must be ...": e.g. ``an integer >= 2``."""
        if self.kind is bool:
            return "true or false"
        noun = "an integer" if self.kind is int else "a number"
        low = (f"{_num(self.ge)}", "[") if self.ge is not None else None
        low = (f"{_num(self.gt)}", "(") if self.gt is not None else low
        high = (f"{_num(self.le)}", "]") if self.le is not None else None
        high = (f"{_num(self.lt)}", ")") if self.lt is not None else high
        if low and high:
            return f"{noun} in {low[1]}{low[0]}, {high[0]}{high[1]}"
        if low:
            return f"{noun} {'>=' if low[1] == '[' else '>'} {low[0]}"
        if high:
            return f"{noun} {'<=' if high[1] == ']' else '<'} {high[0]}"
        return noun

    def bounds(self) -> dict[str, Any]:
        """The bounds as keyword arguments of a pydantic ``Field`` (numbers must be finite)."""
        out: dict[str, Any] = {
            name: getattr(self, name)
            for name in ("ge", "gt", "le", "lt")
            if getattr(self, name) is not None
        }
        if self.kind is float:
            out["allow_inf_nan"] = False
        if self.kind is bool:
            out["strict"] = True  # true or false, as in a grid file: not 1, "yes" or "on"
        return out


def _num(value: float | None) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def param(default: Any, kind: type, **bounds: float) -> Any:
    """A dataclass field declaring a parameter: its default, type and bounds."""
    return field(default=default, metadata={SPEC_KEY: ParamSpec(kind, **bounds)})


def specs_of(fields: tuple[Field[Any], ...]) -> dict[str, ParamSpec]:
    """Name -> spec of every declared field, in declaration order."""
    return {f.name: f.metadata[SPEC_KEY] for f in fields if SPEC_KEY in f.metadata}


# The thresholds must be strictly increasing in this order, in the grid and in the config.
THRESHOLD_ORDER: tuple[str, ...] = ("exit_z", "entry_z", "stop_z")


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountParams:
    """The account the strategy trades (backtrader's broker settings): not strategy parameters,
    but declared the same way, with their default, type and bounds. Every signature that takes
    them defaults to :data:`DEFAULT_ACCOUNT`."""

    initial_cash: float = param(100_000.0, float, gt=0, le=1e12)
    commission: float = param(0.0005, float, ge=0, lt=1)  # a fraction of the traded value


ACCOUNT_SPECS: Mapping[str, ParamSpec] = specs_of(fields(AccountParams))
DEFAULT_ACCOUNT = AccountParams()

# The cointegration screen's per-pair statistics, in the seed's column order (after the pair's
# asset_1, asset_2). The production config keeps them per pair; hedge_ratio is required there.
SCREEN_STATISTICS: tuple[str, ...] = (
    "corr",
    "pvalue",
    "coint_t",
    "crit_1pct",
    "crit_5pct",
    "crit_10pct",
    "hedge_ratio",
    "intercept",
    "n_obs",
)


def threshold_violation(values: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first adjacent pair (lower, upper) of :data:`THRESHOLD_ORDER` whose values are not
    strictly increasing, or None when the order holds."""
    for lower, upper in itertools.pairwise(THRESHOLD_ORDER):
        if not values[lower] < values[upper]:
            return lower, upper
    return None
