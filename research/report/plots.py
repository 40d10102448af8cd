"""The research report's pictures (PNG, matplotlib's Agg backend, no display needed).

* ``equity_curve.png``: portfolio value of the chosen config, with its drawdown underneath.
* ``zscore_<A>_<B>.png``: the spread z-score per pair with the ±entry/exit/stop bands and the
  bars where the strategy entered long/short, exited or stopped.
* ``kalman_beta.png``: the Kalman hedge ratio of each pair against the screen's OLS ratio.
* ``sharpe_heatmap.png``: Sharpe over the whole grid (rows: window/entry_z/exit_z, columns:
  stop_z/stake/long_only), best configuration outlined.

The series come from the pure reference backtest (``shared.simulation``), which every engine
equals, so the pictures show exactly what the ranked numbers measured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from research.data.market_data import AlignedCloses
from shared.schema import DEFAULT_ACCOUNT
from shared.simulation import SimulationResult, simulate
from shared.strategy import Action, Pair, StrategyParams

ROW_AXES: tuple[str, ...] = ("window", "entry_z", "exit_z", "delta", "R")
COL_AXES: tuple[str, ...] = ("stop_z", "stake", "long_only")
MARKERS = {
    Action.ENTER_LONG: ("^", "tab:green", "enter long"),
    Action.ENTER_SHORT: ("v", "tab:red", "enter short"),
    Action.EXIT: ("o", "tab:blue", "exit"),
    Action.STOP: ("X", "black", "stop"),
}


@dataclass(frozen=True)
class PairSeries:
    """Per-bar beta and z of one pair (z is NaN while warming up) and its decisions."""

    pair: Pair
    beta: np.ndarray
    z: np.ndarray
    actions: list[Action]


def pair_series(sim: SimulationResult, pairs: Sequence[Pair]) -> list[PairSeries]:
    out = []
    for k, pair in enumerate(pairs):
        decisions = [bar[k] for bar in sim.decisions]
        out.append(
            PairSeries(
                pair=pair,
                beta=np.array([d.beta for d in decisions]),
                z=np.array([np.nan if d.z is None else d.z for d in decisions]),
                actions=[d.action for d in decisions],
            )
        )
    return out


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_equity(dates: pd.DatetimeIndex, values: np.ndarray, title: str, path: Path) -> Path:
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot(dates, values, color="tab:blue", lw=1.2)
    top.axhline(values[0], color="grey", lw=0.8, ls="--")
    top.set_ylabel("portfolio value")
    top.set_title(title)
    top.grid(alpha=0.3)
    peak = np.maximum.accumulate(values)
    bottom.fill_between(dates, -100 * (peak - values) / peak, 0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    return _save(fig, path)


def plot_zscore(
    dates: pd.DatetimeIndex, series: PairSeries, params: StrategyParams, path: Path
) -> Path:
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot(dates, series.z, color="tab:grey", lw=0.9, label="z-score")
    for level, style, name in (
        (params.entry_z, "--", "entry"),
        (params.exit_z, ":", "exit"),
        (params.stop_z, "-.", "stop"),
    ):
        for sign in (1, -1):
            ax.axhline(sign * level, color="tab:purple", ls=style, lw=0.9)
        ax.text(
            1.005,
            level,
            f"±{name} {level:g}",
            transform=ax.get_yaxis_transform(),  # x in axes fraction: right of the plot
            va="center",
            fontsize=8,
            color="tab:purple",
        )
    for action, (marker, color, label) in MARKERS.items():
        idx = [i for i, a in enumerate(series.actions) if a == action]
        if idx:
            ax.scatter(
                dates[idx],
                series.z[idx],
                marker=marker,
                color=color,
                s=40,
                zorder=3,
                label=f"{label} ({len(idx)})",
            )
    ax.set_title(
        f"{series.pair.asset_1}/{series.pair.asset_2} spread z-score (window {params.window})"
    )
    ax.set_ylabel("z")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize=8, ncol=5, frameon=False)
    return _save(fig, path)


def plot_beta(dates: pd.DatetimeIndex, series: Sequence[PairSeries], path: Path) -> Path:
    fig, axes = plt.subplots(len(series), 1, figsize=(11, 3.2 * len(series)), squeeze=False)
    for ax, s in zip(axes[:, 0], series, strict=True):
        ax.plot(dates, s.beta, color="tab:blue", lw=1.1, label="Kalman beta")
        ax.axhline(
            s.pair.hedge_ratio,
            color="tab:orange",
            ls="--",
            lw=1,
            label=f"screen OLS hedge ratio {s.pair.hedge_ratio:.4f} (with intercept)",
        )
        ax.set_title(f"{s.pair.asset_1} ~ beta × {s.pair.asset_2}")
        ax.set_ylabel("beta")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _label(keys: Sequence[str], values: Sequence[object], sep: str) -> str:
    parts = []
    for key, value in zip(keys, values, strict=True):
        if key == "long_only":
            parts.append("long only" if value else "long+short")
        else:
            parts.append(f"{key} {value}")
    return sep.join(parts)


def plot_sharpe_heatmap(results: pd.DataFrame, path: Path) -> Path:
    """Sharpe of every configuration; the axes with a single value are left out of labels."""
    rows = [a for a in ROW_AXES if results[a].nunique() > 1] or ["window"]
    cols = [a for a in COL_AXES if results[a].nunique() > 1] or ["stake"]
    table = results.pivot_table(
        index=rows, columns=cols, values="sharpe_ratio", aggfunc="max", dropna=False
    )
    data = table.to_numpy(dtype=float)
    fig, ax = plt.subplots(
        figsize=(max(6, 1.05 * data.shape[1] + 3), max(3, 0.5 * data.shape[0] + 2))
    )
    limit = np.nanmax(np.abs(data)) if np.isfinite(data).any() else 1.0
    image = ax.imshow(data, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    fig.colorbar(image, ax=ax, label="Sharpe (daily)")
    to_tuple = lambda v: v if isinstance(v, tuple) else (v,)  # noqa: E731
    ax.set_yticks(
        range(len(table.index)), [_label(rows, to_tuple(v), ", ") for v in table.index], fontsize=8
    )
    ax.set_xticks(
        range(len(table.columns)),
        [_label(cols, to_tuple(v), "\n") for v in table.columns],
        fontsize=7,
    )
    if data.size <= 400:
        for (i, j), v in np.ndenumerate(data):
            ax.text(
                j, i, "n/a" if np.isnan(v) else f"{v:.3f}", ha="center", va="center", fontsize=7
            )
    best = results.iloc[results["sharpe_ratio"].fillna(-np.inf).argmax()]
    bi = table.index.get_loc(tuple(best[rows]) if len(rows) > 1 else best[rows[0]])
    bj = table.columns.get_loc(tuple(best[cols]) if len(cols) > 1 else best[cols[0]])
    ax.add_patch(plt.Rectangle((bj - 0.5, bi - 0.5), 1, 1, fill=False, ec="black", lw=2.5))
    ax.set_title("Sharpe ratio over the grid (best outlined)")
    return _save(fig, path)


def write_report_plots(
    data: AlignedCloses,
    pairs: Sequence[Pair],
    params: StrategyParams,
    results: pd.DataFrame | None,
    reports_dir: Path,
    *,
    initial_cash: float = DEFAULT_ACCOUNT.initial_cash,
    commission: float = DEFAULT_ACCOUNT.commission,
) -> list[Path]:
    """Every report picture for the chosen config (and the grid when ``results`` is given)."""
    sim = simulate(data.closes, data.symbols, pairs, params, initial_cash, commission)
    series = pair_series(sim, pairs)
    m = sim.metrics
    sharpe = "n/a" if m.sharpe_ratio is None else f"{m.sharpe_ratio:.4f}"
    title = (
        f"equity: window={params.window} entry_z={params.entry_z} stake={params.stake} "
        f"long_only={params.long_only} | return {100 * m.total_return:.3f}%, Sharpe "
        f"{sharpe}, max DD {m.max_dd_pct:.2f}%, {m.total_trades} trades"
    )
    paths = [plot_equity(data.dates, sim.values, title, reports_dir / "equity_curve.png")]
    for s in series:
        name = f"zscore_{s.pair.asset_1}_{s.pair.asset_2}.png"
        paths.append(plot_zscore(data.dates, s, params, reports_dir / name))
    paths.append(plot_beta(data.dates, series, reports_dir / "kalman_beta.png"))
    if results is not None and "sharpe_ratio" in results.columns and len(results):
        paths.append(plot_sharpe_heatmap(results, reports_dir / "sharpe_heatmap.png"))
    return paths
