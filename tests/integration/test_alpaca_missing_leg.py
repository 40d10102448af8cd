"""A leg the Alpaca feed has no bar for holds only its pair, through real HTTP to the local
Alpaca-compatible server and the Alpaca adapters.

DDD has no bar for three sessions (the server closes them without DDD), then for three more
sessions Alpaca answers nothing at all for DDD (as after a rename: its whole history is gone
from the answer). Each of those sessions completes, ``pair_held`` and the ``missing_leg`` alert
name DDD, CCC/DDD sends no order, and AAA/BBB trades exactly as in a run where DDD is complete.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from daemon.adapters.alpaca.factory import build_alpaca_broker
from daemon.commands.app import build_context
from daemon.cycle.run import RunResult, run_once
from daemon.infra.logging import make_logger
from daemon.store import Store
from daemon.timing.clock import FixedClock
from tests.alpaca_server.harness import Harness, running_harness
from tests.integration.test_daemon_on_alpaca_server import alpaca_settings
from tests.unit.daemon_helpers import make_closes, make_config, write_inputs

N_BARS, FIRST_RUN = 56, 24
# Run indexes (sessions after the warm-up). CCC/DDD is held from run 2 to run 15 on complete
# data, so both gaps fall while it is held, and no DDD order is queued into a gap session.
NO_BAR = range(8, 11)  # the server closes these sessions without a DDD bar
NO_ANSWER = range(12, 15)  # and here Alpaca answers nothing at all for DDD


def _market() -> tuple[pd.DataFrame, Any]:
    closes = make_closes(n_bars=N_BARS, seed=11)
    return closes, make_config(closes, commission=0.0, stake=40)


def _run(settings: Any, session: date, harness: Harness) -> tuple[RunResult, list[dict]]:
    stream = io.StringIO()
    logger = make_logger("json", stream)
    broker = build_alpaca_broker(harness.env, settings.alpaca, retry=harness.retry)
    clock = FixedClock(datetime.combine(session, time(23, 30), UTC))
    ctx = build_context(
        settings, harness.env, clock=clock, logger=logger, broker=broker, durable=False
    )
    try:
        result = run_once(ctx, session)
    finally:
        ctx.close()
    return result, [json.loads(line) for line in stream.getvalue().splitlines()]


def _replay(
    tmp: Path, harness: Harness, *, gaps: bool, equity: dict[date, float] | None = None
) -> tuple[list[Any], Store]:
    """Every session after the warm-up on the server; with ``gaps`` DDD goes missing."""
    closes, config = _market()
    tmp.mkdir()
    _, cfg = write_inputs(tmp, closes, config)
    settings = alpaca_settings(tmp, cfg, harness)
    for symbol in closes.columns:
        harness.book.add_bars(symbol, closes[symbol].iloc[:FIRST_RUN].to_dict())
    runs = []
    for k, session in enumerate(closes.index[FIRST_RUN:]):
        delivered = closes.loc[session].to_dict()
        if gaps and (k in NO_BAR or k in NO_ANSWER):
            delivered.pop("DDD")  # the server closes the session without a DDD bar
        harness.book.advance_session(delivered, session)
        hidden = harness.book.bars.pop("DDD") if gaps and k in NO_ANSWER else None
        try:
            runs.append((k, session, *_run(settings, session, harness)))
            if equity is not None:
                equity[session] = harness.book.equity()
        finally:
            if hidden is not None:
                harness.book.bars["DDD"] = hidden
    return runs, Store.open(settings.state_dir, lock=False, read_only=True)


def _intents(store: Store, symbols: set[str]) -> list[tuple[date, str, str, int]]:
    return [
        (i.session, i.symbol, i.side, i.quantity) for i in store.intents() if i.symbol in symbols
    ]


def test_a_leg_alpaca_has_no_bar_for_holds_only_its_pair(tmp_path: Path) -> None:
    with running_harness() as complete_server:
        _, complete = _replay(tmp_path / "complete", complete_server, gaps=False)
    with running_harness() as gap_server:
        equity_in_gap: dict[date, float] = {}
        runs, gapped = _replay(tmp_path / "gaps", gap_server, gaps=True, equity=equity_in_gap)

    assert [r.status for _, _, r, _ in runs] == ["completed"] * len(runs), [
        (s, r.message) for _, s, r, _ in runs if r.status != "completed"
    ]
    gap_sessions = {s for k, s, _, _ in runs if k in NO_BAR or k in NO_ANSWER}
    for k, session, _, events in runs:
        held = [e for e in events if e["event"] == "pair_held"]
        alerts = [e for e in events if e["event"] == "alert" and e["code"] == "missing_leg"]
        if session in gap_sessions:
            assert [(e["symbol"], e["pairs"]) for e in held] == [("DDD", ["CCC/DDD"])], k
            assert alerts and "DDD" in alerts[0]["message"], k
        else:
            assert not held, k
    # The other pair trades exactly as when DDD is complete; the held pair sends nothing.
    assert _intents(gapped, {"AAA", "BBB"}) == _intents(complete, {"AAA", "BBB"})
    assert _intents(complete, {"AAA", "BBB"}), "the scenario must trade AAA/BBB"
    assert not [i for i in _intents(gapped, {"CCC", "DDD"}) if i[0] in gap_sessions]
    stored = gapped.bars(["DDD"])
    assert stored.loc[sorted(gap_sessions), "DDD"].isna().all()  # stored as absent
    # Marked at its last close meanwhile, as the server does: the equities agree throughout.
    marks = {e.session: e.equity for e in gapped.equity_series()}
    assert marks == pytest.approx(equity_in_gap)
    complete.close()
    gapped.close()
