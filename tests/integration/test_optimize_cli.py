"""``pairs-research optimize`` / ``backtest`` / ``plots`` end to end on generated data."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from research.backtest.api import EngineResult
from research.backtest.registry import ReferenceEngine, register_engine, unregister_engine
from research.cli import main
from research.data.market_data import AlignedCloses
from research.layout import ArtifactLayout
from research.search.optimize import RESULT_COLUMNS, rank_results
from shared.config import parse_config
from shared.strategy import Pair, StrategyParams
from tests.parity import synthetic_pairs as sp

GRID_TOML = """
window = [30, 45]
entry_z = [2.0]
exit_z = [0.5]
stop_z = [3.5]
stake = [25, 50]
long_only = [false, true]
"""


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Path]:
    ds = sp.portfolio(2, n_pairs=2, n_bars=300)
    prices = ds.prices.copy()
    prices.index = prices.index.strftime("%Y-%m-%d")
    paths = {
        "base": tmp_path / "base",
        "prices": tmp_path / "prices.csv",
        "pairs": tmp_path / "pairs.csv",
        "grid": tmp_path / "grid.toml",
    }
    prices.to_csv(paths["prices"], index_label="date")
    pd.DataFrame(
        [
            {
                "asset_1": p.asset_1,
                "asset_2": p.asset_2,
                "corr": 0.9,
                "pvalue": 0.01 * (i + 1),
                "coint_t": -4.0,
                "crit_1pct": -3.9,
                "crit_5pct": -3.34,
                "crit_10pct": -3.05,
                "hedge_ratio": p.hedge_ratio,
                "intercept": 1.0,
                "n_obs": 300,
            }
            for i, p in enumerate(ds.pairs)
        ]
    ).to_csv(paths["pairs"], index=False)
    paths["grid"].write_text(GRID_TOML)
    return paths


def optimize_args(ws: dict[str, Path], *extra: str) -> list[str]:
    return [
        "optimize",
        "--base-dir",
        str(ws["base"]),
        "--prices",
        str(ws["prices"]),
        "--pairs",
        str(ws["pairs"]),
        "--grid",
        str(ws["grid"]),
        "--no-progress",
        *extra,
    ]


class _Faulty(ReferenceEngine):
    """The reference engine, but window-45 configs raise (or, with ``skew``, drift)."""

    def __init__(self, skew: bool = False) -> None:
        self.skew = skew
        self.name = "skewed" if skew else "faulty"

    def run(
        self,
        data: AlignedCloses,
        pairs: Sequence[Pair],
        params_list: Sequence[StrategyParams],
        **kwargs: object,
    ) -> list[EngineResult]:
        if not self.skew and any(p.window == 45 for p in params_list):
            raise RuntimeError("kernel exploded")
        results = super().run(data, pairs, params_list, **kwargs)  # type: ignore[arg-type]
        if self.skew:
            results = [
                replace(r, metrics=replace(r.metrics, final_value=r.metrics.final_value + 1))
                for r in results
            ]
        return results


@pytest.fixture
def faulty_engines() -> Iterator[None]:
    register_engine("faulty", _Faulty)
    register_engine("skewed", lambda: _Faulty(skew=True))
    yield
    unregister_engine("faulty")
    unregister_engine("skewed")


def test_optimize_writes_ranked_results_config_and_plots(
    workspace: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(optimize_args(workspace, "--engine", "reference", "--verify", "2")) == 0
    out = capsys.readouterr().out
    assert "Top 10 configurations by Sharpe" in out and "verified 2 sampled" in out
    layout = ArtifactLayout(workspace["base"])
    results = pd.read_csv(layout.results_csv)
    assert tuple(results.columns) == RESULT_COLUMNS and len(results) == 8
    pd.testing.assert_frame_equal(results, rank_results(results))
    config = parse_config(layout.config_json.read_text())
    best = results.iloc[0]
    assert (config.window, config.stake, config.long_only) == (
        best["window"],
        best["stake"],
        best["long_only"],
    )
    assert [p.asset_1 for p in config.pairs] == ["P0A", "P1A"]
    assert config.data.sha256 == hashlib.sha256(workspace["prices"].read_bytes()).hexdigest()
    assert config.data.source == "prices.csv" and config.provenance.engine == "reference"
    assert config.provenance.grid_size == 8
    for name in ("equity_curve", "kalman_beta", "sharpe_heatmap", "zscore_P0A_P0B"):
        assert layout.report_png(name).is_file()


def test_backtest_json_prints_one_object_equal_to_the_best_row(
    workspace: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(optimize_args(workspace, "--engine", "reference", "--no-plots")) == 0
    layout = ArtifactLayout(workspace["base"])
    best = pd.read_csv(layout.results_csv).iloc[0]
    capsys.readouterr()
    assert (
        main(
            [
                "backtest",
                "--prices",
                str(workspace["prices"]),
                "--config",
                str(layout.config_json),
                "--engine",
                "backtrader",
                "--json",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)  # exactly one JSON document
    assert set(printed) == {
        "final_value",
        "total_return",
        "sharpe_ratio",
        "max_dd_pct",
        "max_dd_abs",
        "total_trades",
        "n_days",
    }
    for key, value in printed.items():
        assert math.isclose(value, best[key], rel_tol=1e-9), key
    assert (
        main(
            [
                "backtest",
                "--prices",
                str(workspace["prices"]),
                "--config",
                str(layout.config_json),
                "--engine",
                "reference",
                "--json",
                "--start",
                "2021-03-01",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["n_days"] < printed["n_days"]


def test_plots_command_redraws_the_report(
    workspace: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(optimize_args(workspace, "--engine", "reference", "--no-plots")) == 0
    layout = ArtifactLayout(workspace["base"])
    assert not layout.report_png("equity_curve").exists()
    assert (
        main(["plots", "--base-dir", str(workspace["base"]), "--prices", str(workspace["prices"])])
        == 0
    )
    assert layout.report_png("equity_curve").is_file()
    assert layout.report_png("sharpe_heatmap").is_file()


def test_a_failing_configuration_is_reported_in_an_error_column_not_skipped(
    workspace: dict[str, Path], faulty_engines: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(optimize_args(workspace, "--engine", "faulty", "--no-plots")) == 0
    assert "kernel exploded" in capsys.readouterr().err
    results = pd.read_csv(ArtifactLayout(workspace["base"]).results_csv)
    assert len(results) == 8 and "error" in results.columns
    failed = results[results["error"].notna()]
    assert set(failed["window"]) == {45} and len(failed) == 4
    assert failed.index.min() == 4  # NaN Sharpe ranks them last
    assert results.iloc[0]["window"] == 30


def test_verify_fails_loudly_with_a_table_when_an_engine_disagrees_with_backtrader(
    workspace: dict[str, Path], faulty_engines: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(optimize_args(workspace, "--engine", "skewed", "--verify", "1")) == 2
    err = capsys.readouterr().err
    assert "skewed engine disagrees with backtrader" in err and "final_value" in err
    assert not ArtifactLayout(workspace["base"]).config_json.exists()


def test_missing_pairs_file_is_a_clear_error(
    workspace: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    workspace["pairs"].unlink()
    assert main(optimize_args(workspace, "--engine", "reference")) == 2
    assert "pairs.csv: no screened pairs" in capsys.readouterr().err


def test_unavailable_or_unknown_engines_suggest_backtrader() -> None:
    from research.backtest.registry import EngineError, get_engine

    with pytest.raises(EngineError, match="choose one of"):
        get_engine("warp")


def test_optimize_records_dsr_and_pbo_of_its_own_choice_in_the_config(
    workspace: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(optimize_args(workspace, "--engine", "reference", "--no-plots")) == 0
    err = capsys.readouterr().err
    assert "selection evidence: DSR" in err
    layout = ArtifactLayout(workspace["base"])
    evidence = parse_config(layout.config_json.read_text()).provenance.evidence
    assert evidence is not None
    # 8 configs x 2 pairs tried; the chosen column is the seed-ranked best row's grid position.
    assert evidence["n_configs"] == 8 and evidence["n_trials"] == 16
    results = pd.read_csv(layout.results_csv)
    best_daily_sharpe = results.iloc[0]["sharpe_ratio"]
    assert evidence["sharpe_daily"] == pytest.approx(best_daily_sharpe, rel=1e-9)
    assert 0.0 <= evidence["dsr"] <= 1.0 and 0.0 <= evidence["pbo"] <= 1.0
    if evidence["dsr"] < 0.95:
        assert "warning: Deflated Sharpe Ratio" in err


def test_failed_configurations_are_left_out_of_the_selection_evidence(
    workspace: dict[str, Path], faulty_engines: None
) -> None:
    assert main(optimize_args(workspace, "--engine", "faulty", "--no-plots")) == 0
    layout = ArtifactLayout(workspace["base"])
    evidence = parse_config(layout.config_json.read_text()).provenance.evidence
    assert evidence is not None and evidence["n_configs"] == 4
    best_daily_sharpe = pd.read_csv(layout.results_csv).iloc[0]["sharpe_ratio"]
    assert evidence["sharpe_daily"] == pytest.approx(best_daily_sharpe, rel=1e-9)
