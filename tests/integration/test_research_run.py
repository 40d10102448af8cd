"""``pairs-research run`` end to end, and the prices/select commands it chains."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from research.cli import main
from research.data.synthetic import generate_universe
from research.layout import ArtifactLayout
from shared.config import parse_config

SEED_RESULT_COLUMNS = [
    "window",
    "entry_z",
    "exit_z",
    "stop_z",
    "stake",
    "long_only",
    "delta",
    "R",
    "final_value",
    "total_return",
    "sharpe_ratio",
    "max_dd_pct",
    "max_dd_abs",
    "total_trades",
    "n_days",
]


@pytest.fixture
def small_grid(tmp_path: Path) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(
        "window = [45, 60]\nentry_z = [2.0]\nexit_z = [0.5]\nstop_z = [3.5]\n"
        "stake = [25]\nlong_only = [false, true]\n"
    )
    return path


def _config(layout: ArtifactLayout):
    return parse_config(layout.config_json.read_text(), source=str(layout.config_json))


def test_run_on_the_synthetic_sample_writes_every_seed_artifact(tmp_path, small_grid) -> None:
    layout = ArtifactLayout(tmp_path / "base")
    argv = ["run", "--base-dir", str(layout.base_dir), "--generate", "--grid", str(small_grid)]
    argv += ["--start", "2019-01-02", "--end", "2020-06-30", "--engine", "reference"]
    assert main([*argv, "--no-progress"]) == 0

    cleaned = pd.read_csv(layout.cleaned_prices, parse_dates=["date"], index_col="date")
    assert cleaned.shape == (len(pd.bdate_range("2019-01-02", "2020-06-30")), 14)
    screened = pd.read_csv(layout.pairs_csv)
    assert {"asset_1", "asset_2", "pvalue", "hedge_ratio"} <= set(screened.columns)
    assert (screened["pvalue"] < 0.05).all() and len(screened) >= 2
    results = pd.read_csv(layout.results_csv)
    assert list(results.columns[: len(SEED_RESULT_COLUMNS)]) == SEED_RESULT_COLUMNS
    assert len(results) == 4 and results["sharpe_ratio"].is_monotonic_decreasing

    config = _config(layout)
    selected = pd.read_csv(layout.selected_pairs_csv)
    assert [(p.asset_1, p.asset_2) for p in config.pairs] == list(
        zip(selected["asset_1"], selected["asset_2"], strict=True)
    )
    assert ("SYN_A", "SYN_B") in [(p.asset_1, p.asset_2) for p in config.pairs]
    assert config.data.source == "synthetic(seed=27)"
    assert config.data.first_session == date(2019, 1, 2)
    assert config.data.last_session == date(2020, 6, 30)
    assert config.window == int(results.loc[0, "window"])
    assert json.loads(layout.cleaning_report.read_text())["dropped"] == []
    assert sorted(p.name for p in layout.reports_dir.glob("*.png")), "no report plots"


def test_run_imports_a_csv_and_records_its_source(tmp_path, small_grid) -> None:
    universe = generate_universe()
    universe.loc["2019-03-01":"2019-03-08", "SYN_J"] = float("nan")  # a gap to align away
    csv = tmp_path / "closes.csv"
    universe.rename_axis("Date").to_csv(csv)
    layout = ArtifactLayout(tmp_path / "base")

    argv = ["run", "--prices", str(csv), "--base-dir", str(layout.base_dir), "--no-plots"]
    argv += ["--grid", str(small_grid), "--engine", "reference", "--no-progress"]
    argv += ["--universe", "SYN_A,SYN_B,SYN_D,SYN_E,SYN_I,SYN_J"]
    assert main([*argv, "--end", "2022-12-30", "--max-pairs", "2"]) == 0

    config = _config(layout)
    assert config.data.source == "csv:closes.csv"
    assert [(p.asset_1, p.asset_2) for p in config.pairs] == [
        ("SYN_A", "SYN_B"),
        ("SYN_D", "SYN_E"),
    ]
    report = json.loads(layout.cleaning_report.read_text())
    assert report["sessions_dropped"] == 6 and report["last_session"] == "2022-12-30"
    assert report["kept"] == ["SYN_A", "SYN_B", "SYN_D", "SYN_E", "SYN_I", "SYN_J"]
    assert not list(layout.reports_dir.glob("*.png"))


def test_run_with_a_missing_price_file_fails_with_the_path(tmp_path, capsys) -> None:
    code = main(["run", "--prices", str(tmp_path / "nope.csv"), "--base-dir", str(tmp_path)])
    assert code == 2
    assert "nope.csv: no such price file" in capsys.readouterr().err


def test_prices_generate_then_select_run_as_separate_steps(tmp_path, capsys) -> None:
    base = tmp_path / "base"
    assert main(["prices", "generate", "--base-dir", str(base), "--sessions", "300"]) == 0
    layout = ArtifactLayout(base)
    assert pd.read_csv(layout.cleaned_prices).shape == (300, 15)  # date + 14 tickers
    pd.DataFrame(
        {
            "asset_1": ["SYN_A", "SYN_A", "SYN_D"],
            "asset_2": ["SYN_B", "SYN_C", "SYN_E"],
            "corr": [0.8, 0.7, 0.9],
            "pvalue": [0.001, 0.0001, 0.01],
            "hedge_ratio": [0.6, 0.33, 1.3],
        }
    ).to_csv(layout.pairs_csv, index=False)
    assert main(["select", "--base-dir", str(base), "--max-pairs", "3"]) == 0
    selected = pd.read_csv(layout.selected_pairs_csv)
    assert list(zip(selected["asset_1"], selected["asset_2"], strict=True)) == [
        ("SYN_A", "SYN_C"),
        ("SYN_D", "SYN_E"),
    ]
    assert "Selected 2 of 3 screened pair(s)" in capsys.readouterr().out


def test_prices_import_drops_bad_tickers_and_says_why(tmp_path, capsys) -> None:
    frame = generate_universe(n_sessions=300)[["SYN_A", "SYN_B", "SYN_C"]]
    frame["SYN_C"] = frame["SYN_C"].where(frame.index < "2019-06-01")  # stops trading
    csv = tmp_path / "in.csv"
    frame.to_csv(csv)
    assert main(["prices", "import", str(csv), "--base-dir", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "dropped SYN_C: prices on only 108 of 300 sessions" in out
    cleaned = pd.read_csv(ArtifactLayout(tmp_path / "b").cleaned_prices, index_col="date")
    assert list(cleaned.columns) == ["SYN_A", "SYN_B"]
