"""``walkforward --handover drain|close``: the folds' configs as one account that lives.

Each fold with pairs yields the production config that research run on the fold's train window
would emit (the ``optimize`` builder, data window = the train window, so its ``config_id`` and
``data.first_session`` are what a daemon deploying it would see). The account hands over to it
on the fold's first test session (:mod:`research.evaluation.lifecycle`). Writes under
``reports/``::

    walkforward_configs/fold_NN.json        each fold's config (folds without pairs have none)
    walkforward_handover.csv                fold, date, action, pair, detail: every hand-over's plan
    walkforward_lifecycle_fills.csv         date, symbol, quantity, price, commission
    walkforward_lifecycle_equity.csv        date, fold, return, equity of the one account
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from research.data.market_data import align_closes, pair_symbols
from research.evaluation.lifecycle import (
    Deployment,
    LifecycleRun,
    deployment_of_config,
    require_priced,
    run_lifecycle,
)
from research.evaluation.walkforward import FoldResult, WalkForwardResult
from research.search.grid import Grid
from research.search.optimize import build_config, result_row
from shared.config import ProdConfig, dump_config
from shared.handover import HandoverRule

CONFIGS_DIR = "walkforward_configs"


def fold_config(
    prices: pd.DataFrame,
    fold: FoldResult,
    selected: pd.DataFrame,
    grid: Grid,
    *,
    engine: str,
    source: str,
    sha256: str,
) -> ProdConfig:
    """The config research would write on ``fold``'s train window: its pairs (``selected``, the
    screen's table of them) and the config it chose there, with its train metrics and evidence."""
    assert fold.chosen is not None and fold.is_metrics is not None
    train = prices.iloc[fold.fold.train_start : fold.fold.test_start]
    data = align_closes(train, pair_symbols(fold.pairs))
    params = grid.params()[fold.chosen]
    best = pd.Series(result_row(params, fold.is_metrics.as_dict()))
    return build_config(
        best,
        selected,
        data,
        grid,
        engine=engine,
        source=source,
        sha256=sha256,
        evidence=fold.evidence or None,
    )


def lifecycle_of(
    prices: pd.DataFrame,
    result: WalkForwardResult,
    configs: Mapping[int, ProdConfig],
    rule: HandoverRule,
    commission: float,
) -> LifecycleRun:
    """The account that deploys each fold's config on the fold's first test session."""
    deployments: list[Deployment] = [
        deployment_of_config(f.fold.index, f.test_dates[0], configs[f.fold.index])
        for f in result.folds
        if f.fold.index in configs
    ]
    return run_lifecycle(
        prices,
        deployments,
        rule,
        oos_first=result.oos_dates[0],
        oos_last=result.oos_dates[-1],
        initial_cash=result.initial_cash,
        commission=commission,
    )


class PricedCheck:
    """A per-fold progress hook that refuses a traded ticker with gaps as soon as its fold ran,
    not after the whole walk-forward (the lifecycle needs it priced from the first warm-up)."""

    def __init__(self, prices: pd.DataFrame) -> None:
        self.prices = prices
        self.first: pd.Timestamp | None = None

    def __call__(self, fold: FoldResult) -> None:
        if not fold.pairs:
            return
        self.first = self.first or pd.Timestamp(fold.train_dates[0])
        require_priced(self.prices, pair_symbols(fold.pairs), self.first, fold.test_dates[-1])


def idle_folds(result: WalkForwardResult) -> list[tuple[int, pd.Timestamp]]:
    return [(f.fold.index, f.test_dates[0]) for f in result.folds if f.chosen is None]


def summary_of(run: LifecycleRun, result: WalkForwardResult) -> dict[str, Any]:
    """The lifecycle's figures for the summary JSON (the stitched ones stay as they are)."""
    seed, quoted = run.metrics()
    return {
        "handover": run.rule,
        "lifecycle_sharpe_daily": seed.sharpe_ratio,
        "lifecycle_sharpe_annualized": quoted.sharpe_annualized,
        "lifecycle_total_return": seed.total_return,
        "lifecycle_max_dd_pct": seed.max_dd_pct,
        "lifecycle_total_trades": seed.total_trades,
        "lifecycle_final_value": seed.final_value,
        "lifecycle_rejected_orders": len(run.result.rejections),
        "lifecycle_quoted": quoted.as_dict(),
        "handover_actions": run.action_counts(),
        "folds_without_config": len(idle_folds(result)),
    }


def write_handover_reports(
    run: LifecycleRun,
    result: WalkForwardResult,
    configs: Mapping[int, ProdConfig],
    out: Path,
) -> None:
    folder = out / CONFIGS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for index, config in configs.items():
        (folder / f"fold_{index:02d}.json").write_text(dump_config(config), encoding="utf-8")
    columns = ["fold", "date", "action", "pair", "detail"]
    plan = pd.DataFrame(run.plan_rows(idle_folds(result)), columns=columns)
    plan.to_csv(out / "walkforward_handover.csv", index=False)
    fills = pd.DataFrame(
        run.fill_rows(), columns=["date", "symbol", "quantity", "price", "commission"]
    )
    fills.to_csv(out / "walkforward_lifecycle_fills.csv", index=False)
    pd.DataFrame(
        {
            "date": run.oos_dates.strftime("%Y-%m-%d"),
            "fold": _fold_of(run.oos_dates, result),
            "return": run.oos_returns,
            "equity": run.oos_values,
        }
    ).to_csv(out / "walkforward_lifecycle_equity.csv", index=False)


def _fold_of(dates: pd.DatetimeIndex, result: WalkForwardResult) -> Sequence[int]:
    """The fold whose test window holds each session (the folds tile the OOS span)."""
    firsts = pd.DatetimeIndex([f.test_dates[0] for f in result.folds])
    return [result.folds[k].fold.index for k in firsts.searchsorted(dates, side="right") - 1]
