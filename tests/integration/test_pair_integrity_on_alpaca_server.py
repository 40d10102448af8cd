"""The pair is the unit at the broker: a broker that says no, fills half, or cancels a leg,
over real HTTP against the local Alpaca-compatible server (``tests/alpaca_server``).

The reference is the same sessions on the local paper broker (the research fill model). Each
case injects one fault into one leg and checks what the daemon sees (a critical
``pair_unbalanced`` alert naming the pair and both quantities) and what it does about it
(``[integrity]``): a refused entry leg is completed at the next session, an exit the auction
filled in part is finished, a short the broker cancels because it turned hard to borrow is
tried ``max_repair_sessions`` times and then the filled leg is unwound.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from daemon.config.settings import DaemonSettings, DataSettings
from daemon.monitoring.alerts import Alert, alerts
from daemon.monitoring.check import CheckStatus, evaluate
from daemon.store import IntentRecord, Store
from daemon.timing.calendar import FeedCalendar
from shared.config import ProdConfig
from tests.alpaca_server.harness import Harness
from tests.alpaca_server.state import Refusal
from tests.integration.test_daemon_on_alpaca_server import Replay, replay_on_server


def _parts(client_order_id: str) -> tuple[date, int, str]:
    """(decision session, pair index, leg) of ``kp-<config>-YYYYMMDD-p<k>-<leg>-<attempt>``."""
    _, _, day, pair, leg, _ = client_order_id.split("-")
    return date.fromisoformat(f"{day[:4]}-{day[4:6]}-{day[6:]}"), int(pair[1:]), leg


def _decisions(local: Replay) -> list[tuple[date, int, dict[str, tuple[str, int]]]]:
    """The local run's orders grouped by (session, pair): {leg: (symbol, signed qty)}."""
    grouped: dict[tuple[date, int], dict[str, tuple[str, int]]] = {}
    for cid, symbol, side, qty, _ in local.intents:
        day, pair, leg = _parts(cid)
        grouped.setdefault((day, pair), {})[leg] = (symbol, qty if side == "buy" else -qty)
    return [(d, k, legs) for (d, k), legs in sorted(grouped.items())]


def _state(tmp: Path) -> tuple[list[IntentRecord], list[Alert]]:
    store = Store.open(tmp / "state", durable=False, read_only=True)
    try:
        return store.intents(), alerts(store)
    finally:
        store.close()


def _check(tmp: Path, closes: pd.DataFrame, harness: Harness) -> CheckStatus:
    settings = DaemonSettings(data=DataSettings(feed="csv", csv_path=tmp / "prices.csv"))
    calendar = FeedCalendar(lambda: [d for d in closes.index if d < harness.book.today()])
    store = Store.open(tmp / "state", durable=False, read_only=True)
    try:
        return evaluate(store, settings, harness.book.now, calendar).status
    finally:
        store.close()


def _next(closes: pd.DataFrame, day: date, n: int = 1) -> date:
    index = list(closes.index)
    return index[index.index(day) + n]


def test_a_refused_entry_leg_is_completed_at_the_next_session(
    tmp_path: Path, market: tuple[pd.DataFrame, ProdConfig], harness: Harness, local_replay: Replay
) -> None:
    closes, _ = market
    day, _, legs = _decisions(local_replay)[0]  # the first entry
    symbol, quantity = legs["B"]

    verdicts: list[CheckStatus] = []

    def refuse_second_leg(k: int, session: date) -> None:
        if session == day:  # 403 insufficient buying power, once, for leg B only
            harness.book.refuse(Refusal(symbol=symbol))
        if session in (_next(closes, day, 2), _next(closes, day, 3)):
            # what `pairs-daemon check` says between the runs: CRITICAL while unbalanced
            verdicts.append(_check(tmp_path, closes, harness))

    replay = replay_on_server(tmp_path, market, harness, refuse_second_leg)
    assert verdicts == [CheckStatus.CRITICAL, CheckStatus.OK]
    assert all(r.status == "completed" for r in replay.results)
    intents, raised = _state(tmp_path)
    refused = [i for i in intents if i.session == day and i.symbol == symbol]
    assert [i.status for i in refused] == ["rejected"]
    unbalanced = [a for a in raised if a.code == "pair_unbalanced"]
    assert [a.session for a in unbalanced] == [_next(closes, day)]
    assert unbalanced[0].severity == "critical"
    assert (
        f"{symbol} +0" in unbalanced[0].message
        and "sending the missing part" in unbalanced[0].message
    )
    assert unbalanced[0].resolved_at is not None  # whole again a session later
    repairs = [i for i in intents if i.attempt == 2]
    assert [(i.session, i.symbol, i.quantity, i.status) for i in repairs] == [
        (_next(closes, day), symbol, abs(quantity), "filled")
    ]
    # From then on the account holds what the research fill model holds, session by session.
    late = _next(closes, day, 2)
    got = {d: p for d, _, p in replay.equity if d >= late}
    want = {d: p for d, _, p in local_replay.equity if d >= late}
    assert got == want


def test_an_exit_the_auction_filled_in_part_is_finished_the_next_session(
    tmp_path: Path, market: tuple[pd.DataFrame, ProdConfig], harness: Harness, local_replay: Replay
) -> None:
    closes, _ = market
    decisions = _decisions(local_replay)
    entry_day, pair, _ = decisions[0]
    exit_day, _, legs = next(d for d in decisions if d[1] == pair and d[0] > entry_day)
    symbol, quantity = legs["A"]
    filled = abs(quantity) * 3 // 4

    def short_auction(k: int, session: date) -> None:
        if session == exit_day:  # the exit's A leg fills 3/4 in its closing auction
            cid = next(
                c
                for c, *_ in local_replay.intents
                if _parts(c)[0] == exit_day and c.endswith("-A-1")
            )
            harness.book.auction_fills[cid.replace(cid.split("-")[1], cid.split("-")[1])] = filled

    replay = replay_on_server(tmp_path, market, harness, short_auction)
    assert all(r.status == "completed" for r in replay.results)
    intents, raised = _state(tmp_path)
    exit_leg = next(
        i for i in intents if i.session == exit_day and i.symbol == symbol and i.attempt == 1
    )
    assert exit_leg.status == "expired"
    unbalanced = [a for a in raised if a.code == "pair_unbalanced"]
    after = _next(closes, exit_day)
    assert [a.session for a in unbalanced] == [after]
    assert "the model is flat" in unbalanced[0].message
    rest = [i for i in intents if i.attempt == 2]
    assert [(i.session, i.symbol, i.quantity) for i in rest] == [
        (after, symbol, abs(quantity) - filled)
    ]
    flat_from = _next(closes, exit_day, 2)
    for d, _, positions in replay.equity:
        if d >= flat_from and d < _next(closes, exit_day, 3):
            assert positions.get(symbol, 0) == dict((e[0], e[2]) for e in local_replay.equity)[
                d
            ].get(symbol, 0)


def test_a_short_leg_cancelled_as_hard_to_borrow_is_retried_then_the_long_leg_unwound(
    tmp_path: Path, market: tuple[pd.DataFrame, ProdConfig], harness: Harness, local_replay: Replay
) -> None:
    closes, _ = market
    decisions = _decisions(local_replay)
    day, pair, legs = decisions[0]
    (short_leg,) = [leg for leg, (_, q) in legs.items() if q < 0]
    (long_leg,) = [leg for leg, (_, q) in legs.items() if q > 0]
    short_symbol, long_symbol = legs[short_leg][0], legs[long_leg][0]
    next_of_pair = min(d for d, k, _ in decisions if k == pair and d > day)
    assert next_of_pair > _next(closes, day, 4), "the pair must stay in its trade meanwhile"

    def hard_to_borrow(k: int, session: date) -> None:
        if session == _next(closes, day):  # overnight, before the open that fills the entry
            harness.book.turn_hard_to_borrow(short_symbol)
        if session == _next(closes, day, 5):
            harness.book.hard_to_borrow.discard(short_symbol)  # borrowable again

    replay = replay_on_server(tmp_path, market, harness, before_close=hard_to_borrow)
    assert all(r.status == "completed" for r in replay.results)
    intents, raised = _state(tmp_path)
    entry_short = next(i for i in intents if i.session == day and i.symbol == short_symbol)
    assert entry_short.status == "canceled"
    # One open alert, raised again each session the pair stays unbalanced: its last word is
    # the unwind, after two sessions of "complete" (each refused: the name is hard to borrow).
    unbalanced = [a for a in raised if a.code == "pair_unbalanced"]
    assert [a.session for a in unbalanced] == [_next(closes, day, 3)]
    assert unbalanced[0].severity == "critical"
    assert "unwinding the filled part" in unbalanced[0].message
    repairs = [(i.session, i.symbol, i.side, i.status) for i in intents if i.attempt == 2]
    assert repairs == [
        (_next(closes, day, 1), short_symbol, "sell", "rejected"),
        (_next(closes, day, 2), short_symbol, "sell", "rejected"),
        (_next(closes, day, 3), long_symbol, "sell", "filled"),
    ]
    # Unwound: the pair holds nothing, and is not bought back in while the model's pair is in
    # its trade; its next decision (the model's exit) sends nothing.
    held = {d: p for d, _, p in replay.equity}
    for n in range(4, 6):
        positions = held[_next(closes, day, n)]
        assert positions.get(short_symbol, 0) == 0 and positions.get(long_symbol, 0) == 0
    assert all(a.resolved_at is not None for a in unbalanced)
