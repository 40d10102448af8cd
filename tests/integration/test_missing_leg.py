"""A leg with no bar holds only its pair: real SQLite store, local paper broker, ``run_once``.

AAA/BBB is short the spread when BBB has no close for three sessions (a halt); on complete data
it would exit inside that gap. CCC/DDD trades on as if AAA/BBB were not configured.
"""

from __future__ import annotations

import io
import math
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from daemon.config.settings import BrokerSettings, DaemonSettings, DataSettings
from daemon.monitoring.alerts import alerts
from daemon.store import Store
from tests.unit.daemon_helpers import log_events, make_closes, make_config, run_sessions

N_SESSIONS = 50
GAP = slice(36, 39)  # sessions 36..38: BBB has no bar; the complete run exits AAA/BBB at 38
PAIR_AB = {"asset_1": "AAA", "asset_2": "BBB", "hedge_ratio": 1.4}
PAIR_CD = {"asset_1": "CCC", "asset_2": "DDD", "hedge_ratio": 0.9}


def _run(
    tmp: Path, closes: pd.DataFrame, pairs: list[dict[str, Any]], logs: io.StringIO | None = None
) -> Store:
    """Write the inputs into ``tmp``, run every session of ``closes``, return the store."""
    tmp.mkdir()
    prices = tmp / "prices.csv"
    closes.to_csv(prices)
    config = make_config(closes, pairs=pairs)
    cfg = tmp / "config.json"
    cfg.write_text(config.model_dump_json(), encoding="utf-8")
    settings = DaemonSettings(
        config=cfg,
        state_dir=tmp / "state",
        broker=BrokerSettings(kind="local"),
        data=DataSettings(
            feed="csv", csv_path=prices, calendar_check=False, delisted_after_sessions=3
        ),
    )
    results = run_sessions(settings, list(closes.index), logs)
    assert [r.status for r in results] == ["completed"] * len(closes), results
    return Store.open(settings.state_dir, lock=False, read_only=True)


def _orders(store: Store, symbols: set[str]) -> list[tuple[date, str, str, int, str]]:
    return [
        (i.session, i.symbol, i.side, i.quantity, i.status)
        for i in store.intents()
        if i.symbol in symbols
    ]


def _decision(store: Store, session: date, pair: str) -> Any:
    (found,) = [d for d in store.decisions(session) if d.pair == pair]
    return found


def test_a_missing_leg_holds_its_pair_while_the_other_pair_trades(tmp_path: Path) -> None:
    complete = make_closes(N_SESSIONS, seed=7)
    sessions = list(complete.index)
    gap = sessions[GAP]
    halted = complete.copy()
    halted.loc[gap, "BBB"] = np.nan

    full = _run(tmp_path / "complete", complete, [PAIR_AB, PAIR_CD])
    logs = io.StringIO()
    held = _run(tmp_path / "halted", halted, [PAIR_AB, PAIR_CD], logs)
    alone = _run(tmp_path / "cd_only", halted, [PAIR_CD])
    # The pair on its own closes, the gap sessions dropped (research's dropna + intersection).
    own = _run(tmp_path / "ab_own", complete.drop(index=gap), [PAIR_AB])

    # The scenario bites: on complete data AAA/BBB is short before the gap and exits inside it.
    before = sessions[GAP.start - 1]
    assert _decision(full, before, "AAA/BBB").state == -1
    assert any(_decision(full, d, "AAA/BBB").action == "exit" for d in gap)

    # The other pair's orders are those of a run without the first pair.
    cd = {"CCC", "DDD"}
    assert _orders(held, cd) == _orders(alone, cd)
    assert _orders(held, cd), "CCC/DDD must trade in the scenario"

    # The held pair: no order, no step during the gap; its position stays at the broker.
    assert not [o for o in _orders(held, {"AAA", "BBB"}) if o[0] in gap]
    kept = _decision(held, before, "AAA/BBB").pair_state
    for d in gap:
        decision = _decision(held, d, "AAA/BBB")
        assert (decision.action, decision.z, decision.state) == ("hold", None, -1)
        assert decision.pair_state == kept
    marks = {e.session: e for e in held.equity_series()}
    for d in gap:
        assert marks[d].positions == marks[before].positions
        assert math.isfinite(marks[d].equity)

    # After the gap it resumes as the backtest on the pair's own closes does.
    for d in sessions[GAP.stop :]:
        mine, ref = _decision(held, d, "AAA/BBB"), _decision(own, d, "AAA/BBB")
        assert (mine.action, mine.state, mine.pair_state) == (ref.action, ref.state, ref.pair_state)
        assert mine.z == ref.z
    assert _orders(held, {"AAA", "BBB"}) == _orders(own, {"AAA", "BBB"})

    # missing_leg while BBB is missing, leg_delisted (critical) on the third session in a row;
    # both resolved by the first complete session.
    raised = [e for e in log_events(logs) if e["event"] == "alert"]
    assert [(e["session"], e["code"]) for e in raised] == [
        (gap[0].isoformat(), "missing_leg"),
        (gap[1].isoformat(), "missing_leg"),
        (gap[2].isoformat(), "missing_leg"),
        (gap[2].isoformat(), "leg_delisted"),
    ]
    assert all(e["symbol"] == "BBB" for e in raised)
    stored = {a.code: a for a in alerts(held)}
    assert stored["missing_leg"].session == gap[2] and stored["missing_leg"].resolved_at
    assert stored["leg_delisted"].severity == "critical" and stored["leg_delisted"].resolved_at
    assert "AAA/BBB" in stored["missing_leg"].message
    assert len(alerts(held)) == 2  # one row per condition, updated while it lasts
