"""Plan a batch of configs so that work independent of a parameter is done once.

The Kalman path depends only on (pair, delta, R, initial beta) and the z-series only on that
path and the window, so a batch computes each distinct path once and the per-config kernel only
runs the signal state machine, the broker and the metrics over precomputed rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from typing import Any, cast

import numpy as np

from research.backtest.fast import kernels, portfolio_kernel, signal_tables, sweep_kernel
from research.backtest.fast.simd import LANES
from shared.errors import ConfigError
from shared.metrics import METRIC_NAMES, RUN_METRICS, Metrics
from shared.strategy import PARAM_NAMES, PARAM_SPECS, StrategyParams

# Each parameter's column type, from its declared type (``StrategyParams``).
COLUMN_DTYPES: dict[str, type] = {
    name: {int: np.int64, float: np.float64, bool: np.bool_}[spec.kind]
    for name, spec in PARAM_SPECS.items()
}
# The precomputed paths depend on these; the kernel takes the others, the signal's parameters,
# as arguments in the declaration order (a test checks the kernel's signature against it).
PATH_PARAMS: tuple[str, ...] = ("window", "delta", "R")
SIGNAL_PARAMS: tuple[str, ...] = tuple(n for n in PARAM_NAMES if n not in PATH_PARAMS)

# What a lane group reads of each config beyond its signal tables (the sweep kernel's order).
_LANE_PARAMS = ("entry_z", "stake", "long_only")

_param_values = attrgetter(*PARAM_NAMES)

# Passed at run time so LLVM cannot fold ``x**2`` into ``x*x`` (see kernels' docstring).
_TWO = 2.0


@dataclass(frozen=True)
class ConfigBatch:
    """Configs as columns (one row per config): what a sweep builds without Python objects.
    One field per strategy parameter, in ``PARAM_NAMES`` order (a test checks it)."""

    window: np.ndarray  # int64
    entry_z: np.ndarray
    exit_z: np.ndarray
    stop_z: np.ndarray
    stake: np.ndarray  # int64
    long_only: np.ndarray  # bool
    delta: np.ndarray
    R: np.ndarray

    def __len__(self) -> int:
        return int(self.window.shape[0])

    @classmethod
    def from_params(cls, params_list: Sequence[StrategyParams]) -> ConfigBatch:
        rows = list(map(_param_values, params_list))  # one tuple per config, then columns
        columns = zip(*rows, strict=True) if rows else ([] for _ in PARAM_NAMES)
        return cls.build(
            **{
                name: np.array(column, dtype=COLUMN_DTYPES[name])
                for name, column in zip(PARAM_NAMES, columns, strict=True)
            }
        )

    @classmethod
    def build(cls, **columns: np.ndarray) -> ConfigBatch:
        batch = cls(**{k: np.ascontiguousarray(v) for k, v in columns.items()})
        batch.validate()
        return batch

    def validate(self) -> None:
        if len(self) and int(self.window.min()) < 1:
            raise ConfigError("must be a positive number of bars", key="window")
        for key in ("delta",):
            values = getattr(self, key)
            if len(self) and (values.min() < 0 or values.max() >= 1):
                raise ConfigError("must be in [0, 1)", key=key)


@dataclass(frozen=True)
class Portfolio:
    """The pairs of one portfolio as column indices into a closes matrix."""

    closes: np.ndarray  # (bars, symbols), C-contiguous float64
    leg_a: np.ndarray  # int64 column of each pair's asset_1
    leg_b: np.ndarray
    hedge_ratio: np.ndarray  # float64 initial beta of each pair


@dataclass(frozen=True)
class PathTables:
    betas: np.ndarray  # (rows, bars)
    zs: np.ndarray  # (rows, bars), NaN where the strategy skips the bar
    beta_rows: np.ndarray  # (configs, pairs) int64
    z_rows: np.ndarray


@lru_cache(maxsize=256)
def sum_program(n: int) -> np.ndarray:
    """``kernels.sum_program``, built once per length."""
    program = kernels.sum_program(n)
    program.setflags(write=False)
    return program


def _factorize(keys: Iterable[tuple[Any, ...]]) -> tuple[list[tuple[Any, ...]], np.ndarray]:
    """(distinct keys in first-seen order, each key's position among them)."""
    positions: dict[tuple[Any, ...], int] = {}
    index = [positions.setdefault(key, len(positions)) for key in keys]
    return list(positions), np.array(index, dtype=np.int64)


@dataclass(frozen=True)
class PathLayout:
    """The distinct (delta, R) and (Kalman path, window) keys of a batch and each config's
    position among them: a function of the batch alone, so a sweep task plans it once for
    all its pairs."""

    kalman_keys: list[tuple[Any, ...]]
    kalman_index: np.ndarray
    z_keys: list[tuple[Any, ...]]
    z_index: np.ndarray


def path_layout(batch: ConfigBatch) -> PathLayout:
    kalman_keys, kalman_index = _factorize(zip(batch.delta.tolist(), batch.R.tolist(), strict=True))
    z_keys, z_index = _factorize(zip(kalman_index.tolist(), batch.window.tolist(), strict=True))
    return PathLayout(kalman_keys, kalman_index, z_keys, z_index)


def build_paths(
    portfolio: Portfolio, batch: ConfigBatch, layout: PathLayout | None = None
) -> PathTables:
    """Each distinct (delta, R) Kalman path and (delta, R, window) z-series, once per pair;
    ``layout`` is ``path_layout(batch)`` when the caller already has it."""
    n_bars = portfolio.closes.shape[0]
    n_pairs = portfolio.leg_a.shape[0]
    if layout is None:
        layout = path_layout(batch)
    kalman_keys, kalman_index = layout.kalman_keys, layout.kalman_index
    z_keys, z_index = layout.z_keys, layout.z_index
    betas = np.empty((len(kalman_keys) * n_pairs, n_bars))
    spreads = np.empty_like(betas)
    for i, (delta, R) in enumerate(kalman_keys):
        for k in range(n_pairs):
            kernels.kalman_path(
                portfolio.closes[:, portfolio.leg_a[k]].copy(),
                portfolio.closes[:, portfolio.leg_b[k]].copy(),
                float(portfolio.hedge_ratio[k]),
                float(delta),
                float(R),
                _TWO,
                betas[i * n_pairs + k],
                spreads[i * n_pairs + k],
            )
    zs = np.empty((len(z_keys) * n_pairs, n_bars))
    for j, (kalman_row, window) in enumerate(z_keys):
        for k in range(n_pairs):
            kernels.zscore_path(
                spreads[kalman_row * n_pairs + k],
                int(window),
                sum_program(int(window)),
                zs[j * n_pairs + k],
            )
    pair_offsets = np.arange(n_pairs, dtype=np.int64)
    beta_rows = kalman_index[:, None] * n_pairs + pair_offsets
    z_rows = z_index[:, None] * n_pairs + pair_offsets
    return PathTables(betas, zs, beta_rows, z_rows)


@dataclass(frozen=True)
class KernelOutput:
    metrics: np.ndarray  # (configs, portfolio_kernel.N_METRICS)
    fill_counts: np.ndarray  # of each config in a detail run, or of a portfolio's configs
    values: np.ndarray  # (1, bars) in detail runs, else (0, bars)
    fills: np.ndarray  # (n, 5): bar, symbol column, signed size, price, commission


def run_batch(
    portfolio: Portfolio,
    batch: ConfigBatch,
    paths: PathTables,
    *,
    initial_cash: float,
    commission: float,
    detail: bool = False,
    plan: SlicePlan | None = None,
) -> KernelOutput:
    """Run the kernel on ``batch``; ``detail`` (one config only) also records fills/values.
    ``plan``: ``plan_slice(batch)`` when the caller has it (its lane groups and signal tables
    are the ones a single pair's paths give)."""
    n_cfg = len(batch)
    n_bars = portfolio.closes.shape[0]
    if detail and n_cfg != 1:
        raise ValueError("a detail run takes exactly one config")
    metrics = np.empty((n_cfg, portfolio_kernel.N_METRICS))
    fill_counts = np.zeros(n_cfg, dtype=np.int64)
    values = np.empty((1 if detail else 0, n_bars))
    # At most two orders per pair per bar, each filled at most once.
    fills = np.empty((2 * portfolio.leg_a.shape[0] * n_bars if detail else 0, 5))
    signal = [getattr(batch, name).astype(COLUMN_DTYPES[name]) for name in SIGNAL_PARAMS]
    one_pair = portfolio.leg_a.shape[0] == 1 and portfolio.closes.shape[1] == 2
    if not one_pair or detail:
        lanes = np.empty((0, LANES), dtype=np.int64)
        tables = signal_tables.table_layout(batch.entry_z[:0], batch.exit_z[:0], batch.stop_z[:0])
    elif plan is not None:
        lanes, tables = plan.lanes, (plan.table_kinds, plan.table_levels, plan.table_rows)
    else:
        lanes = lane_groups(paths.beta_rows[:, 0], paths.z_rows[:, 0], batch)
        tables = signal_tables.table_layout(batch.entry_z, batch.exit_z, batch.stop_z)
    args: list[Any] = [
        *(portfolio.closes, portfolio.leg_a, portfolio.leg_b),
        *(paths.betas, paths.zs, paths.beta_rows, paths.z_rows),
        *signal,  # entry_z, exit_z, stop_z, stake, long_only: the kernel's order
        lanes,
        *tables,
        *(float(initial_cash), float(commission), sum_program(n_bars)),
        *(metrics, values, fills, fill_counts),
    ]
    portfolio_kernel.run_configs(*args)
    used = int(fill_counts[0]) if detail else 0
    return KernelOutput(metrics, fill_counts, values, fills[:used])


def lane_groups(beta_rows: np.ndarray, z_rows: np.ndarray, batch: ConfigBatch) -> np.ndarray:
    """The batch's configs of a single pair in lane groups (``lane_kernel.run_group``): rows
    of up to ``LANES`` configs with the same path rows (config ``c`` reads ``beta_rows[c]``,
    ``z_rows[c]``), thresholds and side, -1 after a group's last config. Only the stake
    differs within a group; a group's configs are in config order, the groups in key order."""
    n = len(batch)
    keys = np.column_stack(
        [beta_rows, z_rows, batch.entry_z, batch.exit_z, batch.stop_z, batch.long_only]
    ).astype(np.float64)
    order = np.lexsort(keys.T[::-1])  # stable: equal keys stay in config order
    ordered = keys[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)  # NaN keys: a group each
    first = np.flatnonzero(starts)
    position = np.arange(n) - np.repeat(first, np.diff(np.append(first, n)))
    chunk_starts = starts | (position % LANES == 0)
    row = np.cumsum(chunk_starts) - 1
    lanes = np.full((int(row[-1]) + 1 if n else 0, LANES), -1, dtype=np.int64)
    lanes[row, position % LANES] = order
    return lanes


@dataclass(frozen=True)
class SlicePlan:
    """What every pair of a sweep task shares: the configs' signal columns, the path keys and
    the z windows' summation programs (a function of the grid slice alone)."""

    batch: ConfigBatch
    layout: PathLayout
    kalman_delta: np.ndarray
    kalman_R: np.ndarray
    z_kalman: np.ndarray
    z_window: np.ndarray
    lanes: np.ndarray  # lane_groups of the batch
    table_kinds: np.ndarray  # signal_tables.table_layout of its thresholds
    table_levels: np.ndarray
    table_rows: np.ndarray


def plan_slice(batch: ConfigBatch) -> SlicePlan:
    layout = path_layout(batch)
    kalman = np.array(layout.kalman_keys, dtype=np.float64).reshape(-1, 2)
    z_keys = np.array(layout.z_keys, dtype=np.int64).reshape(-1, 2)
    return SlicePlan(
        batch,
        layout,
        np.ascontiguousarray(kalman[:, 0]),
        np.ascontiguousarray(kalman[:, 1]),
        np.ascontiguousarray(z_keys[:, 0]),
        np.ascontiguousarray(z_keys[:, 1]),
        lane_groups(layout.kalman_index, layout.z_index, batch),
        *signal_tables.table_layout(batch.entry_z, batch.exit_z, batch.stop_z),
    )


def run_pairs(
    plan: SlicePlan,
    closes: Sequence[np.ndarray],
    leg_a: np.ndarray,
    hedge_ratio: np.ndarray,
    *,
    initial_cash: float,
    commission: float,
) -> np.ndarray:
    """Metrics of every (pair, config): a (pairs, configs, N_METRICS) array. Pair ``p`` is a
    single-pair portfolio of ``closes[p]`` (bars, 2: sorted-ticker columns), asset_1 in
    column ``leg_a[p]``, starting from hedge ratio ``hedge_ratio[p]``; each config is exactly
    ``FastEngine``'s backtest of it."""
    lengths = [c.shape[0] for c in closes]
    bar_start = np.zeros(len(closes) + 1, dtype=np.int64)
    np.cumsum(lengths, out=bar_start[1:])
    # Distinct summation programs: the z windows', then each pair length's.
    keys = sorted(set(plan.z_window.tolist()) | set(lengths))
    index = {n: i for i, n in enumerate(keys)}
    tables = [sum_program(n) for n in keys]
    program_start = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum([t.shape[0] for t in tables], out=program_start[1:])
    batch = plan.batch
    metrics = np.empty((len(closes), len(batch), portfolio_kernel.N_METRICS))
    args: list[Any] = [
        np.ascontiguousarray(np.concatenate(closes), dtype=np.float64),
        bar_start,
        np.ascontiguousarray(leg_a, dtype=np.int64),
        np.ascontiguousarray(hedge_ratio, dtype=np.float64),
        *(plan.kalman_delta, plan.kalman_R, plan.z_kalman, plan.z_window),
        np.array([index[w] for w in plan.z_window.tolist()], dtype=np.int64),
        *(plan.layout.kalman_index, plan.layout.z_index),
        *(getattr(batch, name).astype(COLUMN_DTYPES[name]) for name in _LANE_PARAMS),
        *(plan.lanes, plan.table_kinds, plan.table_levels, plan.table_rows),
        *(float(initial_cash), float(commission), _TWO),
        np.concatenate(tables),
        program_start,
        np.array([index[n] for n in lengths], dtype=np.int64),
        metrics,
    ]
    sweep_kernel.run_pairs(*args)
    return metrics


# A metrics row is RUN_METRICS in order, and Metrics' fields are RUN_METRICS then n_days: so a
# row (Sharpe and trade count converted) plus the session count is Metrics' positional args.
assert (*RUN_METRICS, "n_days") == METRIC_NAMES, "Metrics fields: RUN_METRICS, then n_days"


def metrics_rows(metrics: np.ndarray, n_days: int) -> list[Metrics]:
    """Kernel metrics rows as ``shared.metrics.Metrics`` (a NaN Sharpe becomes None)."""
    sharpe, trades = portfolio_kernel.SHARPE, portfolio_kernel.TOTAL_TRADES
    rows = metrics.tolist()  # Python floats in one call, not one numpy scalar each
    for row in rows:
        if row[sharpe] != row[sharpe]:
            row[sharpe] = None
        row[trades] = int(row[trades])
    make = cast(Callable[..., Metrics], Metrics)  # positional: RUN_METRICS, then n_days
    return [make(*row, n_days) for row in rows]
