"""Walk-forward pictures (PNG, matplotlib's Agg backend).

* ``walkforward_equity.png``: the stitched out-of-sample equity, a shaded band per fold and a
  line at every fold boundary, the drawdown underneath; with ``--handover`` also the one
  account that hands over at each refit (:mod:`research.evaluation.lifecycle`).
* ``walkforward_is_vs_oos.png``: every config's in-sample Sharpe (train) against its
  out-of-sample Sharpe (test), one colour per fold, the chosen configs circled; a cloud without
  slope says the grid's ranking does not carry over.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from research.evaluation.lifecycle import LifecycleRun
from research.evaluation.walkforward import WalkForwardResult

ANNUALIZE = math.sqrt(252)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_walkforward_equity(
    result: WalkForwardResult, path: Path, lifecycle: LifecycleRun | None = None
) -> Path:
    dates = result.oos_dates
    equity = result.oos_equity
    peak = np.maximum.accumulate(equity)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot(dates, equity, color="tab:blue", lw=1.2, label="out-of-sample equity (chained)")
    if lifecycle is not None:
        label = f"one account, hand-over rule {lifecycle.rule}"
        top.plot(lifecycle.oos_dates, lifecycle.oos_values, color="tab:orange", lw=1.0, label=label)
    for fold in result.folds:
        first, last = fold.test_dates[0], fold.test_dates[-1]
        if fold.fold.index % 2:
            top.axvspan(first, last, color="0.92", lw=0)
        top.axvline(first, color="0.5", lw=0.7, ls="--")
        sharpe = fold.oos_metrics.sharpe_ratio if fold.oos_metrics else None
        label = "flat" if sharpe is None else f"{sharpe * ANNUALIZE:+.1f}"
        top.annotate(
            label,
            (first, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -3),
            textcoords="offset points",
            va="top",
            fontsize=7,
            color="0.3",
        )
    top.axhline(result.initial_cash, color="0.6", lw=0.6)
    top.set_ylabel("value")
    top.set_title(
        f"Walk-forward ({'anchored' if result.anchored else 'rolling'}, train {result.train}, "
        f"test {result.test}): {len(result.folds)} folds, annualized OOS Sharpe per fold on top"
    )
    top.legend(loc="lower left", fontsize=8)
    bottom.fill_between(dates, 100 * (equity - peak) / peak, 0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown %")
    return _save(fig, path)


def plot_is_vs_oos_sharpe(result: WalkForwardResult, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 6))
    colours = plt.get_cmap("viridis")(np.linspace(0, 1, max(len(result.folds), 2)))
    for fold, colour in zip(result.folds, colours, strict=False):
        if fold.chosen is None:
            continue
        is_sr = np.nan_to_num(fold.is_sharpes, nan=0.0) * ANNUALIZE
        oos_sr = fold.oos_sharpes * ANNUALIZE  # NaN where a config was not traded OOS
        ax.scatter(is_sr, oos_sr, s=12, color=colour, alpha=0.6, label=f"fold {fold.fold.index}")
        chosen_oos = fold.oos_metrics.sharpe_ratio if fold.oos_metrics else None
        ax.scatter(
            [is_sr[fold.chosen]],
            [0.0 if chosen_oos is None else chosen_oos * ANNUALIZE],
            s=90,
            facecolors="none",
            edgecolors="red",
            lw=1.5,
        )
    ax.axhline(0, color="0.6", lw=0.6)
    ax.axvline(0, color="0.6", lw=0.6)
    ax.set_xlabel("in-sample Sharpe (train, annualized)")
    ax.set_ylabel("out-of-sample Sharpe (test, annualized)")
    ax.set_title("Each config, in-sample vs out-of-sample (red: the config chosen on train)")
    if len(result.folds) <= 12:
        ax.legend(fontsize=7, loc="best")
    return _save(fig, path)
