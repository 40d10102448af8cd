"""``pairs-research walkforward`` end to end on the synthetic universe (reference engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from research.cli import main
from research.data.synthetic import generate_universe
from research.layout import ArtifactLayout
from shared.config import parse_config

GRID_TOML = (
    "window = [20, 60]\nentry_z = [1.5, 2.0]\nstake = [20]\nstop_z = [3.5]\nlong_only = [false]\n"
)


def _config(first: str, last: str, n: int) -> dict[str, object]:
    return {
        "window": 20, "entry_z": 1.5, "exit_z": 0.5, "stop_z": 3.5, "stake": 20,
        "long_only": False, "delta": 1e-5, "R": 0.001, "initial_cash": 100000.0,
        "commission": 0.0005,
        "pairs": [{"asset_1": "SYN_A", "asset_2": "SYN_B", "hedge_ratio": 0.6}],
        "data": {"first_session": first, "last_session": last, "n_sessions": n},
        "provenance": {"evidence": {"dsr": 0.5, "pbo": 0.4}},
    }  # fmt: skip


@pytest.fixture()
def base(tmp_path: Path) -> ArtifactLayout:
    layout = ArtifactLayout(tmp_path)
    layout.ensure_dirs()
    prices = generate_universe(n_sessions=650)[["SYN_A", "SYN_B", "SYN_C", "SYN_D", "SYN_I"]]
    prices.index = prices.index.strftime("%Y-%m-%d")
    prices.to_csv(layout.cleaned_prices, index_label="date")
    pd.DataFrame({"asset_1": ["SYN_A"], "asset_2": ["SYN_B"], "hedge_ratio": [0.6]}).to_csv(
        layout.selected_pairs_csv, index=False
    )
    config = _config(prices.index[0], prices.index[-1], len(prices))
    layout.config_json.write_text(json.dumps(config))
    (tmp_path / "grid.toml").write_text(GRID_TOML)
    return layout


def _run(layout: ArtifactLayout, *extra: str) -> int:
    return main(
        [
            "walkforward", "--base-dir", str(layout.base_dir), "--engine", "reference",
            "--grid", str(layout.base_dir / "grid.toml"), "--train", "300", "--test", "150",
            "--splits", "8", *extra,
        ]
    )  # fmt: skip


def test_walkforward_writes_reports_plots_and_records_evidence(base, capsys):
    assert _run(base) == 0
    out = capsys.readouterr().out
    assert "fold 0: test" in out and "walkforward: 3 rolling folds" in out
    reports = base.reports_dir
    folds = pd.read_csv(reports / "walkforward_folds.csv")
    assert list(folds["fold"]) == [0, 1, 2]
    assert {"is_sharpe_ratio", "oos_sharpe_ratio", "oos_sharpe_annualized", "dsr", "pbo"} <= set(
        folds.columns
    )
    assert (folds["pairs"] == "SYN_A/SYN_B:0.6").all()
    sharpes = pd.read_csv(reports / "walkforward_config_sharpes.csv")
    assert len(sharpes) == 3 * 4 and sharpes["chosen"].sum() == 3
    equity = pd.read_csv(reports / "walkforward_oos_equity.csv")
    assert len(equity) == 650 - 300 and equity["date"].is_monotonic_increasing
    summary = json.loads((reports / "walkforward_summary.json").read_text())
    assert summary["folds"] == 3 and summary["engines"] == ["reference"]
    assert (reports / "walkforward_equity.png").stat().st_size > 10_000
    assert (reports / "walkforward_is_vs_oos.png").stat().st_size > 10_000

    config = parse_config(base.config_json.read_text())
    evidence = config.provenance.evidence or {}
    assert evidence["dsr"] == 0.5 and evidence["pbo"] == 0.4  # earlier evidence is kept
    recorded = evidence["walkforward"]
    assert recorded["folds"] == 3 and recorded["mode"] == "rolling"
    assert recorded["oos_sharpe_annualized"] == pytest.approx(summary["oos_sharpe_annualized"])


def test_walkforward_rescreens_pairs_on_each_train_window(base, capsys):
    assert _run(base, "--rescreen", "--max-pairs", "2", "--no-plots", "--no-record") == 0
    folds = pd.read_csv(base.reports_dir / "walkforward_folds.csv")
    assert folds["pairs"].notna().all()
    assert not (base.reports_dir / "walkforward_equity.png").exists()
    assert "walkforward" not in (
        parse_config(base.config_json.read_text()).provenance.evidence or {}
    )


def test_walkforward_without_a_pairs_table_says_what_to_run(tmp_path, capsys):
    layout = ArtifactLayout(tmp_path)
    layout.ensure_dirs()
    prices = generate_universe(n_sessions=400)[["SYN_A", "SYN_B"]]
    prices.to_csv(layout.cleaned_prices, index_label="date")
    assert main(["walkforward", "--base-dir", str(tmp_path), "--engine", "reference"]) == 2
    err = capsys.readouterr().err
    assert "selected_pairs.csv" in err and "pairs-research select" in err
