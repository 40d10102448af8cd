"""Running the Engle-Granger test over many pairs: the statsmodels engine and the compiled one.

Both engines fill the same per-pair statistics (``STAT_FIELDS``) for a list of ordered pairs
(asset_1 index, asset_2 index) of a :class:`~research.screen.coint.universe.Universe`. ``corr`` is computed
by one shared function for both, so the engines differ only where the test itself is computed.

The fast engine runs the compiled kernel (which releases the GIL) on a thread pool, all cores
by default, in chunks of pairs; or on a Dask cluster (``scheduler="tcp://..."``) in tiles of
tickers so that each task carries only the closes it needs. Pairs with NaNs go through the same
kernel after their own pairwise alignment. Pairs the kernel cannot settle with certainty (see
:mod:`research.screen.coint.fast`) are recomputed with statsmodels.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np
from tqdm import tqdm

from research.parallel import bounded, default_parallelism, open_executor
from research.screen.coint import fast
from research.screen.coint.mackinnon import mackinnon_pvalues
from research.screen.coint.reference import (
    EngleGranger,
    critical_values,
    engle_granger,
    single_threaded_blas,
)
from research.screen.coint.universe import MIN_OBS, Universe, log_return_corr
from shared.schema import SCREEN_STATISTICS

# The seed's screen statistics plus the ADF lag the test chose.
STAT_FIELDS: tuple[str, ...] = (*SCREEN_STATISTICS, "lag")
DEFAULT_CHUNK = 2048  # pairs per kernel call / progress tick: ~20 ms of work, flat memory
PROCESS_POOL_MIN_PAIRS = 400  # ~10 s of statsmodels: worth starting worker processes
STATSMODELS_CHUNK = 50
DEFAULT_TILE = 48  # tickers per side of a distributed task's tile (<= 96 x n closes shipped)

Stats = dict[str, np.ndarray]
R = TypeVar("R")


@dataclass
class RunInfo:
    """What an engine run did besides the numbers (for the CLI and the benchmark)."""

    tested: int = 0
    skipped_short: int = 0  # fewer than MIN_OBS aligned observations
    by_reference: int = 0  # settled by statsmodels (kernel uncertain, see fast.py)
    collinear: int = 0


def empty_stats(n: int) -> Stats:
    return {f: np.full(n, np.nan) for f in STAT_FIELDS}


def pair_correlations(universe: Universe, pairs: np.ndarray) -> np.ndarray:
    """Correlation of daily log returns per pair, after the pair's own NaN alignment."""
    out = np.full(len(pairs), np.nan)
    full = np.flatnonzero(universe.complete)
    pos = np.full(universe.n_tickers, -1)
    pos[full] = np.arange(full.size)
    if full.size:
        returns = np.diff(np.log(universe.closes[:, full]), axis=0)
        returns -= returns.mean(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            returns /= np.sqrt(np.einsum("ij,ij->j", returns, returns))
        with single_threaded_blas():  # a threaded BLAS only spins on this small product
            corr = returns.T @ returns
        both = (pos[pairs[:, 0]] >= 0) & (pos[pairs[:, 1]] >= 0)
        out[both] = corr[pos[pairs[both, 0]], pos[pairs[both, 1]]]
    for k in np.flatnonzero(~((pos[pairs[:, 0]] >= 0) & (pos[pairs[:, 1]] >= 0))):
        out[k] = log_return_corr(*universe.pair_arrays(int(pairs[k, 0]), int(pairs[k, 1])))
    return out


@lru_cache(maxsize=64)
def _crit(n_obs: int) -> tuple[float, float, float]:
    return critical_values(n_obs)


def _fill_reference(stats: Stats, k: int, y: np.ndarray, x: np.ndarray) -> None:
    _fill_result(stats, k, engle_granger(y, x))


def finish(stats: Stats, universe: Universe, pairs: np.ndarray) -> Stats:
    """p-values (statsmodels' MacKinnon surface, vectorized), critical values and corr."""
    tested = ~np.isnan(stats["coint_t"])
    stats["pvalue"][tested] = mackinnon_pvalues(stats["coint_t"][tested])
    for n in np.unique(stats["n_obs"][tested]).astype(int):
        rows = tested & (stats["n_obs"] == n)
        for f, v in zip(("crit_1pct", "crit_5pct", "crit_10pct"), _crit(int(n)), strict=True):
            stats[f][rows] = v
    stats["corr"] = pair_correlations(universe, pairs)
    return stats


def coint_one(y: np.ndarray, x: np.ndarray) -> EngleGranger:
    """One pair through the compiled path (statsmodels where the kernel defers): the same
    result as :func:`research.screen.coint.reference.engle_granger`, i.e. ``coint(y, x)``."""
    y = np.ascontiguousarray(y, dtype=np.float64)
    x = np.ascontiguousarray(x, dtype=np.float64)
    t, lag, hedge, icpt, status = fast.eg_pair(y, x, fast.adf_maxlag(len(y)))
    if status == fast.NEEDS_REFERENCE:
        with single_threaded_blas():
            return engle_granger(y, x)
    pvalue = float(mackinnon_pvalues(np.array([t]))[0])
    return EngleGranger(t, pvalue, _crit(len(y)), lag, hedge, icpt, len(y))


def run_statsmodels(
    universe: Universe, pairs: np.ndarray, progress: bool, workers: int | None = 1
) -> tuple[Stats, RunInfo]:
    """statsmodels' coint pair by pair (the reference; ~25 ms a pair). With ``workers`` other
    than 1 and enough pairs to repay starting processes, chunks of pairs run on a local
    process pool (statsmodels holds the GIL)."""
    stats, info = empty_stats(len(pairs)), RunInfo()
    n = workers or default_parallelism()
    with _bar(len(pairs), "coint (statsmodels)", progress) as bar:
        if n > 1 and len(pairs) >= PROCESS_POOL_MIN_PAIRS:
            chunks = np.array_split(np.arange(len(pairs)), -(-len(pairs) // STATSMODELS_CHUNK))
            tasks = (
                (rows, ([universe.pair_arrays(*map(int, pairs[k])) for k in rows],))
                for rows in chunks
            )
            with open_executor(None, n) as (executor, _):
                for rows, results in _bounded(executor, reference_chunk, tasks, 2 * n):
                    for k, eg in zip(rows, results, strict=True):
                        _fill_result(stats, int(k), eg)
                    bar.update(len(rows))
        else:
            for k, (i, j) in enumerate(pairs):
                for eg in reference_chunk([universe.pair_arrays(int(i), int(j))]):
                    _fill_result(stats, k, eg)
                bar.update(1)
    return _tally(finish(stats, universe, pairs), info)


def reference_chunk(arrays: list[tuple[np.ndarray, np.ndarray]]) -> list[EngleGranger | int]:
    """statsmodels on each (y, x); the observation count alone when too short to test."""
    with single_threaded_blas():
        return [engle_granger(y, x) if len(y) >= MIN_OBS else len(y) for y, x in arrays]


def _fill_result(stats: Stats, k: int, eg: EngleGranger | int) -> None:
    if isinstance(eg, int):
        stats["n_obs"][k] = eg
        return
    stats["n_obs"][k] = eg.n_obs
    stats["coint_t"][k], stats["lag"][k] = eg.coint_t, eg.lag
    stats["hedge_ratio"][k], stats["intercept"][k] = eg.hedge_ratio, eg.intercept


def run_fast(
    universe: Universe,
    pairs: np.ndarray,
    *,
    progress: bool,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> tuple[Stats, RunInfo]:
    """The compiled kernel over every pair; statsmodels only where the kernel defers."""
    stats, info = empty_stats(len(pairs)), RunInfo()
    stats["status"] = np.full(len(pairs), -1, dtype=np.int64)
    dense = universe.complete[pairs[:, 0]] & universe.complete[pairs[:, 1]]
    dense_rows = np.flatnonzero(dense)
    n_bars = universe.closes.shape[0]
    with _bar(len(pairs), "coint (fast)", progress) as bar:
        if dense_rows.size and n_bars >= MIN_OBS:
            series = np.ascontiguousarray(universe.closes.T)
            p = fast.adf_maxlag(n_bars)
            stats["n_obs"][dense_rows] = n_bars
            if scheduler is None:
                batches = _local_batches(series, pairs, dense_rows, p, workers, chunk)
            else:
                batches = _distributed_batches(series, pairs, dense_rows, p, scheduler, workers)
            for rows, out in batches:
                _store(stats, rows, out)
                bar.update(len(rows))
        elif dense_rows.size:
            stats["n_obs"][dense_rows] = n_bars
            bar.update(dense_rows.size)
        for k in np.flatnonzero(~dense):
            y, x = universe.pair_arrays(int(pairs[k, 0]), int(pairs[k, 1]))
            stats["n_obs"][k] = len(y)
            if len(y) >= MIN_OBS:
                one = fast.eg_pair(y, x, fast.adf_maxlag(len(y)))
                _store(stats, np.array([k]), tuple(np.array([v]) for v in one))
            bar.update(1)
    with single_threaded_blas():
        for k in np.flatnonzero(stats["status"] == fast.NEEDS_REFERENCE):
            y, x = universe.pair_arrays(int(pairs[k, 0]), int(pairs[k, 1]))
            _fill_reference(stats, int(k), y, x)
            info.by_reference += 1
    del stats["status"]
    return _tally(finish(stats, universe, pairs), info)


def _store(stats: Stats, rows: np.ndarray, out: tuple[np.ndarray, ...]) -> None:
    stat, lag, hedge, icpt, status = out
    stats["coint_t"][rows], stats["lag"][rows] = stat, lag
    stats["hedge_ratio"][rows], stats["intercept"][rows] = hedge, icpt
    stats["status"][rows] = status


def _tally(stats: Stats, info: RunInfo) -> tuple[Stats, RunInfo]:
    tested = ~np.isnan(stats["coint_t"])
    info.tested = int(tested.sum())
    info.skipped_short = int((stats["n_obs"] < MIN_OBS).sum())
    info.collinear = int(np.isneginf(stats["coint_t"]).sum())
    return stats, info


def tile_tasks(
    pairs: np.ndarray, rows: np.ndarray, tile: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(rows, tickers, local pairs) per tile of (asset_1 block, asset_2 block): a task needs
    the closes of at most 2 x ``tile`` tickers, whatever the universe's size."""
    n_tiles = int(pairs.max()) // tile + 1
    keys = (pairs[rows, 0] // tile) * n_tiles + pairs[rows, 1] // tile
    order = np.argsort(keys, kind="stable")
    bounds = np.flatnonzero(np.diff(keys[order])) + 1
    for group in np.split(rows[order], bounds):
        tickers, local = np.unique(pairs[group], return_inverse=True)
        yield group, tickers, local.reshape(-1, 2).astype(np.int64)


def eg_task(series: np.ndarray, local_pairs: np.ndarray, p: int) -> tuple[np.ndarray, ...]:
    """One chunk of pairs through the kernel (a plain function: it pickles to Dask workers)."""
    return fast.eg_batch(series, local_pairs, p)


Batch = tuple[np.ndarray, tuple[np.ndarray, ...]]


def _local_batches(
    series: np.ndarray,
    pairs: np.ndarray,
    rows: np.ndarray,
    p: int,
    workers: int | None,
    chunk: int,
) -> Iterator[Batch]:
    """Chunks of pairs on a thread pool: the kernel releases the GIL, so threads run it in
    parallel without copying the closes (shared read-only) or starting processes."""
    n = max(1, workers or default_parallelism())
    size = max(64, min(chunk, -(-rows.size // (4 * n))))  # >= 4 chunks per thread: even finish
    tasks = (
        (part, (series, pairs[part], p)) for part in np.array_split(rows, -(-rows.size // size))
    )
    with ThreadPoolExecutor(n) as executor:
        yield from _bounded(executor, eg_task, tasks, 2 * n)


def _distributed_batches(
    series: np.ndarray,
    pairs: np.ndarray,
    rows: np.ndarray,
    p: int,
    scheduler: str,
    workers: int | None,
) -> Iterator[Batch]:
    """Tiles of tickers on a Dask cluster: each task ships only the closes it needs."""
    tasks = (
        (group, (np.ascontiguousarray(series[tickers]), local, p))
        for group, tickers, local in tile_tasks(pairs, rows, DEFAULT_TILE)
    )
    with open_executor(scheduler, workers) as (executor, parallelism):
        yield from _bounded(executor, eg_task, tasks, 2 * parallelism + 2)


def _bounded(
    executor: Executor,
    fn: Callable[..., R],
    tasks: Iterator[tuple[np.ndarray, tuple[Any, ...]]],
    max_in_flight: int,
) -> Iterator[tuple[np.ndarray, R]]:
    """(rows, fn(*args)) as tasks finish, with at most ``max_in_flight`` submitted."""

    def submit(task: tuple[np.ndarray, tuple[Any, ...]]) -> Future[R]:
        return executor.submit(fn, *task[1])

    for (rows, _), result in bounded(tasks, submit, max_in_flight):
        yield rows, result


def _bar(total: int, desc: str, progress: bool) -> tqdm:
    return tqdm(
        total=total, desc=desc, unit="pair", file=sys.stderr, disable=not progress, mininterval=0.5
    )
