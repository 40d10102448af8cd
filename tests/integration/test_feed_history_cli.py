"""Feed faults a re-adjustment cannot explain, through ``pairs-daemon`` as real processes: 40
sessions replayed, then the file replaced by a faulty re-download (built as in
tests/unit/test_feed_faults.py: one factor per ticker, the noise of two real downloads, six
decimals) and ``once`` run on the next session."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.unit.daemon_helpers import make_closes, make_config, write_inputs
from tests.unit.test_feed_faults import _kinked_redownload, _redownload, _shifted_redownload

N_BARS, SWITCH = 60, 40


def _daemon(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon.commands.cli", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _events(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    found = []
    for line in (proc.stdout + "\n" + proc.stderr).splitlines():
        if line.startswith("{"):
            found.append(json.loads(line))
    return found


@pytest.fixture(scope="module")
def traded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """40 sessions replayed by a real process: the state every case starts from."""
    tmp = tmp_path_factory.mktemp("traded")
    closes = make_closes(N_BARS).round(6)
    prices, cfg = write_inputs(tmp, closes.iloc[:SWITCH], make_config(closes))
    days = list(closes.index)
    state = tmp / "state"
    proc = _daemon(
        "replay",
        "--prices",
        prices,
        "--config",
        cfg,
        "--start",
        days[0],
        "--end",
        days[SWITCH - 1],
        "--state-dir",
        state,
        "--no-fsync",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["sessions"] == SWITCH
    return {"closes": closes, "config": cfg, "state": state, "days": days}


@pytest.fixture
def case(traded: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    import shutil

    shutil.copytree(traded["state"], tmp_path / "state")
    return {**traded, "state": tmp_path / "state", "prices": tmp_path / "prices.csv"}


def _feed(case: dict[str, Any], frame: pd.DataFrame) -> None:
    frame.rename_axis("date").to_csv(case["prices"])


def _once(case: dict[str, Any], *extra: str | Path) -> subprocess.CompletedProcess[str]:
    session = case["days"][SWITCH]
    return _daemon(
        "--config",
        case["config"],
        "--prices",
        case["prices"],
        "--state-dir",
        case["state"],
        "once",
        *(extra or ("--session", session)),
    )


def _through_next(case: dict[str, Any]) -> pd.DataFrame:
    closes: pd.DataFrame = case["closes"]
    return closes.iloc[: SWITCH + 1]


def test_a_shifted_feed_stops_the_session_and_heals_when_the_feed_is_fixed(
    case: dict[str, Any],
) -> None:
    _feed(case, _shifted_redownload(_through_next(case)))
    stopped = _once(case)
    assert stopped.returncode == 1, stopped.stderr
    assert "fresh AAA equals the stored bars shifted by one session" in stopped.stdout
    assert "Traceback" not in stopped.stderr
    events = _events(stopped)
    assert [e["symbol"] for e in events if e["event"] == "history_mismatch"] == ["AAA"]
    assert not [e for e in events if e["event"] in ("bars_revised", "bars_rescaled")]
    check = _daemon(
        "--state-dir",
        case["state"],
        "--config",
        case["config"],
        "--prices",
        case["prices"],
        "check",
    )
    assert check.returncode == 2 and "session_failed" in check.stdout
    _feed(case, _redownload(_through_next(case)))  # the vendor fixes its dates
    healed = _once(case)
    assert healed.returncode == 0, healed.stdout + healed.stderr
    assert f"{case['days'][SWITCH]}: completed" in healed.stdout


def test_a_shifted_feed_the_operator_accepts_with_rewarm_trades_on(case: dict[str, Any]) -> None:
    _feed(case, _shifted_redownload(_through_next(case)))
    assert _once(case).returncode == 1
    rewarm = _daemon(
        "--config",
        case["config"],
        "--prices",
        case["prices"],
        "--state-dir",
        case["state"],
        "rewarm",
    )
    assert rewarm.returncode == 0, rewarm.stderr
    done = _once(case)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not [e for e in _events(done) if e["event"] == "history_mismatch"]


def test_a_kink_is_reported_with_its_session_and_both_factors(case: dict[str, Any]) -> None:
    _feed(case, _kinked_redownload(_through_next(case)))
    done = _once(case)
    assert done.returncode == 0, done.stdout + done.stderr
    [revised] = [e for e in _events(done) if e["event"] == "bars_revised"]
    day = case["days"][SWITCH - 10].isoformat()
    assert revised["kind"] == "factor_changed" and revised["symbol"] == "AAA"
    assert revised["changes"] == {day: [pytest.approx(0.99), pytest.approx(0.98)]}
    status = _daemon("--state-dir", case["state"], "status", "--json")
    kinds = {(r["symbol"], r["session"], r["kind"]) for r in json.loads(status.stdout)["revisions"]}
    assert kinds == {("AAA", day, "factor_changed")}
    # the new bar is on the stored scale with the factor at the end (0.98), not the median
    stored = _stored_close(case, case["days"][SWITCH], "AAA")
    assert stored == pytest.approx(case["closes"].iat[SWITCH, 0], rel=1e-6)


def _stored_close(case: dict[str, Any], session: date, symbol: str) -> float:
    from daemon.store import Store

    store = Store.open(case["state"], read_only=True)
    try:
        return float(store.bars([symbol]).at[session, symbol])
    finally:
        store.close()


def test_a_stored_session_deleted_from_the_feed_is_a_warning(case: dict[str, Any]) -> None:
    gone = case["days"][SWITCH - 7]
    _feed(case, _redownload(_through_next(case)).drop(index=gone))
    done = _once(case)
    assert done.returncode == 0, done.stdout + done.stderr
    [revised] = [e for e in _events(done) if e["event"] == "bars_revised"]
    assert revised["kind"] == "dropped" and revised["sessions"] == [gone.isoformat()]
    assert revised["level"] == "warning"


def test_a_row_dated_in_the_future_for_the_next_session_is_named(case: dict[str, Any]) -> None:
    frame = _through_next(case).copy()
    frame.index = [*case["days"][:SWITCH], date(2030, 1, 2)]  # the next session, typed wrong
    _feed(case, frame)
    settings = case["state"].parent / "daemon.toml"
    now = f"{case['days'][SWITCH].isoformat()}T21:30:00+00:00"
    settings.write_text(
        f'config = "{case["config"]}"\nstate_dir = "{case["state"]}"\n'
        f'[data]\nfeed = "csv"\ncsv_path = "{case["prices"]}"\n[clock]\nfixed_now = {now}\n',
        encoding="utf-8",
    )
    done = _daemon("--settings", settings, "once")
    assert done.returncode == 0  # nothing is due on the file's dates up to today ...
    assert f"last completed {case['days'][SWITCH - 1]}" in done.stdout
    [warned] = [e for e in _events(done) if e["event"] == "bar_refused"]  # ... but it is said
    assert warned["level"] == "warning" and warned["sessions"] == ["2030-01-02"]
    assert "dated after today" in warned["error"] and "real session is missing" in warned["error"]


def test_ticker_columns_in_lower_case_are_named_in_the_error(case: dict[str, Any]) -> None:
    _feed(case, _through_next(case).rename(columns=str.lower))
    stopped = _once(case)
    assert stopped.returncode == 1
    assert "has no column for AAA, but 'aaa': rename that column to AAA" in stopped.stdout


@pytest.mark.parametrize(
    ("symbol", "hint"),
    [
        ("aaa", "'aaa' is not a traded ticker, but AAA is: write AAA"),
        ("AAA ", "'AAA ' has spaces around it; write 'AAA'"),
    ],
)
def test_an_events_file_row_for_a_near_miss_ticker_is_refused(
    case: dict[str, Any], symbol: str, hint: str
) -> None:
    _feed(case, _through_next(case))
    events = case["state"].parent / "events.csv"
    events.write_text(
        "symbol,type,ex_date,ratio,amount,payable_date\n"
        f"{symbol},dividend,{case['days'][SWITCH]},,0.25,\n",
        encoding="utf-8",
    )
    settings = case["state"].parent / "daemon.toml"
    settings.write_text(
        f'config = "{case["config"]}"\nstate_dir = "{case["state"]}"\n'
        f'[data]\nfeed = "csv"\ncsv_path = "{case["prices"]}"\nevents_csv = "{events}"\n',
        encoding="utf-8",
    )
    stopped = _daemon("--settings", settings, "once", "--session", case["days"][SWITCH])
    assert stopped.returncode == 1
    assert f"events file {events}, line 2, column symbol" in stopped.stdout
    assert hint in stopped.stdout


def test_replay_over_a_shifted_feed_stops_at_the_first_new_session(case: dict[str, Any]) -> None:
    _feed(case, _shifted_redownload(_through_next(case)))
    proc = _daemon(
        "replay",
        "--prices",
        case["prices"],
        "--config",
        case["config"],
        "--start",
        case["days"][0],
        "--end",
        case["days"][SWITCH],
        "--state-dir",
        case["state"],
        "--no-fsync",
    )
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["sessions"] == SWITCH  # nothing new stored or traded
    assert report["failed"]["session"] == case["days"][SWITCH].isoformat()
    assert "fresh AAA equals the stored bars shifted by one session" in report["failed"]["message"]
