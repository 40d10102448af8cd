"""An empty cell (a halt) on one leg: the daemon on the local paper broker fills like research.

Research backtests a pair on its own closes (each series ``dropna``'d, the two intersected), so
a session on which either leg has no close does not exist for that pair: orders decided on the
session before the gap fill at the pair's next bar, the next session on which both legs trade,
at its close (backtrader 1.9.78.123, measured: daemon/adapters/local/broker.py). The daemon,
replayed session by session through the empty cells with the local paper broker, makes the
same fills at the same prices as that backtest, pair by pair; the other pair trades through
the gap as its own backtest does; the shadow model waits too, so paper and model agree.
"""

from __future__ import annotations

import io
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from daemon.monitoring.tracking import tracking_rows
from daemon.store import Store
from research.backtest.registry import get_engine
from research.data.market_data import align_closes
from shared.strategy import Pair
from tests.unit.daemon_helpers import (
    log_events,
    make_closes,
    make_config,
    read_closes,
    run_sessions,
    settings_for,
    write_inputs,
)

N_SESSIONS = 80
# With seed 7 the AAA/BBB backtest fills on bar 35 (decided on 34) and CCC/DDD fills on 35 too.
BBB_HALTED, AAA_HALTED = 35, 36  # AAA/BBB's next bar after 34 is 37
REL = 1e-9

Fills = list[tuple[date, str, int, float, float]]


def _own_backtest(closes: pd.DataFrame, pair: Pair, engine: str) -> tuple[Fills, pd.Series]:
    """The research backtest on the pair's own closes: fills and end-of-bar values."""
    frame = closes.copy()
    frame.index = pd.DatetimeIndex([pd.Timestamp(d) for d in frame.index])
    data = align_closes(frame, [pair.asset_1, pair.asset_2])
    config = make_config(closes)
    (result,) = get_engine(engine).run(
        data,
        [pair],
        [config.params],
        initial_cash=config.initial_cash,
        commission=config.commission,
        with_details=True,
    )
    assert result.fills is not None and result.values is not None
    dates = [d.date() for d in data.dates]
    fills = [
        (dates[f.bar], f.symbol, f.signed_quantity, f.price, f.commission) for f in result.fills
    ]
    return fills, pd.Series(np.asarray(result.values), index=dates)


def _same(got: Fills, want: Fills) -> bool:
    return len(got) == len(want) and all(
        g[:3] == w[:3] and math.isclose(g[3], w[3], rel_tol=REL) and math.isclose(g[4], w[4])
        for g, w in zip(got, want, strict=True)
    )


@pytest.mark.parametrize("engine", ["backtrader", "reference"])
def test_a_replay_through_an_empty_cell_fills_like_the_backtest_on_the_pairs_own_closes(
    tmp_path: Path, engine: str
) -> None:
    complete = make_closes(N_SESSIONS, seed=7)
    sessions = list(complete.index)
    halted = complete.copy()
    halted.loc[sessions[BBB_HALTED], "BBB"] = np.nan
    halted.loc[sessions[AAA_HALTED], "AAA"] = np.nan
    config = make_config(halted)
    prices, cfg = write_inputs(tmp_path, halted, config)
    closes = read_closes(prices)  # the floats the daemon reads
    settings = settings_for(tmp_path, prices, cfg)
    logs = io.StringIO()
    results = run_sessions(settings, sessions, logs)
    assert [r.status for r in results] == ["completed"] * N_SESSIONS, results

    store = Store.open(settings.state_dir, lock=False, read_only=True)
    try:
        fills = [
            (f.session, f.symbol, f.signed_quantity, f.price, f.commission) for f in store.fills()
        ]
        intents = store.intents()
        equity = {e.session: e.equity for e in store.equity_series()}
        rows = tracking_rows(store)
    finally:
        store.close()
    ab, cd = config.pair_list

    # The scenario bites: AAA/BBB decided orders on the session before the gap, and
    # CCC/DDD has a fill on the first empty cell's session.
    before = sessions[BBB_HALTED - 1]
    assert {i.symbol for i in intents if i.session == before} >= {"AAA", "BBB"}
    assert any(f[0] == sessions[BBB_HALTED] and f[1] in ("CCC", "DDD") for f in fills)
    assert not [i for i in intents if i.status == "rejected"], "no cash check may bind here"
    waiting = [e for e in log_events(logs) if e["event"] == "order_waiting"]
    gap = {sessions[BBB_HALTED].isoformat(), sessions[AAA_HALTED].isoformat()}
    assert {(e["session"], e["symbol"]) for e in waiting} == {
        (d, s) for d in gap for s in ("AAA", "BBB")
    }

    want_ab, values_ab = _own_backtest(closes, ab, engine)
    want_cd, values_cd = _own_backtest(closes, cd, engine)
    got_ab = [f for f in fills if f[1] in ("AAA", "BBB")]
    got_cd = [f for f in fills if f[1] in ("CCC", "DDD")]
    # Nothing of AAA/BBB fills on an empty cell's session; its orders fill at the next
    # session both legs trade, at that session's closes.
    assert not [f for f in got_ab if f[0] in (sessions[BBB_HALTED], sessions[AAA_HALTED])]
    assert (sessions[AAA_HALTED + 1], "AAA") in {(d, s) for d, s, *_ in got_ab}
    assert _same(got_ab, want_ab), f"daemon {got_ab}\nbacktest {want_ab}"
    assert _same(got_cd, want_cd), f"daemon {got_cd}\nbacktest {want_cd}"

    # One cash balance: with no binding cash check the account is the sum of the two pairs'
    # own backtests on every session both have.
    initial = config.initial_cash
    for d in values_ab.index:
        both = initial + (values_ab[d] - initial) + (values_cd[d] - initial)
        assert math.isclose(equity[d], both, rel_tol=REL), d
    # The shadow model waits with the broker: paper and model agree at every session.
    assert [r.session for r in rows] == sessions
    assert all(r.paper_equity == r.model_equity for r in rows)
