"""The sweep's results table: one Parquet file with typed columns, written as tasks finish.

One row per (pair, config) kept, in sweep order (pair, then grid index) whatever order the tasks
finish in: the writer holds the few results that arrive early and appends them in turn, so a
run's file does not depend on scheduling. Columns are those of the optimizer's results table
with the pair in front: ``asset_1, asset_2, hedge_ratio, config`` (the grid index), the
strategy's parameters, then the seed's metrics; an undefined Sharpe ratio is null.

Row groups of :data:`ROW_GROUP_ROWS` rows carry min/max statistics for every column, so a reader
(pyarrow, pandas, DuckDB, Polars) that filters on a pair or on a metric skips the row groups that
cannot match. Tickers and parameters are dictionary encoded (a few bytes per row group); the
metrics are split by byte stream before zstd, which shrinks float columns by a fifth more. (A
page index would let readers skip pages too, but costs the driver a sixth more CPU time, which
the sweep's workers need.)
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from research.backtest.fast.plan import ConfigBatch
from research.ranking import top_n
from research.search.grid import AXES, Grid
from research.search.sweep_worker import TaskRows, grid_configs
from shared.metrics import COUNT_METRICS, METRIC_NAMES, RUN_METRICS

SHARPE = RUN_METRICS.index("sharpe_ratio")
MAX_DD_PCT = RUN_METRICS.index("max_dd_pct")

PAIR_COLUMNS: tuple[str, ...] = ("asset_1", "asset_2", "hedge_ratio", "config")
RESULT_COLUMNS: tuple[str, ...] = (*PAIR_COLUMNS, *AXES, *METRIC_NAMES)
ROW_GROUP_ROWS = 1 << 18  # 262,144 rows: ~140 pairs of a 1,920-config grid
GRID_METADATA_KEY = b"kalman_pairs.grid"
_FLOAT_METRICS = tuple(m for m in METRIC_NAMES if m not in COUNT_METRICS)
_CACHED_GRID_CONFIGS = 1 << 22
_ARROW_TYPES = {np.dtype(np.int64): pa.int64(), np.dtype(np.float64): pa.float64()}


def result_schema(grid: Grid) -> pa.Schema:
    """The table's columns and types; the grid's axes and scalars in the file's metadata."""
    params = grid_configs(grid, np.zeros(1, dtype=np.int64))
    param_fields = [
        pa.field(
            axis, pa.bool_() if axis == "long_only" else _ARROW_TYPES[getattr(params, axis).dtype]
        )
        for axis in AXES
    ]
    fields = [
        # Plain strings to Arrow (Parquet still dictionary-encodes them): readers prune row
        # groups by the statistics of a string column, not of an Arrow dictionary column.
        pa.field("asset_1", pa.string()),
        pa.field("asset_2", pa.string()),
        pa.field("hedge_ratio", pa.float64()),
        pa.field("config", pa.int32()),
        *param_fields,
        *(pa.field(m, pa.int32() if m in COUNT_METRICS else pa.float64()) for m in METRIC_NAMES),
    ]
    return pa.schema(fields, metadata={GRID_METADATA_KEY: json.dumps(grid.as_dict()).encode()})


class PairInfo:
    """What the table repeats on every row of a pair, by pair index (filled as pairs arrive;
    tickers are coded in the order they are first seen)."""

    def __init__(self) -> None:
        self._code: dict[str, int] = {}
        self.asset_1: list[int] = []
        self.asset_2: list[int] = []
        self.hedge_ratio: list[float] = []
        self.n_days: list[int] = []

    def add(self, index: int, asset_1: str, asset_2: str, hedge_ratio: float, n_days: int) -> None:
        while len(self.asset_1) <= index:
            for column in (self.asset_1, self.asset_2, self.n_days):
                column.append(0)
            self.hedge_ratio.append(0.0)
        self.asset_1[index] = self._code.setdefault(asset_1, len(self._code))
        self.asset_2[index] = self._code.setdefault(asset_2, len(self._code))
        self.hedge_ratio[index] = hedge_ratio
        self.n_days[index] = n_days

    @property
    def tickers(self) -> pa.Array:
        return pa.array(list(self._code), pa.string())


class SweepTableWriter:
    """Appends task rows to ``path`` in task order; a context manager (the file is complete,
    with its footer, only after a clean exit).

    ``keep_per_pair`` K > 0: the tasks send each pair's best K rows of their grid slice; a pair
    whose grid is sliced over several (consecutive) tasks is held until its last slice is in,
    and only its best K over all slices are written."""

    def __init__(self, path: Path, grid: Grid, pairs: PairInfo, keep_per_pair: int = 0) -> None:
        self.path = path
        self.keep_per_pair = keep_per_pair
        self._held: TaskRows | None = None  # the last pair's rows while more slices may come
        self.grid = grid
        self.pairs = pairs
        self.rows_written = 0
        self._schema = result_schema(grid)
        dictionary_columns = [*PAIR_COLUMNS, *AXES, *COUNT_METRICS]
        self._writer = pq.ParquetWriter(
            path,
            self._schema,
            compression="zstd",
            use_dictionary=dictionary_columns,
            column_encoding={m: "BYTE_STREAM_SPLIT" for m in _FLOAT_METRICS},
        )
        # Every config's parameters, once (the table repeats them for every pair); a grid too
        # large for that is looked up row group by row group.
        whole = grid.size <= _CACHED_GRID_CONFIGS
        self._grid_params = grid_configs(grid, np.arange(grid.size)) if whole else None
        self._early: dict[int, TaskRows] = {}
        self._next = 0
        self._buffer: list[TaskRows] = []
        self._buffered = 0

    def add(self, sequence: int, rows: TaskRows) -> None:
        """The rows of task ``sequence`` (tasks numbered 0, 1, ... in sweep order)."""
        self._early[sequence] = rows
        while self._next in self._early:
            ready = self._early.pop(self._next)
            self._next += 1
            if self.keep_per_pair > 0:
                ready = self._complete_pairs(ready)
            self._buffer.append(ready)
            self._buffered += len(ready.pair)
            if self._buffered >= ROW_GROUP_ROWS:
                self._flush(whole_groups_only=True)

    def _complete_pairs(self, rows: TaskRows) -> TaskRows:
        """The rows of the pairs that are complete, each cut to its best K; holds the last
        pair's rows back (its next grid slice may be in the next task)."""
        if self._held is not None:
            rows = _concat([self._held, rows])
        last = rows.pair == rows.pair[-1] if len(rows.pair) else np.zeros(0, dtype=bool)
        self._held = _take(rows, last)
        return _best_per_pair(_take(rows, ~last), self.keep_per_pair)

    def _flush(self, whole_groups_only: bool = False) -> None:
        """Write the buffered rows in row groups of ROW_GROUP_ROWS; ``whole_groups_only``
        keeps a last, partial group's rows for the next flush (each row group's write has a
        cost of its own, and a full one compresses better)."""
        if not self._buffer:
            return
        rows = _concat(self._buffer)
        end = len(rows.pair)
        if whole_groups_only:
            end -= end % ROW_GROUP_ROWS
        rest = _take(rows, np.arange(end, len(rows.pair)))
        self._buffer, self._buffered = ([rest], len(rest.pair)) if len(rest.pair) else ([], 0)
        for start in range(0, end, ROW_GROUP_ROWS):
            part = slice(start, min(start + ROW_GROUP_ROWS, end))
            table = self._table(TaskRows(rows.pair[part], rows.config[part], rows.metrics[part]))
            self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            self.rows_written += table.num_rows

    def _table(self, rows: TaskRows) -> pa.Table:
        info = self.pairs
        tickers = info.tickers
        pair = rows.pair
        if self._grid_params is None:
            params = grid_configs(self.grid, rows.config)
        else:
            params = ConfigBatch(
                **{axis: getattr(self._grid_params, axis)[rows.config] for axis in AXES}
            )
        columns: dict[str, pa.Array] = {
            "asset_1": _codes(np.asarray(info.asset_1)[pair], tickers),
            "asset_2": _codes(np.asarray(info.asset_2)[pair], tickers),
            "hedge_ratio": pa.array(np.asarray(info.hedge_ratio)[pair]),
            "config": pa.array(rows.config.astype(np.int32)),
        }
        columns.update({axis: pa.array(getattr(params, axis)) for axis in AXES})
        for i, name in enumerate(RUN_METRICS):
            values = rows.metrics[:, i]
            if name in COUNT_METRICS:
                columns[name] = pa.array(values.astype(np.int32))
            else:
                columns[name] = pa.array(values, mask=np.isnan(values))
        columns["n_days"] = pa.array(np.asarray(info.n_days, dtype=np.int32)[pair])
        return pa.table([columns[c] for c in RESULT_COLUMNS], schema=self._schema)

    def __enter__(self) -> SweepTableWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            if self._early:
                raise RuntimeError(f"sweep table: task {self._next} never arrived")
            if self._held is not None:
                self._buffer.append(_best_per_pair(self._held, self.keep_per_pair))
                self._held = None
            self._flush()
        self._writer.close()


def _concat(parts: Sequence[TaskRows]) -> TaskRows:
    return TaskRows(
        np.concatenate([r.pair for r in parts]),
        np.concatenate([r.config for r in parts]),
        np.concatenate([r.metrics for r in parts]),
    )


def _take(rows: TaskRows, which: np.ndarray) -> TaskRows:
    return TaskRows(rows.pair[which], rows.config[which], rows.metrics[which])


def _best_per_pair(rows: TaskRows, k: int) -> TaskRows:
    """Each pair's best ``k`` rows (the seed's ranking, ties in grid order), in grid order.
    Rows come grouped by pair; only a pair that was sliced over tasks has more than ``k``."""
    starts = np.flatnonzero(np.r_[True, rows.pair[1:] != rows.pair[:-1]])
    bounds = [*starts.tolist(), len(rows.pair)] if len(rows.pair) else [0]
    keep = np.ones(len(rows.pair), dtype=bool)
    for lo, hi in itertools.pairwise(bounds):
        if hi - lo > k:
            metrics = rows.metrics[lo:hi]
            best = top_n(metrics[:, SHARPE], metrics[:, MAX_DD_PCT], rows.config[lo:hi], k)
            keep[lo:hi] = False
            keep[lo + best] = True  # the mask keeps grid order
    return _take(rows, keep)


def _codes(indices: np.ndarray, dictionary: pa.Array) -> pa.Array:
    """The tickers at ``indices`` (a take in Arrow, no Python strings per row)."""
    return dictionary.take(pa.array(indices.astype(np.int32)))
