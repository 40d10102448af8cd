"""Grid optimization: backtest every configuration, rank like the seed, emit the production config.

The results table has the seed's columns, is ranked with the seed's exact ``sort_values`` call and
written to ``reports/kalman_param_optimization_results.csv``; its first row becomes
``config/kalman_prod_config.json`` (through ``shared.config``). A configuration whose backtest
raises is kept as a row with an ``error`` message and NaN metrics (so it ranks last) and is
reported on stderr: never silently skipped as the seed did.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from research.backtest.api import BacktestEngine, EngineResult
from research.backtest.registry import DEFAULT_ENGINE, get_engine
from research.data.market_data import AlignedCloses, align_closes, pair_symbols
from research.evaluation.overfitting import DEFAULT_PBO_BLOCKS, selection_evidence, warn_if_overfit
from research.layout import ArtifactLayout
from research.ranking import rank_frame, rank_order
from research.report.plots import write_report_plots
from research.screen.selection import pairs_from_table
from research.search.config_pairs import PAIR_STAT_COLUMNS as PAIR_STAT_COLUMNS
from research.search.config_pairs import clean_value, pair_configs
from research.search.grid import SEED_GRID, Grid
from research.search.grid_feasibility import check_winner_traded, result_warnings, stake_warnings
from research.search.verification import verify_against_backtrader
from shared.config import DataWindow, ProdConfig, Provenance, dump_config
from shared.errors import DataError
from shared.metrics import METRIC_NAMES, daily_returns
from shared.strategy import PARAM_NAMES, PARAM_SPECS, Pair, StrategyParams

PARAM_COLUMNS: tuple[str, ...] = PARAM_NAMES
METRIC_COLUMNS: tuple[str, ...] = METRIC_NAMES
RESULT_COLUMNS: tuple[str, ...] = PARAM_COLUMNS + METRIC_COLUMNS


@dataclass(frozen=True)
class OptimizeOutcome:
    results: pd.DataFrame  # ranked, the seed's columns (+ ``error`` when a config failed)
    config: ProdConfig  # the emitted production config (best row)
    results_csv: str
    config_json: str
    engine: str
    n_errors: int
    elapsed_s: float
    verification: pd.DataFrame | None = None  # the sampled re-runs on backtrader, when asked
    plots: tuple[str, ...] = ()  # the report PNGs written
    evidence: dict[str, Any] | None = None  # DSR/PBO of the selection (also in the config)
    warnings: tuple[str, ...] = ()  # plain-words overfitting warnings
    grid_warnings: tuple[str, ...] = ()  # infeasible stakes, idle rows, a winner without trades

    @property
    def best(self) -> pd.Series:
        return self.results.iloc[0]


def result_row(params: StrategyParams, metrics: dict[str, Any]) -> dict[str, Any]:
    """One row of the seed's results table (Sharpe None becomes NaN, as in the seed's frame)."""
    row: dict[str, Any] = {c: getattr(params, c) for c in PARAM_COLUMNS}
    for c in METRIC_COLUMNS:
        value = metrics.get(c)
        row[c] = np.nan if value is None else value
    return row


def row_params(row: pd.Series) -> StrategyParams:
    """The parameters of one results-table row, as Python types (the inverse of
    :func:`result_row`)."""
    return StrategyParams(**{name: spec.kind(row[name]) for name, spec in PARAM_SPECS.items()})


def rank_results(results: pd.DataFrame) -> pd.DataFrame:
    """The seed's ranking (:mod:`research.ranking`): Sharpe descending, then max drawdown %
    ascending, ties in grid order, NaN last, so configurations with an undefined Sharpe (never
    traded) or an error rank at the bottom."""
    return rank_frame(results)


def _chunks(items: Sequence[StrategyParams], size: int) -> list[Sequence[StrategyParams]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _run_one_by_one(
    engine: BacktestEngine,
    data: AlignedCloses,
    pairs: Sequence[Pair],
    chunk: Sequence[StrategyParams],
    grid: Grid,
    details: bool,
) -> list[tuple[dict[str, Any], EngineResult | None]]:
    """A chunk raised: re-run each config alone so only the faulty ones carry an error."""
    rows: list[tuple[dict[str, Any], EngineResult | None]] = []
    for params in chunk:
        try:
            (result,) = engine.run(
                data,
                pairs,
                [params],
                initial_cash=grid.initial_cash,
                commission=grid.commission,
                with_details=details,
            )
            rows.append((result_row(params, result.metrics.as_dict()), result))
        except Exception as exc:  # report, never skip: the row stays in the table
            row = result_row(params, {})
            row["error"] = f"{type(exc).__name__}: {exc}"
            print(f"optimize: configuration {params} failed: {row['error']}", file=sys.stderr)
            rows.append((row, None))
    return rows


def run_grid(
    data: AlignedCloses,
    pairs: Sequence[Pair],
    grid: Grid,
    engine: BacktestEngine,
    *,
    progress: bool = True,
) -> pd.DataFrame:
    """Backtest every grid configuration; the rows in grid order (unranked)."""
    return run_grid_with_returns(data, pairs, grid, engine, progress=progress, returns=False)[0]


def run_grid_with_returns(
    data: AlignedCloses,
    pairs: Sequence[Pair],
    grid: Grid,
    engine: BacktestEngine,
    *,
    progress: bool = True,
    returns: bool = True,
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """:func:`run_grid`, plus the (days × configs) daily-return matrix in grid order when
    ``returns`` (a failed config's column is NaN): what the overfitting statistics judge."""
    params_list = grid.params()
    # Small chunks for slow engines (progress moves), large ones for the compiled engine.
    size = 1 if engine.name != "fast" else min(4096, max(64, len(params_list) // 20))
    rows: list[dict[str, Any]] = []
    matrix = np.full((data.n_bars, len(params_list)), np.nan) if returns else None
    with tqdm(
        total=len(params_list), desc=f"grid ({engine.name})", unit="cfg", disable=not progress
    ) as bar:
        for chunk in _chunks(params_list, size):
            try:
                results: list[EngineResult] = engine.run(
                    data,
                    pairs,
                    chunk,
                    initial_cash=grid.initial_cash,
                    commission=grid.commission,
                    with_details=returns,
                )
                done: list[tuple[dict[str, Any], EngineResult | None]] = [
                    (result_row(r.params, r.metrics.as_dict()), r) for r in results
                ]
            except Exception:
                done = _run_one_by_one(engine, data, pairs, chunk, grid, returns)
            for row, result in done:
                if matrix is not None and result is not None and result.values is not None:
                    matrix[:, len(rows)] = daily_returns(result.values, grid.initial_cash)
                rows.append(row)
            bar.update(len(chunk))
    frame = pd.DataFrame(rows)
    columns = [*RESULT_COLUMNS, *(["error"] if "error" in frame.columns else [])]
    return frame.reindex(columns=columns), matrix


# Above this many (days × configs) cells the return matrix is not kept (about 400 MB): use
# `pairs-research sweep` for grids that size, and `walkforward` to judge them.
MAX_EVIDENCE_CELLS = 50_000_000


def selection_evidence_for(
    unranked: pd.DataFrame,
    matrix: np.ndarray | None,
    n_pairs: int,
    pbo_blocks: str = DEFAULT_PBO_BLOCKS,
) -> dict[str, Any]:
    """DSR/PBO of choosing the seed-ranked best row out of the grid (failed configs left
    out); trials = configs × pairs, as the issue of selection bias demands."""
    if matrix is None:
        return {"note": "grid too large to keep its return matrix; run walkforward instead"}
    ok = np.flatnonzero(~np.isnan(matrix).any(axis=0))
    if ok.size == 0:
        return {"note": "no configuration produced returns"}
    sharpe, dd = unranked["sharpe_ratio"].to_numpy(float), unranked["max_dd_pct"].to_numpy(float)
    best = int(unranked.index[rank_order(sharpe, dd)[0]])
    chosen = int(np.searchsorted(ok, best))
    return selection_evidence(
        matrix[:, ok], n_trials=int(ok.size) * n_pairs, chosen=chosen, pbo_blocks=pbo_blocks
    )


def prices_sha256(prices: pd.DataFrame) -> str:
    """sha256 of the prices serialized exactly as the cleaning step writes
    ``data/cleaned/adj_close_wide.csv`` (index ``date``, ISO dates): equal to that file's hash
    when ``prices`` is the frame it was written from. A frame *read back* from the CSV may differ
    in the last bit of some floats (pandas' parser), so callers that read a file should pass the
    file's own hash (``file_sha256``) to :func:`optimize_and_write`."""
    out = prices.copy()
    out.index = pd.DatetimeIndex(out.index).strftime("%Y-%m-%d")
    return hashlib.sha256(out.to_csv(index_label="date").encode()).hexdigest()


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tool_version() -> str:
    try:
        return metadata.version("kalman-pairs")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_config(
    best: pd.Series,
    selected: pd.DataFrame,
    data: AlignedCloses,
    grid: Grid,
    *,
    engine: str,
    source: str,
    sha256: str,
    now: datetime | None = None,
    evidence: dict[str, Any] | None = None,
) -> ProdConfig:
    """The production config from the best row: the seed's keys plus pairs, data window,
    selection metrics and provenance."""
    return ProdConfig(
        **asdict(row_params(best)),
        initial_cash=float(grid.initial_cash),
        commission=float(grid.commission),
        pairs=pair_configs(selected, data),
        data=DataWindow(
            first_session=data.dates[0].date(),
            last_session=data.dates[-1].date(),
            n_sessions=data.n_bars,
            source=source,
            sha256=sha256,
        ),
        selection_metrics={c: clean_value(best[c]) for c in METRIC_COLUMNS},
        provenance=Provenance(
            generated_at=now or datetime.now(UTC),
            tool_version=tool_version(),
            grid=grid.as_dict(),
            grid_size=grid.size,
            engine=engine,
            evidence=evidence,
        ),
    )


def optimize_and_write(
    prices: pd.DataFrame,
    selected: pd.DataFrame,
    layout: ArtifactLayout,
    *,
    grid: Grid | None = None,
    engine: str = DEFAULT_ENGINE,
    source: str = "unknown",
    verify: int = 0,
    progress: bool = True,
    plots: bool = True,
    sha256: str | None = None,
    allow_no_trades: bool = False,
    pbo_blocks: str = DEFAULT_PBO_BLOCKS,
) -> OptimizeOutcome:
    """Run the grid on the selected pairs, write the ranked results CSV and the config JSON.

    ``verify`` > 0 re-runs that many sampled configurations on backtrader and raises
    ``VerificationError`` (with a table of differences) before writing anything if any metric
    differs beyond relative 1e-9. ``plots`` also writes the report PNGs for the best config. ``sha256`` is the hash of
    the price file ``prices`` was read from (default: :func:`prices_sha256` of the frame).
    Infeasible stakes are warned about on stderr before the grid runs; a winner without trades
    raises a DataError (nothing written) unless ``allow_no_trades``. ``pbo_blocks`` is the PBO
    block convention (:mod:`research.evaluation.overfitting`).
    """
    grid = grid or SEED_GRID
    if selected.empty:
        raise DataError("no pairs selected: nothing to optimize; check the screen's p-value cut")
    pairs = pairs_from_table(selected)
    data = align_closes(prices, pair_symbols(pairs))
    if data.n_bars < max(grid.window) + 2:
        raise DataError(
            f"only {data.n_bars} common sessions for {', '.join(data.symbols)}: fewer than the "
            f"largest window ({max(grid.window)}) + 2; use a longer price history"
        )
    for line in stake_warnings(data, pairs, grid):  # before the grid runs: it may be long
        print(f"warning: {line}", file=sys.stderr)
    backtest_engine = get_engine(engine)
    started = time.perf_counter()
    keep_returns = grid.size * data.n_bars <= MAX_EVIDENCE_CELLS
    unranked, matrix = run_grid_with_returns(
        data, pairs, grid, backtest_engine, progress=progress, returns=keep_returns
    )
    verification = None
    if verify > 0:
        verification = verify_against_backtrader(
            data, pairs, grid, unranked, verify, engine=backtest_engine.name
        )
    ranked = rank_results(unranked)
    n_errors = int(ranked["error"].notna().sum()) if "error" in ranked.columns else 0
    if n_errors == len(ranked):
        raise DataError(f"all {n_errors} configurations failed; first error: {ranked['error'][0]}")
    grid_warnings = result_warnings(ranked)
    winner_note = check_winner_traded(ranked, allow_no_trades)
    grid_warnings += [winner_note] if winner_note else []
    evidence = selection_evidence_for(unranked, matrix, len(pairs), pbo_blocks)
    config = build_config(
        ranked.iloc[0],
        selected,
        data,
        grid,
        engine=backtest_engine.name,
        source=source,
        sha256=sha256 or prices_sha256(prices),
        evidence=evidence,
    )
    layout.ensure_dirs()
    ranked.to_csv(layout.results_csv, index=False)
    layout.config_json.write_text(dump_config(config), encoding="utf-8")
    pngs: list[Path] = []
    if plots:
        pngs = write_report_plots(
            data,
            pairs,
            config.params,
            ranked,
            layout.reports_dir,
            initial_cash=grid.initial_cash,
            commission=grid.commission,
        )
    return OptimizeOutcome(
        results=ranked,
        config=config,
        results_csv=str(layout.results_csv),
        config_json=str(layout.config_json),
        engine=backtest_engine.name,
        n_errors=n_errors,
        elapsed_s=time.perf_counter() - started,
        verification=verification,
        plots=tuple(str(p) for p in pngs),
        evidence=evidence,
        warnings=tuple(warn_if_overfit(evidence)),
        grid_warnings=tuple(grid_warnings),
    )


def describe_evidence(outcome: OptimizeOutcome) -> list[str]:
    """Lines for a terminal: the selection statistics, then any warning in plain words."""
    ev = outcome.evidence or {}
    grid = [f"warning: {w}" for w in outcome.grid_warnings]
    if "dsr" not in ev:
        return [*grid, f"selection evidence: {ev.get('note', 'not computed')}"]

    def fmt(key: str) -> str:
        value = ev.get(key)
        return "undefined" if value is None else f"{value:.3f}"

    line = (
        f"selection evidence: DSR {fmt('dsr')}, PSR {fmt('psr')}, PBO {fmt('pbo')} "
        f"({ev.get('n_trials')} trials; recorded in the config's provenance.evidence)"
    )
    return [*grid, line, *(f"warning: {w}" for w in outcome.warnings)]
