"""Parity across re-optimisation: ``pairs-research walkforward --rescreen --handover RULE``
simulates one account that hands over to each fold's config; a daemon that trades the first
fold's config and is deployed each later fold's config (``pairs-daemon deploy``) on the same
sessions decides alike: the same fills, to the share, and the same equity. Real processes,
synthetic prices, nothing edited by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

BIN = Path(sys.executable).parent


def _cli(tool: str, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / tool), *args], capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    return done.stdout


# "close" only: the daemon replays 600 sessions, and draining across hand-overs is held to the
# lifecycle backtest by test_lifecycle_deploy.py and test_handover_cycle.py (both rules).
@pytest.mark.parametrize("rule", ["close"])
def test_a_daemon_deployed_at_each_refit_trades_the_walk_forward_account(
    tmp_path: Path, rule: str
) -> None:
    _cli("pairs-research", "prices", "generate", "--base-dir", str(tmp_path / "market"),
         "--sessions", "1100")  # fmt: skip
    prices = tmp_path / "market" / "data" / "cleaned" / "adj_close_wide.csv"
    base = tmp_path / "research"
    # A grid of quick entries and late exits, so pairs hold positions across refits and the
    # dropped ones drain or close (the seed's grid leaves them flat at every refit here).
    grid = tmp_path / "grid.toml"
    grid.write_text(
        "window = [20, 30]\nentry_z = [1.0, 1.5]\nexit_z = [0.2]\nstop_z = [3.0]\n"
        "stake = [25, 50]\nlong_only = [false]\n",
        encoding="utf-8",
    )
    _cli("pairs-research", "walkforward", "--prices", str(prices), "--base-dir", str(base),
         "--rescreen", "--handover", rule, "--train", "500", "--test", "150", "--grid",
         str(grid), "--quiet", "--no-record")  # fmt: skip
    reports = base / "reports"
    plans = pd.read_csv(reports / "walkforward_handover.csv")
    handovers = (
        plans.loc[plans["action"] != "none"].drop_duplicates("fold")[["fold", "date"]].to_numpy()
    )
    assert len(handovers) >= 3
    assert {"add", "drop"} <= set(plans["action"])
    assert plans["detail"].fillna("").str.contains("holds a position").sum() >= 2
    dates = [d for d in pd.read_csv(prices, index_col=0).index]
    config = lambda fold: reports / "walkforward_configs" / f"fold_{int(fold):02d}.json"  # noqa: E731
    settings = tmp_path / "daemon.toml"
    state = tmp_path / "state"
    settings.write_text(
        f'config = "{config(handovers[0][0])}"\nstate_dir = "{state}"\n'
        f'[data]\nfeed = "csv"\ncsv_path = "{prices}"\ncalendar_check = false\n'
        f'[handover]\ndropped = "{rule}"\n',
        encoding="utf-8",
    )
    last_test = pd.read_csv(reports / "walkforward_lifecycle_equity.csv")["date"].iloc[-1]
    report: dict[str, Any] = {}
    for k, (fold, start) in enumerate(handovers):
        if k:
            _cli("pairs-daemon", "--settings", str(settings), "deploy", str(config(fold)),
                 "--force")  # fmt: skip
        end = dates[dates.index(handovers[k + 1][1]) - 1] if k + 1 < len(handovers) else last_test
        out = _cli("pairs-daemon", "--settings", str(settings), "replay", "--prices", str(prices),
                   "--config", str(config(handovers[0][0])), "--state-dir", str(state),
                   "--start", str(start), "--end", str(end), "--no-fsync")  # fmt: skip
        report = json.loads(out)
        assert report["failed"] is None

    research = pd.read_csv(reports / "walkforward_lifecycle_fills.csv")
    want = list(zip(research["date"], research["symbol"], research["quantity"], strict=True))
    got = [(f["session"], f["symbol"], f["quantity"]) for f in report["fills"]]
    assert got == want and want
    equity = pd.read_csv(reports / "walkforward_lifecycle_equity.csv")
    assert report["final_equity"] == pytest.approx(float(equity["equity"].iloc[-1]), rel=1e-9)
    status = json.loads(_cli("pairs-daemon", "--settings", str(settings), "status", "--json"))
    assert [g["from_session"] for g in status["generations"]] == [str(d) for _, d in handovers]
