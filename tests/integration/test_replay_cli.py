"""The ``pairs-daemon`` command line: replay (parity with simulate), once, status, reconcile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.commands.cli import main
from shared.simulation import simulate
from tests.unit.daemon_helpers import make_closes, make_config, read_closes, write_inputs

N_BARS = 70


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    closes = make_closes(N_BARS, seed=5)
    return write_inputs(tmp_path, closes, make_config(closes))


def _replay(prices: Path, cfg: Path, state: Path, start: str, end: str) -> list[str]:
    return [
        "replay",
        "--prices", str(prices),
        "--config", str(cfg),
        "--start", start,
        "--end", end,
        "--state-dir", str(state),
        "--no-fsync",
    ]  # fmt: skip


def test_replay_prints_the_fills_and_equity_of_simulate(
    inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices, cfg_path = inputs
    closes = read_closes(prices)
    start, end = closes.index[10].isoformat(), closes.index[-1].isoformat()
    assert main(_replay(prices, cfg_path, tmp_path / "state", start, end)) == 0
    report = json.loads(capsys.readouterr().out)
    cfg = make_config(make_closes(N_BARS, seed=5))
    sim = simulate(
        closes.to_numpy(),
        list(closes.columns),
        cfg.pair_list,
        cfg.params,
        cfg.initial_cash,
        cfg.commission,
        trade_from_bar=10,
    )
    assert report["final_equity"] == pytest.approx(sim.values[-1], rel=1e-9)
    assert [(f["session"], f["symbol"], f["quantity"]) for f in report["fills"]] == [
        (closes.index[f.bar].isoformat(), f.symbol, f.signed_quantity) for f in sim.fills
    ]
    assert report["sessions"] == N_BARS - 10 and report["failed"] is None

    assert main(["--state-dir", str(tmp_path / "state"), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["last_completed_session"] == end
    assert status["equity"]["equity"] == pytest.approx(sim.values[-1], rel=1e-9)
    assert main(["--state-dir", str(tmp_path / "state"), "status"]) == 0
    assert "equity:" in capsys.readouterr().out


def test_once_with_a_settings_file_runs_then_reports_already_done(
    inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices, cfg_path = inputs
    settings = tmp_path / "daemon.toml"
    settings.write_text(
        f'config = "{cfg_path.name}"\nstate_dir = "state"\n'
        f'[data]\nfeed = "csv"\ncsv_path = "{prices.name}"\n',
        encoding="utf-8",
    )
    first = read_closes(prices).index[0].isoformat()
    assert main(["--settings", str(settings), "once", "--session", first]) == 0
    out = capsys.readouterr().out
    assert f"{first}: completed" in out and '"event": "session_summary"' in out
    assert main(["--settings", str(settings), "once", "--session", first]) == 0
    assert f"{first}: already_done" in capsys.readouterr().out
    assert main(["--settings", str(settings), "reconcile"]) == 0
    assert "store and broker agree" in capsys.readouterr().out


def test_errors_name_the_file_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "daemon.toml"
    bad.write_text('[data]\nfeed = "csv"\ncsv_path = "p.csv"\nbogus = 1\n', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "daemon.commands.cli", "--settings", str(bad), "status"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and "data.bogus" in proc.stderr
