"""Splits and dividends end to end: ``run_once`` on the Alpaca adapters against the local
Alpaca-compatible server, which books corporate actions the way Alpaca does (positions change
on the ex-date, fills at raw prices, ``adjustment=all`` history re-scaled as of its clock,
dividend cash on the payable date, the corporate-actions endpoint).

The market: ``ADJUSTED`` is the history research fitted the config on (adjusted as of the
research date, before any of the events). The raw prices the exchange prints are derived from
it, so that after every event the feed's re-adjusted history divided by the re-adjustment
factor is that same history again. While pair 0 is held its second leg splits 2:1; at another
held time its first leg reverse-splits 1:4 (the position is not a multiple of 4: a fraction of
a share is left); both legs pay dividends, one long and one short. Pair 1 trades throughout.

The claims: every session completes; the sessions the daemon enters and exits on are the
research backtest's (backtrader on the adjusted closes, trading from the go-live bar); whenever
a pair is flat the broker holds none of its symbols; the daemon's recorded equity is the
account's every session; and tracking explains the account against the research model.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path

import pandas as pd
import pytest

from daemon.adapters.alpaca.factory import build_alpaca_broker
from daemon.commands.app import build_context
from daemon.config.settings import DaemonSettings
from daemon.cycle.run import RunResult, run_once
from daemon.infra.logging import make_logger
from daemon.monitoring.alerts import alerts
from daemon.monitoring.report_data import gather
from daemon.monitoring.report_html import render
from daemon.monitoring.tracking import tracking_rows
from daemon.store import Store
from daemon.store.actions import adjustments, cash_flows, stored_actions
from daemon.timing.clock import FixedClock
from research.backtest.registry import get_engine
from research.data.market_data import align_closes
from shared.config import ProdConfig
from tests.alpaca_server.harness import Harness, running_harness
from tests.alpaca_server.state import EVENING
from tests.integration.test_daemon_on_alpaca_server import alpaca_settings
from tests.unit.daemon_helpers import log_events, make_closes, make_config, write_inputs

N_BARS, FIRST_RUN, SEED = 70, 24, 9  # 46 daily runs after a 24-bar warm-up
RESIDUAL_BAR = 47  # pair 1's exit fills here, on DDD's ex-date


@dataclass(frozen=True)
class Event:
    kind: str  # split | dividend
    symbol: str
    bar: int  # the ex-date's bar
    value: float  # split ratio (new per old) or dividend $/share (set from the raw close)


@dataclass
class Run:
    results: list[RunResult] = field(default_factory=list)
    broker_positions: list[dict[str, float]] = field(default_factory=list)  # after each run
    broker_equity: list[float] = field(default_factory=list)
    logs: io.StringIO = field(default_factory=io.StringIO)


def _market() -> tuple[pd.DataFrame, ProdConfig]:
    adjusted = make_closes(n_bars=N_BARS, seed=SEED)
    return adjusted, make_config(adjusted, commission=0.0, stake=40)


def _backtest_positions(
    adjusted: pd.DataFrame, config: ProdConfig
) -> tuple[dict[str, list[int]], set[tuple[str, int]]]:
    """Research's backtest on the adjusted closes from the go-live bar: each symbol's position
    after each bar, and the (symbol, bar) of each order's decision (its fill's bar - 1)."""
    data = align_closes(adjusted, config.symbols)
    result = get_engine("backtrader").run(
        data,
        config.pair_list,
        [config.params],
        initial_cash=config.initial_cash,
        commission=config.commission,
        with_details=True,
        trade_from_bar=FIRST_RUN,
    )[0]
    assert result.fills
    held = {s: [0] * N_BARS for s in config.symbols}
    running = dict.fromkeys(config.symbols, 0)
    for bar in range(N_BARS):
        for fill in (f for f in result.fills if f.bar == bar):
            running[fill.symbol] += fill.signed_quantity
        for symbol in config.symbols:
            held[symbol][bar] = running[symbol]
    return held, {(f.symbol, f.bar - 1) for f in result.fills}


def _events(
    held: dict[str, list[int]], decided: set[tuple[str, int]], residual_ratio: float = 2.0
) -> list[Event]:
    """The corporate actions, each on a bar where pair 0 is held across the ex-date and no
    order of the symbol fills on it (an order sized the evening before cannot know the new
    share count; docs/daemon.md, "Corporate actions")."""

    def quiet(symbol: str, bar: int) -> bool:
        return held[symbol][bar - 1] != 0 and (symbol, bar - 1) not in decided

    plan = [
        Event("split", "BBB", 31, 2.0),  # while long AAA / short BBB
        Event("dividend", "AAA", 33, 0.0),  # a long receives
        Event("dividend", "BBB", 35, 0.0),  # a short pays (on the post-split count)
        Event("split", "AAA", 46, 0.25),  # while short AAA / long BBB
        Event("dividend", "BBB", 48, 0.0),
    ]
    for event in plan:
        assert quiet(event.symbol, event.bar), f"{event} is not inside a held stretch"
    assert held["AAA"][45] % 4 != 0, "the reverse split should leave a fraction of a share"
    # And one on the session pair 1's exit fills: the order was sized on the pre-split count,
    # so half the (doubled) short is left and the flat pair must close it the next session.
    residual = Event("split", "DDD", RESIDUAL_BAR, residual_ratio)
    assert ("DDD", RESIDUAL_BAR - 1) in decided
    assert held["DDD"][RESIDUAL_BAR - 1] != 0 and held["DDD"][RESIDUAL_BAR] == 0
    return [*plan, residual]


def _raw(adjusted: pd.DataFrame, events: list[Event]) -> tuple[pd.DataFrame, list[Event]]:
    """The exchange's prints: ``raw_t = adjusted_t * F_t`` with ``F`` the product of the factors
    of the events up to ``t`` (``1 / ratio`` for a split, ``1 - amount / previous raw close``
    for a dividend: the convention the server adjusts with). Dividends are 1% of that close."""
    raw = adjusted.copy()
    priced: list[Event] = []
    for symbol in adjusted.columns:
        factor = 1.0
        mine = {e.bar: e for e in events if e.symbol == symbol}
        for bar in range(N_BARS):
            event = mine.get(bar)
            if event is not None and event.kind == "split":
                factor /= event.value
                priced.append(event)
            elif event is not None:
                amount = round(0.01 * raw.iloc[bar - 1][symbol], 4)
                factor *= 1.0 - amount / raw.iloc[bar - 1][symbol]
                priced.append(Event("dividend", symbol, bar, amount))
            raw.iloc[bar, raw.columns.get_loc(symbol)] = adjusted.iloc[bar][symbol] * factor
    return raw, sorted(priced, key=lambda e: (e.bar, e.symbol))


def _run_session(settings: DaemonSettings, session: date, harness: Harness, run: Run) -> None:
    clock = FixedClock(datetime.combine(session, time(23, 30), UTC))
    broker = build_alpaca_broker(harness.env, settings.alpaca, retry=harness.retry)
    logger = make_logger("json", run.logs)
    ctx = build_context(
        settings, harness.env, clock=clock, logger=logger, broker=broker, durable=False
    )
    try:
        run.results.append(run_once(ctx, session))
    finally:
        ctx.close()
    run.broker_positions.append(dict(harness.book.positions))
    run.broker_equity.append(harness.book.equity())


def _replay(
    tmp: Path,
    harness: Harness,
    booking: str,
    residual_ratio: float = 2.0,
    paper_books_actions: bool = True,
) -> tuple[Run, list[Event], ProdConfig]:
    adjusted, config = _market()
    held, decided = _backtest_positions(adjusted, config)
    raw, events = _raw(adjusted, _events(held, decided, residual_ratio))
    harness.book.paper_books_actions = paper_books_actions
    _, cfg = write_inputs(tmp, adjusted, config)
    settings = alpaca_settings(tmp, cfg, harness)
    book = harness.book
    book.fraction_booking = booking  # type: ignore[assignment]
    sessions = list(adjusted.index)
    book.set_time(sessions[FIRST_RUN - 1], EVENING)
    for symbol in raw.columns:
        book.add_bars(symbol, raw[symbol].iloc[:FIRST_RUN].to_dict())
    for event in events:  # announced ahead, as Alpaca publishes them
        ex_date = sessions[event.bar]
        if event.kind == "split":
            book.add_split(event.symbol, ex_date, event.value)
        else:
            book.add_dividend(event.symbol, ex_date, event.value, sessions[event.bar + 2])
    run = Run()
    for session in sessions[FIRST_RUN:]:
        book.advance_session(raw.loc[session].to_dict(), session)
        _run_session(settings, session, harness, run)
    return run, events, config


@pytest.mark.parametrize("booking", ["fractional", "cash"])
def test_splits_and_dividends_keep_every_pair_right_on_the_alpaca_server(
    tmp_path: Path, booking: str
) -> None:
    with running_harness() as harness:
        run, events, config = _replay(tmp_path, harness, booking)
        book = harness.book
    adjusted, _ = _market()
    sessions = list(adjusted.index)
    assert len(run.results) >= 40
    assert [r.status for r in run.results] == ["completed"] * len(run.results), [
        r.message for r in run.results if r.status != "completed"
    ]

    store = Store.open(tmp_path / "state", durable=False)
    try:
        # The daemon decided orders on exactly the research backtest's sessions.
        _, decided = _backtest_positions(adjusted, config)
        residual = [
            d
            for i in range(len(sessions))
            for d in store.decisions(sessions[i])
            if d.action == "close_residual"
        ]
        assert [(d.session, d.pair_index) for d in residual] == [(sessions[RESIDUAL_BAR], 1)]
        strategy = [
            i for i in store.intents() if (i.session, i.pair_index) != (sessions[RESIDUAL_BAR], 1)
        ]
        daemon_decided = {(i.symbol, sessions.index(i.session)) for i in strategy}
        last = N_BARS - 1  # decided on the last bar: fills after the backtest's data ends
        assert {(s, b) for s, b in daemon_decided if b < last} == decided

        # Every event was stored and applied once, on its ex-date's run.
        applied = {s.action.key: s.applied_session for s in stored_actions(store)}
        assert len(applied) == len(events)
        for event in events:
            key = f"{event.symbol}:{event.kind}:{sessions[event.bar].isoformat()}"
            assert applied[key] == sessions[event.bar]
        moves = {(a.symbol, a.session): a for a in adjustments(store)}
        split_b = moves[("BBB", sessions[31])]
        assert split_b.quantity == split_b.held_before  # 2:1 doubles the short
        split_a = moves[("AAA", sessions[46])]
        assert split_a.fraction != 0.0  # 1:4 on a count that is not a multiple of 4

        # Dividends are recorded cash flows: a long receives, a short pays.
        flows = {(f.symbol, f.ex_date): f for f in cash_flows(store) if f.kind == "dividend"}
        assert flows[("AAA", sessions[33])].amount > 0
        assert flows[("BBB", sessions[35])].amount < 0
        assert flows[("BBB", sessions[35])].shares == split_b.held_before * 2

        # Whenever a pair is flat, the broker holds none of its symbols.
        for k, session in enumerate(sessions[FIRST_RUN:]):
            for index, pair in enumerate(config.pair_list):
                flat = (
                    [
                        d.state
                        for d in store.decisions(sessions[FIRST_RUN + k - 1])
                        if d.pair_index == index
                    ]
                    == [0]
                    if k
                    else True
                )
                if flat and (session, index) != (sessions[RESIDUAL_BAR], 1):
                    held = run.broker_positions[k]
                    assert held.get(pair.asset_1, 0) == 0 and held.get(pair.asset_2, 0) == 0, (
                        f"{session}: pair {index} is flat but the broker holds {held}"
                    )

        # The bars' re-adjustment factors agree with the published splits: no mismatch.
        codes = {a.code for a in alerts(store)}
        assert "corporate_action_mismatch" not in codes
        assert "reconcile_mismatch" not in codes

        # The report shows what each event did to the account.
        page = render(gather(store, config), "now")
        table = page.split('<table id="corporate-actions">')[1].split("</table>")[0]
        assert table.count("<tr>") == len(events) + 1  # a header row and one per event
        assert "BBB 2:1 split" in table and "AAA 1:4 split" in table
        assert f"{split_b.held_before:+d}" in table

        # The daemon's equity is the account's, every session.
        recorded = [e.equity for e in store.equity_series()]
        assert recorded == pytest.approx(run.broker_equity, abs=0.01)

        # Tracking explains the account against the research model (same decisions, same
        # fills, the model books the same splits): until the reverse split the whole
        # difference is the dividends paid so far; after it, dividends plus the gap between
        # the broker's cash for the fraction and the model's; the residual ends at nothing.
        rows = {r.session: r for r in tracking_rows(store)}
        before_reverse = rows[sessions[45]]
        paid = sum(
            f.amount
            for f in cash_flows(store)
            if f.kind == "dividend" and f.pay_date <= sessions[45]
        )
        assert paid != 0.0
        assert before_reverse.attribution["dividends"] == pytest.approx(paid, abs=0.05)
        assert before_reverse.difference == pytest.approx(paid, abs=0.05)
        last = rows[sessions[-1]]
        assert last.attribution["residual"] == pytest.approx(0.0, abs=0.05)
        assert last.attribution["slippage"] == pytest.approx(0.0, abs=0.01)
        # The model sizes the DDD exit decided before its 2:1 split in the new shares (as
        # research on the adjusted closes does) and is flat on the ex-date; the paper order,
        # sized in the old shares, leaves half the short for the next session's residual
        # close. That one session of the residual short is all that is unfilled.
        adjusted_, config_ = _market()
        raw, _ = _raw(adjusted_, _events(*_backtest_positions(adjusted_, config_)))
        ddd = raw["DDD"]
        late_short = -40 * (ddd.iloc[RESIDUAL_BAR + 1] - ddd.iloc[RESIDUAL_BAR])
        assert last.attribution["unfilled"] == pytest.approx(late_short, abs=0.01)
    finally:
        store.close()
    assert all(abs(q - round(q)) < 1e-9 for q in book.positions.values())  # no fraction left
    events_logged = [e for e in log_events(run.logs) if e["event"] == "corporate_action"]
    assert {e["status"] for e in events_logged} >= {"announced", "applied"}
    if booking == "fractional":
        assert any(e["status"] == "fraction_closing" for e in events_logged)


def _flat_at_broker(run: Run, k: int, symbols: tuple[str, ...]) -> bool:
    return all(abs(run.broker_positions[k].get(s, 0)) < 1e-9 for s in symbols)


def test_a_reverse_split_meeting_a_queued_exit_through_zero_leaves_no_stuck_state(
    tmp_path: Path,
) -> None:
    """DDD's short (-40) is exited with a buy of 40 sized the evening before a 1:3 reverse
    split: the broker books -13.333 then fills +40, holding +26.667 (a fraction on the other
    side of zero). The daemon rebooks the split's fraction on that side, closes it, closes the
    26 whole shares as the flat pair's residual, and every session completes."""
    with running_harness() as harness:
        run, _, _ = _replay(tmp_path, harness, "fractional", residual_ratio=1 / 3)
        book = harness.book
    assert [r.status for r in run.results] == ["completed"] * len(run.results), [
        r.message for r in run.results if r.status != "completed"
    ]
    k = RESIDUAL_BAR - FIRST_RUN  # the ex-date's run
    assert run.broker_positions[k]["DDD"] == pytest.approx(40 - 40 / 3)
    assert _flat_at_broker(run, k + 1, ("CCC", "DDD")), "flat within one session"
    logged = [e for e in log_events(run.logs) if e["event"] == "corporate_action"]
    rebooked = [e for e in logged if e["status"] == "fraction_rebooked"]
    assert [e["symbol"] for e in rebooked] == ["DDD"]
    assert rebooked[0]["broker_fraction"] == pytest.approx(2 / 3, abs=1e-6)
    assert all(abs(q - round(q)) < 1e-9 for q in book.positions.values())


def test_a_paper_account_that_books_no_split_is_alerted_once_and_traded_as_held(
    tmp_path: Path,
) -> None:
    """Alpaca's paper environment, by public reports, applies no splits and pays no
    dividends: the daemon sees each split the account did not book, says so once, keeps
    trading what the account holds and closes it when the pair exits."""
    with running_harness() as harness:
        run, _, config = _replay(tmp_path, harness, "fractional", paper_books_actions=False)
    assert [r.status for r in run.results] == ["completed"] * len(run.results), [
        r.message for r in run.results if r.status != "completed"
    ]
    store = Store.open(tmp_path / "state", durable=False, read_only=True)
    try:
        raised = [a for a in alerts(store) if a.code == "split_not_booked"]
        codes = {a.code for a in alerts(store)}
        moves = adjustments(store)
        sessions = [r.session for r in run.results]
        states = [{d.pair_index: d.state for d in store.decisions(d)} for d in sessions]
    finally:
        store.close()
    assert sorted(a.message.split()[6] for a in raised) == ["AAA", "BBB", "DDD"]
    assert "reconcile_mismatch" not in codes and "session_failed" not in codes
    assert all(m.quantity == 0 for m in moves)  # no split moved a position here
    # A pair flat after a session holds nothing at the broker once its orders filled.
    for k in range(1, len(sessions)):
        for index, pair in enumerate(config.pair_list):
            if states[k - 1].get(index) == 0 and states[k].get(index) == 0:
                assert _flat_at_broker(run, k, (pair.asset_1, pair.asset_2)), (sessions[k], index)
