"""``--verify N``: re-run N sampled grid configurations on backtrader and compare every metric.

Backtrader is the seed's measurement, so any engine's numbers are only trusted once a sample of
them matches it. The sample is seeded (reproducible). Metrics must agree to a relative 1e-9
(with an absolute floor of 1e-12 for values that are zero up to rounding); an undefined Sharpe
must be undefined on both sides.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import pandas as pd

from research.data.market_data import AlignedCloses
from research.search.grid import Grid
from shared.errors import PairsError
from shared.metrics import METRIC_NAMES
from shared.strategy import Pair

REL_TOL = 1e-9
ABS_TOL = 1e-12
VERIFY_METRICS: tuple[str, ...] = METRIC_NAMES  # every metric is compared


class VerificationError(PairsError):
    """An engine's metrics differ from backtrader's on a sampled configuration."""

    def __init__(self, differences: pd.DataFrame, engine: str):
        self.differences = differences
        super().__init__(
            f"the {engine} engine disagrees with backtrader on {differences['index'].nunique()} "
            f"sampled configuration(s) (relative tolerance {REL_TOL}):\n"
            + differences.to_string(index=False)
            + "\nre-run with `--engine backtrader` for trustworthy results and report the case"
        )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def metrics_agree(a: Any, b: Any) -> bool:
    """Equal within REL_TOL; two missing values (None/NaN Sharpe) agree."""
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=ABS_TOL)


def sample_indices(n_configs: int, n: int, seed: int = 0) -> list[int]:
    """``n`` distinct grid positions (all when n >= n_configs), sorted, reproducible."""
    if n >= n_configs:
        return list(range(n_configs))
    return sorted(random.Random(seed).sample(range(n_configs), n))


def verify_against_backtrader(
    data: AlignedCloses,
    pairs: Sequence[Pair],
    grid: Grid,
    unranked: pd.DataFrame,
    n: int,
    *,
    engine: str = "engine",
    seed: int = 0,
) -> pd.DataFrame:
    """Compare ``n`` sampled rows of ``unranked`` (grid order) with backtrader's metrics.

    Returns one row per compared metric (index, metric, engine, backtrader, agree); raises
    :class:`VerificationError` listing the differing ones.
    """
    from research.backtest.backtrader_engine import BacktraderEngine

    params_list = grid.params()
    picks = sample_indices(len(params_list), n, seed)
    results = BacktraderEngine().run(
        data,
        pairs,
        [params_list[i] for i in picks],
        initial_cash=grid.initial_cash,
        commission=grid.commission,
    )
    rows = []
    for i, result in zip(picks, results, strict=True):
        reference = result.metrics.as_dict()
        for metric in VERIFY_METRICS:
            ours = unranked.iloc[i][metric]
            rows.append(
                {
                    "index": i,
                    "metric": metric,
                    "engine": ours,
                    "backtrader": reference[metric],
                    "agree": metrics_agree(ours, reference[metric]),
                }
            )
    table = pd.DataFrame(rows)
    if not table["agree"].all():
        raise VerificationError(table[~table["agree"]], engine)
    return table
