"""Promotion gates: whether a candidate config is good enough to hand the account to (pure).

Each gate reads one figure research recorded in the config (``provenance.evidence``,
``selection_metrics``, ``data``) and compares it with ``[promotion]``. A figure the config does
not have fails its gate with what to run to measure it: a check that passes on missing
evidence would pass anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.config import ProdConfig


@dataclass(frozen=True, slots=True)
class GateResult:
    gate: str
    value: float | None
    threshold: float
    passed: bool
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "value": self.value,
            "threshold": self.threshold,
            "passed": self.passed,
            "note": self.note,
        }


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _gate(
    name: str, value: float | None, threshold: float, at_least: bool, missing: str
) -> GateResult:
    if value is None:
        return GateResult(name, None, threshold, False, f"not measured: {missing}")
    passed = value >= threshold if at_least else value <= threshold
    return GateResult(name, value, threshold, passed)


def check_gates(
    config: ProdConfig, thresholds: Mapping[str, float], data_age_sessions: int | None
) -> list[GateResult]:
    """Every gate of ``thresholds`` (the ``[promotion]`` settings by name) on ``config``.
    ``data_age_sessions``: sessions from the config's last research session to the latest
    session the daemon has data for (None when it cannot be told)."""
    evidence = config.provenance.evidence or {}
    walkforward = evidence.get("walkforward") or {}
    rerun = "re-run `pairs-research run` (it records it)"
    return [
        _gate("min_dsr", _number(evidence.get("dsr")), thresholds["min_dsr"], True, rerun),
        _gate("max_pbo", _number(evidence.get("pbo")), thresholds["max_pbo"], False, rerun),
        _gate(
            "min_oos_sharpe",
            _number(walkforward.get("oos_sharpe_daily")),
            thresholds["min_oos_sharpe"],
            True,
            "run `pairs-research walkforward` on the candidate's base directory",
        ),
        _gate(
            "min_trades",
            _number(config.selection_metrics.get("total_trades")),
            thresholds["min_trades"],
            True,
            rerun,
        ),
        _gate(
            "max_data_age_sessions",
            None if data_age_sessions is None else float(data_age_sessions),
            thresholds["max_data_age_sessions"],
            False,
            "the daemon has no data yet to date the candidate against",
        ),
    ]


def gates_table(results: list[GateResult]) -> str:
    """The gates as a plain-text table (the deploy command prints it)."""
    rows = [("gate", "value", "threshold", "result")]
    for r in results:
        value = "-" if r.value is None else f"{r.value:.4g}"
        verdict = "pass" if r.passed else "FAIL" + (f" ({r.note})" if r.note else "")
        rows.append((r.gate, value, f"{r.threshold:g}", verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        for row in rows
    )
