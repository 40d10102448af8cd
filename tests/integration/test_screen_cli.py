"""``pairs-research screen`` end to end on a small synthetic universe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.cli import main
from research.layout import ArtifactLayout
from research.screen.pipeline import SEED_COLUMNS

PLANTED = {("SYN_A", "SYN_B"), ("SYN_C", "SYN_D"), ("SYN_E", "SYN_F")}
FREE = ("SYN_G", "SYN_H", "SYN_I", "SYN_J", "SYN_K")


@pytest.fixture(scope="module")
def universe() -> pd.DataFrame:
    """13 tickers, 500 sessions: three planted cointegrated pairs (AR(1) spreads) and free
    geometric random walks."""
    rng = np.random.default_rng(2024)
    n = 500
    closes: dict[str, np.ndarray] = {}
    for a, b in sorted(PLANTED):
        leg = 80.0 * np.exp(np.cumsum(rng.normal(0, 0.012, n)))
        spread = np.zeros(n)
        for t in range(1, n):
            spread[t] = 0.85 * spread[t - 1] + rng.normal(0, 0.8)
        closes[a], closes[b] = 20.0 + rng.uniform(0.5, 2.0) * leg + spread, leg
    for name in (*FREE, "SYN_L", "SYN_M"):
        closes[name] = rng.uniform(30, 200) * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    return pd.DataFrame(closes, index=pd.bdate_range("2022-01-03", periods=n, name="date"))


def _write(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index_label="date")
    return path


def _pairs(layout: ArtifactLayout) -> pd.DataFrame:
    return pd.read_csv(layout.pairs_csv)


def test_screen_reads_cleaned_prices_and_writes_the_seed_table(
    tmp_path: Path, universe: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = ArtifactLayout(tmp_path / "base")
    _write(universe, layout.cleaned_prices)
    assert main(["screen", "--base-dir", str(layout.base_dir), "--verify", "5"]) == 0
    table = _pairs(layout)
    assert tuple(table.columns[: len(SEED_COLUMNS)]) == SEED_COLUMNS
    assert table["pvalue"].is_monotonic_increasing and (table["pvalue"] < 0.05).all()
    assert set(table[["asset_1", "asset_2"]].itertuples(index=False, name=None)) >= PLANTED
    assert (table["n_obs"] == 500).all()
    err = capsys.readouterr().err
    assert "verified 5 sampled pairs against statsmodels" in err
    assert "lag mismatches 0" in err
    assert "about 3.9 pairs through by chance" in err  # 78 tests x 0.05


def test_fast_and_statsmodels_engines_write_the_same_table(
    tmp_path: Path, universe: pd.DataFrame
) -> None:
    prices = _write(universe[["SYN_A", "SYN_B", "SYN_C", "SYN_G", "SYN_H"]], tmp_path / "p.csv")
    tables = {}
    for engine in ("fast", "statsmodels"):
        layout = ArtifactLayout(tmp_path / engine)
        args = ["screen", "--base-dir", str(layout.base_dir), "--prices", str(prices)]
        assert main([*args, "--engine", engine, "--pvalue", "1", "--no-progress"]) == 0
        tables[engine] = _pairs(layout)
    fast, ref = tables["fast"], tables["statsmodels"]
    assert fast[["asset_1", "asset_2", "n_obs", "lag"]].equals(
        ref[["asset_1", "asset_2", "n_obs", "lag"]]
    )
    pd.testing.assert_frame_equal(fast, ref, check_exact=False, rtol=1e-11, atol=1e-12)


def test_qvalue_selection_and_both_directions_from_the_command_line(
    tmp_path: Path, universe: pd.DataFrame
) -> None:
    layout = ArtifactLayout(tmp_path / "base")
    _write(universe, layout.cleaned_prices)
    base = ["screen", "--base-dir", str(layout.base_dir), "--no-progress"]
    assert main([*base, "--select-on", "qvalue"]) == 0
    by_q = _pairs(layout)
    assert (by_q["qvalue"] < 0.05).all()
    assert main([*base, "--direction", "both", "--keep", "both"]) == 0
    both = _pairs(layout)
    keys = both.apply(lambda r: frozenset((r.asset_1, r.asset_2)), axis=1)
    assert (keys.value_counts() == 2).all()  # both orientations of every kept pair
    assert (both.groupby(keys)["pvalue"].max() < 0.05).all()


def test_johansen_method_from_the_command_line(tmp_path: Path, universe: pd.DataFrame) -> None:
    layout = ArtifactLayout(tmp_path / "base")
    _write(universe, layout.cleaned_prices)
    args = ["screen", "--base-dir", str(layout.base_dir), "--method", "johansen", "--no-progress"]
    assert main(args) == 0
    table = _pairs(layout)
    assert "max_eig_stat" in table.columns
    assert ("SYN_A", "SYN_B") in set(
        table[["asset_1", "asset_2"]].itertuples(index=False, name=None)
    )


def test_missing_prices_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["screen", "--base-dir", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "adj_close_wide.csv" in err and "prices" in err
