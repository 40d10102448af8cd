"""The files people actually have, through the command line: each is refused or cleaned with
the ticker, the date and the reason, and a failed run leaves the base directory untouched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from research.cli import main
from research.data.synthetic import generate_universe
from research.layout import ArtifactLayout
from shared.config import parse_config
from tests.unit.test_verify_arbitration import flat_after_30

TICKERS = ["SYN_A", "SYN_B", "SYN_C", "SYN_D"]
GRID = "window = [20]\nentry_z = [2.0]\nexit_z = [0.5]\nstop_z = [3.5]\nstake = [25]\nlong_only = [false]\n"  # fmt: skip
OTHER_GRID = GRID.replace("entry_z = [2.0]", "entry_z = [1.5]")
BAD_DAY = "2019-06-03"


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    """300 sessions of four synthetic tickers; SYN_A/SYN_B is a planted cointegrated pair."""
    frame = generate_universe(n_sessions=300)[TICKERS]
    frame.index = frame.index.strftime("%Y-%m-%d")
    frame.index.name = "date"
    return frame


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path)
    return path


def _with_cell(frame: pd.DataFrame, ticker: str, day: str, text: str) -> pd.DataFrame:
    out = frame.astype(object)
    out.loc[day, ticker] = text
    return out


def _grid(tmp_path: Path, text: str = GRID, name: str = "grid.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _run(base: Path, csv: Path, grid: Path, *extra: str) -> int:
    argv = ["run", "--base-dir", str(base), "--prices", str(csv), "--grid", str(grid)]
    return main([*argv, "--engine", "reference", "--no-plots", "--no-progress", *extra])


def _snapshot(base: Path) -> dict[str, bytes]:
    return {str(p.relative_to(base)): p.read_bytes() for p in base.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("inf", f"non-finite close inf on {BAD_DAY}"),
        ("Infinity", f"non-finite close inf on {BAD_DAY}"),
        ("1e300", f"absurd close 1e+300 on {BAD_DAY} (above 1e+08)"),
    ],
)
def test_prices_import_drops_a_ticker_with_an_infinite_or_absurd_close_naming_it(
    tmp_path: Path, prices: pd.DataFrame, capsys: pytest.CaptureFixture[str], cell: str, reason: str
) -> None:
    csv = _csv(_with_cell(prices, "SYN_C", BAD_DAY, cell), tmp_path / "edited.csv")
    assert main(["prices", "import", str(csv), "--base-dir", str(tmp_path / "b")]) == 0
    assert f"dropped SYN_C: {reason}" in capsys.readouterr().out
    cleaned = pd.read_csv(ArtifactLayout(tmp_path / "b").cleaned_prices, index_col="date")
    assert list(cleaned.columns) == ["SYN_A", "SYN_B", "SYN_D"]
    assert np.isfinite(cleaned.to_numpy()).all()


def test_run_screens_the_other_tickers_when_one_has_inf_and_writes_no_inf(
    tmp_path: Path, prices: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = _csv(_with_cell(prices, "SYN_C", BAD_DAY, "inf"), tmp_path / "edited.csv")
    assert _run(tmp_path / "b", csv, _grid(tmp_path)) == 0
    assert f"dropped SYN_C: non-finite close inf on {BAD_DAY}" in capsys.readouterr().err
    layout = ArtifactLayout(tmp_path / "b")
    cleaned = pd.read_csv(layout.cleaned_prices, index_col="date")
    assert "SYN_C" not in cleaned.columns and np.isfinite(cleaned.to_numpy()).all()
    screened = pd.read_csv(layout.pairs_csv)
    assert np.isfinite(screened[["coint_t", "hedge_ratio"]].to_numpy()).all()


def test_backtest_refuses_inf_in_a_traded_ticker_and_exits_2(
    tmp_path: Path, prices: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path / "b", _csv(prices, tmp_path / "good.csv"), _grid(tmp_path)) == 0
    config = ArtifactLayout(tmp_path / "b").config_json
    bad = _csv(_with_cell(prices, "SYN_A", BAD_DAY, "Infinity"), tmp_path / "bad.csv")
    capsys.readouterr()
    assert main(["backtest", "--prices", str(bad), "--config", str(config), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"bad.csv: ticker SYN_A: non-finite close inf on {BAD_DAY}" in captured.err


def test_a_frozen_ticker_is_dropped_by_the_screen_unless_the_check_is_off(
    tmp_path: Path, prices: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    frozen = prices.copy()
    frozen.iloc[100:230, frozen.columns.get_loc("SYN_D")] = frozen["SYN_D"].iloc[100]
    csv = _csv(frozen, tmp_path / "frozen.csv")
    argv = ["screen", "--base-dir", str(tmp_path / "b"), "--prices", str(csv), "--pvalue", "1"]
    assert main([*argv, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "dropped SYN_D from" in err and "frozen: the close stays" in err
    assert f"for 130 sessions ({frozen.index[100]} .. {frozen.index[229]}" in err
    table = pd.read_csv(ArtifactLayout(tmp_path / "b").pairs_csv)
    assert "SYN_D" not in set(table["asset_1"]) | set(table["asset_2"])
    assert main([*argv, "--no-progress", "--frozen-sessions", "0"]) == 0
    table = pd.read_csv(ArtifactLayout(tmp_path / "b").pairs_csv)
    assert "SYN_D" in set(table["asset_1"]) | set(table["asset_2"])


@pytest.mark.parametrize("level", [1.0, 100.0, 12345.678])
def test_a_constant_ticker_never_aborts_the_screen(
    tmp_path: Path, prices: pd.DataFrame, capsys: pytest.CaptureFixture[str], level: float
) -> None:
    constant = prices.assign(SYN_D=level)
    csv = _csv(constant, tmp_path / "constant.csv")
    argv = ["screen", "--base-dir", str(tmp_path / "b"), "--prices", str(csv), "--pvalue", "1"]
    assert main([*argv, "--no-progress"]) == 0
    assert f"dropped SYN_D from {csv}: constant close {level:g} on all 300" in (
        capsys.readouterr().err
    )
    table = pd.read_csv(ArtifactLayout(tmp_path / "b").pairs_csv)
    assert len(table) == 3  # the three pairs of the other tickers


def test_ambiguous_day_month_dates_are_refused_unless_a_format_is_given(
    tmp_path: Path, prices: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    early = prices.loc[:"2019-01-11"]  # only days 1..12 of the month: either order fits
    short = early.set_axis(pd.to_datetime(early.index).strftime("%d/%m/%Y"), axis=0)
    csv = _csv(short.rename_axis("date"), tmp_path / "ddmm.csv")
    base = str(tmp_path / "b")
    assert main(["prices", "import", str(csv), "--base-dir", base, "--min-bars", "5"]) == 2
    err = capsys.readouterr().err
    assert "ambiguous dates: '02/01/2019' could be day/month or month/day" in err
    assert "--date-format %d/%m/%Y (day first) or %m/%d/%Y (month first)" in err
    argv = ["prices", "import", str(csv), "--base-dir", base, "--min-bars", "5"]
    assert main([*argv, "--date-format", "%d/%m/%Y"]) == 0
    cleaned = pd.read_csv(ArtifactLayout(base).cleaned_prices, index_col="date")
    assert list(cleaned.index) == list(early.index)


def test_day_first_dates_that_settle_the_order_are_read_day_first(
    tmp_path: Path, prices: pd.DataFrame
) -> None:
    ddmm = prices.set_axis(pd.to_datetime(prices.index).strftime("%d/%m/%Y"), axis=0)
    csv = _csv(ddmm.rename_axis("date"), tmp_path / "ddmm.csv")
    assert main(["prices", "import", str(csv), "--base-dir", str(tmp_path / "b")]) == 0
    cleaned = pd.read_csv(ArtifactLayout(tmp_path / "b").cleaned_prices, index_col="date")
    assert list(cleaned.index) == list(prices.index)


def test_a_row_dated_2030_is_refused_with_its_line(
    tmp_path: Path, prices: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    future = pd.concat([prices, prices.iloc[[-1]].set_axis(["2030-01-02"], axis=0)])
    csv = _csv(future.rename_axis("date"), tmp_path / "future.csv")
    assert main(["prices", "import", str(csv), "--base-dir", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert f"line {len(prices) + 2}: session 2030-01-02 is in the future" in err
    assert not (tmp_path / "b" / "data").exists()


def test_a_rerun_keeps_the_earlier_config_recoverable_by_its_id(
    tmp_path: Path, prices: pd.DataFrame
) -> None:
    base, csv = tmp_path / "b", _csv(prices, tmp_path / "p.csv")
    layout = ArtifactLayout(base)
    assert _run(base, csv, _grid(tmp_path)) == 0
    first = layout.config_json.read_bytes()
    first_id = parse_config(first.decode(), source="first").config_id
    assert _run(base, csv, _grid(tmp_path, OTHER_GRID, "other.toml")) == 0
    second_id = parse_config(layout.config_json.read_text(), source="second").config_id
    assert second_id != first_id
    assert (layout.config_history_dir / f"{first_id}.json").read_bytes() == first
    assert (layout.config_history_dir / f"{second_id}.json").read_bytes() == (
        layout.config_json.read_bytes()
    )


def test_a_rerun_that_fails_at_the_screen_leaves_the_base_directory_untouched(
    tmp_path: Path, prices: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "b"
    assert _run(base, _csv(prices, tmp_path / "p.csv"), _grid(tmp_path)) == 0
    before = _snapshot(base)
    other = _csv(prices.iloc[:-20], tmp_path / "shorter.csv")  # new prices, then a failure
    assert _run(base, other, _grid(tmp_path), "--pvalue", "1e-300") == 2
    assert "no pair of 4 tickers passes pvalue < 1e-300" in capsys.readouterr().err
    assert _snapshot(base) == before


def test_a_stake_beyond_the_cash_is_warned_about_and_emits_no_config_unless_asked(
    tmp_path: Path, prices: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "b"
    assert _run(base, _csv(prices, tmp_path / "p.csv"), _grid(tmp_path)) == 0
    before = _snapshot(base)
    huge = _grid(tmp_path, GRID.replace("stake = [25]", "stake = [1000000]"), "huge.toml")
    argv = ["optimize", "--base-dir", str(base), "--grid", str(huge), "--engine", "reference"]
    argv += ["--no-plots", "--no-progress"]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "warning: stake 1e+06 on SYN_A/SYN_B is infeasible" in err
    assert "made no trade" in err and "no config emitted" in err
    assert _snapshot(base) == before
    assert main([*argv, "--allow-no-trades"]) == 0
    assert "emitting it anyway (--allow-no-trades)" in capsys.readouterr().err
    config = parse_config(ArtifactLayout(base).config_json.read_text(), source="c")
    assert config.stake == 1_000_000


@pytest.mark.parametrize(("sessions", "code"), [(59, 2), (60, 0)])
def test_the_screen_needs_60_sessions_and_says_why(
    tmp_path: Path,
    prices: pd.DataFrame,
    capsys: pytest.CaptureFixture[str],
    sessions: int,
    code: int,
) -> None:
    csv = _csv(prices.iloc[:sessions], tmp_path / "short.csv")
    argv = ["screen", "--base-dir", str(tmp_path / "b"), "--prices", str(csv), "--no-progress"]
    assert main(argv) == code
    err = capsys.readouterr().err
    if code:
        assert f"only {sessions} sessions of prices: the screen needs at least 60" in err
        assert "at 20 sessions every pair picks the maximum lag" in err


def _process(*argv: str) -> subprocess.CompletedProcess[str]:
    """The installed CLI in a real process (what an operator sees, traceback or not)."""
    code = "import sys; from research.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120
    )


def test_a_base_dir_that_is_a_file_is_an_operator_error_without_traceback(
    tmp_path: Path, prices: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "not_a_dir"
    a_file.write_text("x")
    csv = _csv(prices, tmp_path / "p.csv")
    done = _process("prices", "import", str(csv), "--base-dir", str(a_file))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"--base-dir {a_file}: is a file, not a directory" in done.stderr
    under = a_file / "sub"
    assert main(["prices", "import", str(csv), "--base-dir", str(under)]) == 2
    assert f"--base-dir {under}: cannot create it (Not a directory)" in capsys.readouterr().err


def test_an_unwritable_base_dir_is_an_operator_error_without_traceback(
    tmp_path: Path, prices: pd.DataFrame
) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes through directory permissions")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    done = _process(
        "prices", "import", str(_csv(prices, tmp_path / "p.csv")), "--base-dir", str(locked)
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"--base-dir {locked}: cannot write in it" in done.stderr


def test_screen_verify_passes_where_the_screen_is_right_and_statsmodels_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = flat_after_30()
    frame.index = frame.index.strftime("%Y-%m-%d")
    csv = _csv(frame.rename_axis("date"), tmp_path / "flat.csv")
    argv = ["screen", "--base-dir", str(tmp_path / "b"), "--prices", str(csv), "--verify", "1"]
    assert main([*argv, "--frozen-sessions", "0", "--pvalue", "1", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "verify: statsmodels differs on FLATA/FLATB" in err
    assert "(the screen is right, statsmodels is off)" in err


def test_sweep_and_walkforward_drop_a_bad_ticker_with_its_reason(
    tmp_path: Path, prices: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = _csv(_with_cell(prices, "SYN_D", BAD_DAY, "-inf"), tmp_path / "edited.csv")
    base = tmp_path / "b"
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"asset_1": ["SYN_A"], "asset_2": ["SYN_B"], "hedge_ratio": [0.6]}).to_csv(
        pairs, index=False
    )
    grid = _grid(tmp_path)
    argv = ["walkforward", "--base-dir", str(base), "--prices", str(csv), "--pairs", str(pairs)]
    argv += ["--grid", str(grid), "--engine", "reference", "--train", "150", "--test", "50"]
    assert main([*argv, "--splits", "4", "--no-plots", "--quiet"]) == 0
    assert f"dropped SYN_D from {csv}: non-finite close -inf on {BAD_DAY}" in (
        capsys.readouterr().err
    )
    argv = ["sweep", "--base-dir", str(base), "--prices", str(csv), "--pairs", str(pairs)]
    assert main([*argv, "--grid", str(grid), "--workers", "1", "--no-progress"]) == 0
    assert f"dropped SYN_D from {csv}: non-finite close -inf on {BAD_DAY}" in (
        capsys.readouterr().err
    )
