"""Operator mistakes and damaged state files, on real processes: exit 2, a message naming the
path or key and what to do, no traceback, and nothing changed on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from daemon.store import DB_NAME
from daemon.store.files import BROKER_DB_NAME
from tests.unit.daemon_helpers import make_closes, make_config, write_inputs


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    closes = make_closes(40)
    prices, cfg = write_inputs(tmp_path, closes, make_config(closes))
    return {"prices": prices, "config": cfg, "state": tmp_path / "state", "tmp": tmp_path}


def _daemon(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon.commands.cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _once(s: dict[str, Path], *extra: str | Path, state: Path | None = None) -> Any:
    return _daemon(
        "--config",
        s["config"],
        "--prices",
        s["prices"],
        "--state-dir",
        state or s["state"],
        "once",
        *extra,
    )


def _refused(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


def test_a_state_dir_that_is_a_file_is_refused(setup: dict[str, Path]) -> None:
    setup["state"].write_text("not a directory", encoding="utf-8")
    _refused(_once(setup), str(setup["state"]), "is a file", "state_dir")
    _refused(_once(setup, state=setup["state"] / "sub"), "cannot create state directory")
    assert setup["state"].read_text(encoding="utf-8") == "not a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_a_read_only_state_dir_is_refused(setup: dict[str, Path]) -> None:
    setup["state"].mkdir()
    setup["state"].chmod(0o555)
    try:
        _refused(_once(setup), str(setup["state"]), "not writable")
    finally:
        setup["state"].chmod(0o755)


def test_a_csv_path_that_is_a_directory_is_refused(setup: dict[str, Path]) -> None:
    proc = _daemon(
        "--config",
        setup["config"],
        "--prices",
        setup["tmp"],
        "--state-dir",
        setup["state"],
        "once",
    )
    _refused(proc, "data.csv_path", str(setup["tmp"]), "is a directory")
    assert not setup["state"].exists()


def test_an_unknown_timezone_is_refused_before_the_service_starts(
    setup: dict[str, Path],
) -> None:
    settings = setup["tmp"] / "daemon.toml"
    settings.write_text(
        f'config = "{setup["config"]}"\nstate_dir = "{setup["state"]}"\n'
        f'[data]\nfeed = "csv"\ncsv_path = "{setup["prices"]}"\n'
        '[schedule]\ntimezone = "Mars/Olympus_Mons"\n',
        encoding="utf-8",
    )
    _refused(_daemon("--settings", settings, "run"), "schedule.timezone", "IANA")


def test_a_zero_length_store_is_refused_and_left_empty(setup: dict[str, Path]) -> None:
    setup["state"].mkdir()
    (setup["state"] / DB_NAME).write_bytes(b"")
    _refused(_once(setup), "empty (zero bytes)", "Restore it from a backup")
    assert (setup["state"] / DB_NAME).stat().st_size == 0
    _refused(_daemon("--state-dir", setup["state"], "status"), "empty (zero bytes)")


def _traded(setup: dict[str, Path]) -> None:
    report = _daemon(
        "replay",
        "--prices",
        setup["prices"],
        "--config",
        setup["config"],
        "--start",
        "2023-01-02",
        "--end",
        "2023-02-24",
        "--state-dir",
        setup["state"],
    )
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["fills"], "the fixture must trade"


def test_a_missing_broker_book_beside_a_store_with_fills_is_refused(
    setup: dict[str, Path],
) -> None:
    _traded(setup)
    (setup["state"] / BROKER_DB_NAME).unlink()
    _refused(_once(setup), BROKER_DB_NAME, "is missing", "fill(s)")
    assert not (setup["state"] / BROKER_DB_NAME).exists()  # not re-created with fresh cash


def test_a_missing_store_beside_a_broker_book_with_orders_is_refused(
    setup: dict[str, Path],
) -> None:
    _traded(setup)
    for name in os.listdir(setup["state"]):
        if name.startswith(DB_NAME):
            (setup["state"] / name).unlink()
    _refused(_once(setup), DB_NAME, "is missing", "order(s)")
    assert not (setup["state"] / DB_NAME).exists()


def test_rewarm_is_a_command_that_reports_what_it_replaced(setup: dict[str, Path]) -> None:
    _traded(setup)
    closes = pd.read_csv(setup["prices"], index_col=0)
    closes.iloc[5, 0] += 0.25  # the vendor restated an old bar
    closes.to_csv(setup["prices"])
    proc = _daemon(
        "--config",
        setup["config"],
        "--prices",
        setup["prices"],
        "--state-dir",
        setup["state"],
        "rewarm",
    )
    assert proc.returncode == 0, proc.stderr
    assert "re-warmed on the feed's history" in proc.stdout
    assert "AAA      factor fresh/stored 1  restated bars 1" in proc.stdout
