"""Answers from a sweep's results table without loading it whole.

The Parquet file is read a batch of rows at a time (:data:`BATCH_ROWS`); each batch is ranked
with the seed's rule (:mod:`research.ranking`, ties in file order, which is sweep order) and
merged into the running best rows overall and the running best row of each pair, so memory holds
one batch plus O(pairs) rows whatever the size of the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from research.ranking import rank_order
from shared.errors import DataError

RESULTS_NAME = "sweep_results.parquet"  # under the reports folder
BATCH_ROWS = 1 << 18
_ORDER = "_row"  # a row's position in the file: the ranking's tiebreak


@dataclass(frozen=True)
class TableSummary:
    path: Path
    rows: int
    top: pd.DataFrame  # the best rows overall, ranked, with ``rank``
    pair_best: pd.DataFrame  # each pair's best row, ranked, with ``rank``

    @property
    def pairs(self) -> int:
        return len(self.pair_best)

    def pairs_above(self, sharpe: float) -> int:
        """Pairs with at least one config whose Sharpe ratio is above ``sharpe``."""
        return int((self.pair_best["sharpe_ratio"] > sharpe).sum())


def summarize(path: Path, top: int = 20, batch_rows: int = BATCH_ROWS) -> TableSummary:
    """The best ``top`` rows overall and every pair's best row of the results table."""
    try:
        table = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"{path}: not a readable Parquet results table ({exc})") from None
    missing = [
        c
        for c in ("asset_1", "asset_2", "sharpe_ratio", "max_dd_pct")
        if c not in table.schema_arrow.names
    ]
    if missing:
        raise DataError(f"{path}: not a sweep results table (no column {', '.join(missing)})")
    best_rows = pd.DataFrame()
    pair_rows = pd.DataFrame()
    offset = 0
    for batch in table.iter_batches(batch_size=batch_rows):
        frame = _frame(batch, offset)
        offset += len(frame)
        ranked = _ranked(frame)
        best_rows = _ranked(_stack(best_rows, ranked.head(top))).head(top)
        firsts = ranked.drop_duplicates(["asset_1", "asset_2"])
        pair_rows = _ranked(_stack(pair_rows, firsts)).drop_duplicates(["asset_1", "asset_2"])
    return TableSummary(path, offset, _numbered(best_rows), _numbered(pair_rows))


def _frame(batch: pa.RecordBatch, offset: int) -> pd.DataFrame:
    columns = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_dictionary(column.type):
            column = pc.cast(column, column.type.value_type)  # plain strings: batches' codes differ
        columns[name] = column.to_numpy(zero_copy_only=False)
    frame = pd.DataFrame(columns)
    frame[_ORDER] = np.arange(offset, offset + len(frame))
    return frame


def _stack(kept: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    return new if kept.empty else pd.concat([kept, new], ignore_index=True)


def _ranked(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    order = rank_order(
        frame["sharpe_ratio"].to_numpy(float),
        frame["max_dd_pct"].to_numpy(float),
        frame[_ORDER].to_numpy(),
    )
    return frame.iloc[order]


def _numbered(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop(columns=[_ORDER], errors="ignore").reset_index(drop=True)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame


def format_summary(
    summary: TableSummary, show_top: int, show_pairs: int, thresholds: Sequence[float]
) -> str:
    """The command's text: the best rows, the best pairs, and pairs above each threshold."""
    shown = ["rank", "asset_1", "asset_2", "config", "window", "entry_z", "exit_z", "stop_z",
             "stake", "long_only", "sharpe_ratio", "max_dd_pct", "total_return", "total_trades"]  # fmt: skip
    lines = [f"{summary.path}: {summary.rows:,} rows, {summary.pairs:,} pairs"]
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        columns = [c for c in shown if c in summary.top.columns]
        lines += [f"best {min(show_top, len(summary.top))} configs overall:"]
        lines += [summary.top.head(show_top)[columns].to_string(index=False)]
        lines += [f"best config of the best {min(show_pairs, summary.pairs)} pairs:"]
        lines += [summary.pair_best.head(show_pairs)[columns].to_string(index=False)]
    for threshold in thresholds:
        count = summary.pairs_above(threshold)
        share = 100 * count / summary.pairs if summary.pairs else 0.0
        lines.append(
            f"pairs with a config above Sharpe {threshold:g}: {count:,} of {summary.pairs:,} "
            f"({share:.1f}%)"
        )
    return "\n".join(lines)
