"""A strategy that lives, end to end in real processes: research on one window, replay,
research on a later window, ``deploy --dry-run`` (plan, nothing changed), a refused gate,
``deploy --force``, replay on, ``deploy --rollback``, replay on. Nothing is edited by hand.

The daemon's orders after each hand-over equal research's: the pairs the hand-over added trade
as ``pairs-research backtest --trade-from <hand-over>`` (its reference engine) trades them, and
the whole account equals the lifecycle reference backtest (shared/lifecycle.py) with the same
generations at the same sessions, whatever the dropped pairs do (drain or close)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from daemon.core.roster import config_slots
from shared.config import ProdConfig, parse_config
from shared.lifecycle import Generation, simulate_lifecycle
from shared.simulation import simulate

BIN = Path(sys.executable).parent
FIRST_TRADED = "2023-10-24"
HANDOVER_AT = "2024-05-15"


def _cli(tool: str, *args: str, expect: int = 0) -> str:
    done = subprocess.run(
        [str(BIN / tool), *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == expect, done.stderr[-3000:] + done.stdout[-3000:]
    return done.stdout


def _research(prices: Path, base: Path, start: str, end: str) -> ProdConfig:
    _cli("pairs-research", "run", "--prices", str(prices), "--start", start, "--end", end,
         "--base-dir", str(base), "--no-progress")  # fmt: skip
    return parse_config((base / "config" / "kalman_prod_config.json").read_text())


def _replay(prices: Path, config: Path, state: Path, start: str, end: str) -> dict[str, Any]:
    out = _cli("pairs-daemon", "replay", "--prices", str(prices), "--config", str(config),
               "--start", start, "--end", end, "--state-dir", str(state), "--no-fsync")  # fmt: skip
    report: dict[str, Any] = json.loads(out)
    assert report["failed"] is None
    return report


def _deploy(settings: Path, *args: str, expect: int = 0) -> dict[str, Any]:
    out = _cli("pairs-daemon", "--settings", str(settings), "deploy", *args, "--json",
               expect=expect)  # fmt: skip
    report: dict[str, Any] = json.loads(out)
    return report


def _fills(report: dict[str, Any], after: str = "") -> list[tuple[str, str, int]]:
    return [
        (f["session"], f["symbol"], f["quantity"]) for f in report["fills"] if f["session"] > after
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("lifecycle")
    _cli("pairs-research", "prices", "generate", "--base-dir", str(root / "market"),
         "--sessions", "1600")  # fmt: skip
    prices = root / "market" / "data" / "cleaned" / "adj_close_wide.csv"
    closes = pd.read_csv(prices, index_col=0, parse_dates=True)
    dates = [d.date().isoformat() for d in closes.index]
    first = _research(prices, root / "r1", dates[0], "2023-10-23")
    # The re-research a month later, on a later window: it yields different pairs.
    second = _research(prices, root / "r2", "2020-01-02", dates[_bar(dates, HANDOVER_AT) - 1])
    return {
        "root": root,
        "prices": prices,
        "closes": closes,
        "dates": dates,
        "first": first,
        "second": second,
    }


def _settings(root: Path, state: Path, config: Path, prices: Path, rule: str) -> Path:
    path = root / f"daemon_{rule}.toml"
    path.write_text(
        f'config = "{config}"\nstate_dir = "{state}"\n'
        f'[data]\nfeed = "csv"\ncsv_path = "{prices}"\ncalendar_check = false\n'
        f'[handover]\ndropped = "{rule}"\n',
        encoding="utf-8",
    )
    return path


def _bar(dates: list[str], session: str) -> int:
    return dates.index(session)


@pytest.mark.parametrize("rule", ["drain", "close"])
def test_deploy_hands_over_and_rolls_back_as_research_simulates(
    world: dict[str, Any], rule: str
) -> None:
    root, prices, dates = world["root"], world["prices"], world["dates"]
    closes: pd.DataFrame = world["closes"]
    state = root / f"state_{rule}"
    first_path = root / "r1" / "config" / "kalman_prod_config.json"
    settings = _settings(root, state, first_path, prices, rule)
    handover_at = HANDOVER_AT
    _replay(prices, first_path, state, FIRST_TRADED, dates[_bar(dates, handover_at) - 1])
    second: ProdConfig = world["second"]
    second_path = root / "r2" / "config" / "kalman_prod_config.json"
    assert second.config_id != world["first"].config_id

    # A dry run: the gates and the plan, nothing changed; the research evidence is weak, so a
    # gate refuses it (exit 2) with a table of every gate.
    db = (state / "pairs_daemon.sqlite").read_bytes()
    dry = _deploy(settings, str(second_path), "--dry-run", expect=2)
    assert not dry["gates_passed"] and not dry["deployed"]
    assert {g["gate"] for g in dry["gates"]} == {
        "min_dsr", "max_pbo", "min_oos_sharpe", "min_trades", "max_data_age_sessions"
    }  # fmt: skip
    failed = [g for g in dry["gates"] if not g["passed"]]
    assert failed and all(g["note"] or g["value"] is not None for g in failed)
    actions = {row["pair"]: row["action"] for row in dry["plan"]}
    assert "add" in actions.values() and set(actions) >= {
        f"{p.asset_1}/{p.asset_2}" for p in second.pairs
    }
    assert not (state / "deploy_request.json").exists()
    assert (state / "pairs_daemon.sqlite").read_bytes() == db
    refused = _deploy(settings, str(second_path), expect=2)
    assert not refused["deployed"] and not (state / "deploy_request.json").exists()

    forced = _deploy(settings, str(second_path), "--force")
    assert forced["deployed"] and forced["forced"]
    middle = dates[_bar(dates, handover_at) + 60]
    after_second = _replay(prices, first_path, state, handover_at, middle)

    # The pairs the hand-over added (all of them start flat) trade as the research backtest
    # from the hand-over trades them.
    added = [r["pair"] for r in dry["plan"] if r["action"] in ("add", "change")]
    window = closes.loc[str(second.data.first_session) : middle, second.symbols]
    alone = simulate(
        window.to_numpy(),
        second.symbols,
        second.pair_list,
        second.params,
        second.initial_cash,
        second.commission,
        trade_from_bar=window.index.searchsorted(pd.Timestamp(handover_at)),
    )
    legs = {s for name in added for s in name.split("/")}
    want = [
        (window.index[f.bar].date().isoformat(), f.symbol, f.signed_quantity)
        for f in alone.fills
        if f.symbol in legs and window.index[f.bar].date().isoformat() >= handover_at
    ]
    got = [f for f in _fills(after_second, handover_at) if f[1] in legs]
    assert got == want and want

    # Roll back while a pair of the second config holds a position.
    first: ProdConfig = world["first"]
    symbols = sorted({*first.symbols, *second.symbols})
    panel = closes.loc[:, symbols]
    generations = [
        Generation(_bar(dates, FIRST_TRADED), config_slots(first), 0),
        Generation(
            _bar(dates, handover_at),
            config_slots(second),
            _bar(dates, second.data.first_session.isoformat()),
        ),
    ]
    rollback_at = _holding_session(panel, symbols, generations, rule, first, second, middle, dates)
    _replay(prices, first_path, state, dates[_bar(dates, middle) + 1], rollback_at)
    back = _deploy(settings, "--rollback")
    assert back["deployed"] and back["rollback_of"] == 2
    assert any(r["action"] in ("drop", "change") and "holds" in r["detail"] for r in back["plan"])
    final = _replay(prices, first_path, state, dates[_bar(dates, rollback_at) + 1], dates[-1])

    # The whole account equals the lifecycle reference backtest with the same generations.
    generations.append(Generation(_bar(dates, rollback_at) + 1, config_slots(first), 0))
    life = simulate_lifecycle(
        panel.to_numpy(), symbols, generations, rule, first.initial_cash, first.commission
    )
    assert _fills(final) == [
        (dates[f.bar], f.symbol, f.signed_quantity)
        for f in life.fills
        if dates[f.bar] >= FIRST_TRADED
    ]
    assert final["final_equity"] == pytest.approx(float(life.values[-1]), rel=1e-9)
    plans = [[row.action.value for row in plan] for _, plan in life.handovers]
    assert len(plans) == 3 and "add" in plans[1]

    # status names the generations; the report marks both hand-overs, and the shadow model
    # (tracking) followed them: paper and model equal to the cent.
    status = json.loads(_cli("pairs-daemon", "--settings", str(settings), "status", "--json"))
    assert status["config_id"] == first.config_id
    assert [
        (g["generation"], g["config_id"], g["from_session"]) for g in status["generations"]
    ] == [
        (1, first.config_id, FIRST_TRADED),
        (2, second.config_id, handover_at),
        (3, first.config_id, dates[_bar(dates, rollback_at) + 1]),
    ]
    assert status["generations"][1]["forced"] and status["generations"][2]["rollback_of"] == 2
    report_dir = root / f"report_{rule}"
    _cli("pairs-daemon", "--settings", str(settings), "report", "--out", str(report_dir))
    html = (report_dir / "report.html").read_text()
    assert html.count(f'data-marker="{handover_at}"') == 2  # equity and drawdown charts
    tracking = json.loads((report_dir / "tracking.json").read_text())
    assert abs(tracking["sessions"][-1]["tracking_difference"]) < 0.01
    again = _deploy(settings, "--rollback", "--dry-run")
    assert again["config_id"] == second.config_id


def _holding_session(
    panel: pd.DataFrame,
    symbols: list[str],
    generations: list[Generation],
    rule: Any,
    first: ProdConfig,
    second: ProdConfig,
    after: str,
    dates: list[str],
) -> str:
    """The first session after ``after`` whose close finds a pair of the second config
    holding a position (per the reference), so the rollback drops or changes a held pair."""
    life = simulate_lifecycle(
        panel.to_numpy(), symbols, generations, rule, first.initial_cash, first.commission
    )
    held: dict[str, int] = {}
    legs = set(second.symbols)
    for bar in range(len(dates) - 40):
        for f in life.fills:
            if f.bar == bar:
                held[f.symbol] = held.get(f.symbol, 0) + f.signed_quantity
        if dates[bar] > after and any(held.get(s, 0) for s in legs):
            return dates[bar]
    raise AssertionError("the second config never holds after the middle session")
