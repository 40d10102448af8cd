"""The corporate-action step on a real store: splits change the expected positions on their
ex-date, dividends become cash flows, each event is applied once, and what cannot be trusted
raises an alert. The broker here is the local paper broker told that it books corporate
actions (as Alpaca does); the end-to-end proof on the Alpaca-compatible server is in
tests/integration/test_corporate_actions_on_alpaca_server.py."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from daemon.adapters.csv.events import CsvActions
from daemon.core.corporate_actions import (
    ActionKind,
    CorporateAction,
    format_ratio,
    parse_ratio,
    split_position,
)
from daemon.core.errors import EventsFileError, FeedNotAdjusted
from daemon.core.roster import SessionRoster
from daemon.cycle.apply_actions import (
    apply_corporate_actions,
    check_factors,
    learn_corporate_actions,
    refuse_unadjusted,
    split_hint,
)
from daemon.cycle.context import DaemonContext
from daemon.cycle.summary import corporate_action_summary, status_report
from daemon.feeds.bars import BarUpdate
from daemon.monitoring.alerts import alerts as stored_alerts
from daemon.store import FillRecord, IntentRecord
from daemon.store.actions import adjustments, cash_flows, stored_actions
from daemon.timing.clock import FixedClock
from shared.errors import DataError
from tests.unit.daemon_helpers import (
    log_events,
    make_closes,
    make_config,
    open_context,
    settings_for,
    write_inputs,
)

D0, D1, D2, D3 = date(2024, 3, 1), date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)


class ListedActions:
    """A corporate-action source that publishes a list the test controls (the port's edge)."""

    name = "listed"

    def __init__(self, actions: Sequence[CorporateAction] = (), error: str | None = None):
        self.actions = list(actions)
        self.error = error

    def corporate_actions(
        self, symbols: Sequence[str], start: date, end: date
    ) -> list[CorporateAction]:
        if self.error:
            raise DataError(self.error)
        return [a for a in self.actions if a.symbol in symbols and start <= a.ex_date <= end]


def split(symbol: str, ex_date: date, ratio: float) -> CorporateAction:
    return CorporateAction(symbol, ActionKind.SPLIT, ex_date, ratio=ratio, source="listed")


def dividend(symbol: str, ex_date: date, amount: float, pays: date) -> CorporateAction:
    return CorporateAction(
        symbol, ActionKind.DIVIDEND, ex_date, amount=amount, payable_date=pays, source="listed"
    )


@pytest.fixture
def setup(tmp_path: Path) -> tuple[SessionRoster, Any]:
    closes = make_closes(40)
    config = make_config(closes)
    prices, cfg = write_inputs(tmp_path, closes, config)
    # The steps take the session's roster (one config's pairs, here).
    return SessionRoster.of_config(config), settings_for(tmp_path, prices, cfg)


def _context(settings: Any, session: date, books: bool, logs: io.StringIO) -> DaemonContext:
    ctx = open_context(settings, session, logs=logs)
    ctx.broker.books_corporate_actions = books  # type: ignore[misc]  # as Alpaca's adapter
    return ctx


def _hold(ctx: DaemonContext, symbol: str, quantity: int, session: date) -> None:
    cid = f"cid-{symbol}-{session:%Y%m%d}"
    side = "buy" if quantity > 0 else "sell"
    with ctx.store.transaction():
        ctx.store.add_intents(
            [IntentRecord(cid, session, 0, "A", symbol, side, abs(quantity), 10.0)], "t"
        )
        ctx.store.record_fill(FillRecord(cid, session, symbol, quantity, 10.0, 0.0), None)


def _sync(
    ctx: DaemonContext, config: SessionRoster, session: date, closes: dict[str, float]
) -> list[Any]:
    update = BarUpdate(strategy_closes=make_closes(2), real_closes=closes, new_sessions=[])
    learn_corporate_actions(ctx, config, session, ctx.logger)  # as the cycle: learn, then
    return apply_corporate_actions(ctx, config, session, update, ctx.logger)  # apply


def test_split_arithmetic_and_ratio_notation() -> None:
    assert split_position(40, 2.0) == (80, 0.0)
    assert split_position(-40, 2.0) == (-80, 0.0)
    assert split_position(103, 0.25) == (25, pytest.approx(0.75))
    assert split_position(-103, 0.25) == (-25, pytest.approx(-0.75))
    assert split_position(9, 1.5) == (13, pytest.approx(0.5))
    assert [format_ratio(r) for r in (2.0, 0.25, 1.5, 0.1)] == ["2:1", "1:4", "3:2", "1:10"]
    assert [parse_ratio(t, what="x") for t in ("2:1", "1:4", "3-for-2", "2")] == [
        2.0,
        0.25,
        1.5,
        2.0,
    ]
    with pytest.raises(DataError, match="new:old"):
        parse_ratio("two", what="events.csv line 3")
    with pytest.raises(DataError, match="ratio other than 1"):
        split("AAA", D1, 1.0)
    with pytest.raises(DataError, match="positive amount"):
        dividend("AAA", D1, 0.0, D1)


def test_a_split_changes_the_expected_position_on_its_ex_date_once(setup: Any) -> None:
    config, settings = setup
    a, b = config.pair_list[0].asset_1, config.pair_list[0].asset_2
    logs = io.StringIO()
    ctx = _context(settings, D1, True, logs)
    try:
        _hold(ctx, a, 40, D0)
        _hold(ctx, b, -103, D0)
        ctx.actions = ListedActions([split(a, D1, 2.0), split(b, D2, 0.25)])
        _sync(ctx, config, D1, {a: 50.0, b: 20.0})
        assert ctx.store.expected_positions() == {a: 80, b: -103}  # b's ex-date is tomorrow
        ctx.actions = ListedActions()  # b's split was announced ahead: it is stored already
        _sync(ctx, config, D1, {a: 50.0, b: 20.0})  # a rerun applies nothing twice
        assert ctx.store.expected_positions() == {a: 80, b: -103}
        assert ctx.store.expected_positions(through=D0) == {a: 40, b: -103}
    finally:
        ctx.close()
    ctx = _context(settings, D2, True, logs)
    try:
        _sync(ctx, config, D2, {a: 51.0, b: 80.0})
        assert ctx.store.expected_positions() == {a: 80, b: -25}
        lieu = [f for f in cash_flows(ctx.store) if f.kind == "cash_in_lieu"]
        assert len(lieu) == 1 and lieu[0].amount == pytest.approx(-0.75 * 80.0)
        assert [(x.symbol, x.held_before, x.quantity) for x in adjustments(ctx.store)] == [
            (a, 40, 40),
            (b, -103, 78),
        ]
        assert all(s.applied_session is not None for s in stored_actions(ctx.store))
        listed = status_report(ctx.store)["corporate_actions"]
        assert [x["event"] for x in listed] == [
            f"{a} 2:1 split, ex-date {D1}",
            f"{b} 1:4 split, ex-date {D2}",
        ]
        assert [x["applied"] for x in listed] == [D1.isoformat(), D2.isoformat()]
    finally:
        ctx.close()
    events = [e for e in log_events(logs) if e["event"] == "corporate_action"]
    assert [(e["status"], e["symbol"]) for e in events] == [
        ("announced", a),
        ("announced", b),
        ("applied", a),
        ("applied", b),
    ]
    assert events[2]["ratio"] == "2:1" and events[2]["held_after"] == 80
    assert events[3]["ratio"] == "1:4" and events[3]["fraction"] == pytest.approx(-0.75)


def test_dividends_are_cash_flows_received_by_longs_and_paid_by_shorts(setup: Any) -> None:
    config, settings = setup
    a, b = config.pair_list[0].asset_1, config.pair_list[0].asset_2
    ctx = _context(settings, D2, True, io.StringIO())
    try:
        _hold(ctx, a, 40, D0)
        _hold(ctx, b, -30, D0)
        ctx.actions = ListedActions([dividend(a, D1, 0.5, D3), dividend(b, D2, 0.25, D2)])
        _sync(ctx, config, D2, {a: 50.0, b: 20.0})
        flows = {f.symbol: f for f in cash_flows(ctx.store)}
        assert flows[a].amount == pytest.approx(20.0) and flows[a].pay_date == D3
        assert flows[b].amount == pytest.approx(-7.5) and flows[b].pay_date == D2
        summary = corporate_action_summary(ctx.store, D2)
        assert summary["dividends_paid"] == pytest.approx(7.5)
        assert summary["dividends_received"] == 0  # a's is payable tomorrow
        assert summary["dividends_due"] == pytest.approx(20.0)
        assert len(summary["applied"]) == 2
        assert corporate_action_summary(ctx.store, D3)["dividends_received"] == pytest.approx(20)
        assert ctx.store.expected_positions() == {a: 40, b: -30}  # dividends move no shares
    finally:
        ctx.close()


def test_a_broker_on_adjusted_closes_books_nothing_but_the_events_are_stored(
    setup: Any,
) -> None:
    config, settings = setup
    a = config.pair_list[0].asset_1
    logs = io.StringIO()
    ctx = _context(settings, D2, False, logs)
    try:
        _hold(ctx, a, 40, D0)
        ctx.actions = ListedActions([split(a, D1, 2.0), dividend(a, D1, 0.5, D1)])
        _sync(ctx, config, D2, {a: 50.0})
        assert ctx.store.expected_positions() == {a: 40}
        assert cash_flows(ctx.store) == [] and adjustments(ctx.store) == []
        assert len(stored_actions(ctx.store)) == 2
    finally:
        ctx.close()
    applied = [e for e in log_events(logs) if e.get("status") == "applied"]
    assert applied and all("adjusted closes" in e["note"] for e in applied)


def test_an_unreachable_source_or_a_restated_event_raises_an_alert_and_the_session_goes_on(
    setup: Any,
) -> None:
    config, settings = setup
    a = config.pair_list[0].asset_1
    ctx = _context(settings, D1, True, io.StringIO())
    try:
        ctx.actions = ListedActions(error="HTTP 503 from the corporate-actions API")
        assert _sync(ctx, config, D1, {a: 50.0}) == []
        codes = {x.code for x in stored_alerts(ctx.store, open_only=True)}
        assert "corporate_actions_unavailable" in codes
        ctx.actions = ListedActions([dividend(a, D2, 0.5, D2)])
        _sync(ctx, config, D1, {a: 50.0})
        ctx.actions = ListedActions([dividend(a, D2, 0.75, D2)])
        _sync(ctx, config, D1, {a: 50.0})
        alerts = [
            x
            for x in stored_alerts(ctx.store, open_only=True)
            if x.code == "corporate_action_mismatch"
        ]
        assert alerts and "restated" in alerts[0].message
        assert stored_actions(ctx.store)[0].action.amount == 0.5  # the first version stays
    finally:
        ctx.close()


def test_a_mismatch_that_looks_like_a_split_says_so() -> None:
    hint = split_hint(
        {"AAA": (40, 80), "BBB": (52, 13), "GE": (23, 2), "CCC": (40, 41), "DDD": (7, 11)}
    )
    assert "AAA looks like a split the daemon does not know of (2:1)" in hint
    assert "BBB looks like a split the daemon does not know of (1:4)" in hint
    assert "GE looks like a split the daemon does not know of (1:11, 1:10, 1:9 or 1:8)" in hint
    assert "CCC" not in hint and "DDD" not in hint
    assert "data.events_csv" in hint


def test_a_readjustment_no_known_split_explains_raises_an_alert(setup: Any) -> None:
    config, settings = setup
    a, b = config.pair_list[0].asset_1, config.pair_list[0].asset_2
    ctx = _context(settings, D1, True, io.StringIO())
    try:
        ctx.actions = ListedActions([split(a, D2, 2.0), dividend(b, D2, 0.4, D2)])
        _sync(ctx, config, D1, {a: 50.0, b: 20.0})  # fixes the scale on D1
        with ctx.store.transaction():
            ctx.store.record_rescale(D2, a, 0.4985, "t")  # the split and a dividend: explained
            ctx.store.record_rescale(D2, b, 0.985, "t")  # a dividend only: explained
        check_factors(ctx.store, config, D2, D2, ctx.logger)
        assert not stored_alerts(ctx.store, open_only=True)
        with ctx.store.transaction():
            ctx.store.record_rescale(D3, b, 1 / 3, "t")  # a 3:1 split nobody published
        check_factors(ctx.store, config, D3, D3, ctx.logger)
        alerts = stored_alerts(ctx.store, open_only=True)
        assert [x.code for x in alerts] == ["corporate_action_mismatch"]
        assert b in alerts[0].message and "0.333333" in alerts[0].message
    finally:
        ctx.close()


def test_a_live_feed_not_adjusted_for_a_known_split_is_refused_before_storing(
    setup: Any,
) -> None:
    config, settings = setup
    a = config.pair_list[0].asset_1
    ctx = _context(settings, D0, True, io.StringIO())
    try:
        ctx.bars.name = "alpaca"  # type: ignore[misc]  # the rule is for feeds adjusted daily
        ctx.actions = ListedActions([split(a, D1, 2.0)])
        learn_corporate_actions(ctx, config, D0, ctx.logger)  # fixes the scale on D0
        ctx.clock = FixedClock(datetime.combine(D1, time(23, 30), UTC))
        stale = BarUpdate(make_closes(2), {a: 25.0}, [D1], factors={})
        with pytest.raises(FeedNotAdjusted, match=f"bars of {a} .* explain 0.5"):
            refuse_unadjusted(ctx, config, stale, D1)
        adjusted = BarUpdate(make_closes(2), {a: 25.0}, [D1], factors={a: 0.5})
        refuse_unadjusted(ctx, config, adjusted, D1)  # the feed shows the split: fine
        ctx.bars.name = "csv"  # type: ignore[misc]  # a file's adjustment date is unknown
        refuse_unadjusted(ctx, config, stale, D1)
    finally:
        ctx.close()


def test_a_bad_events_file_stops_the_session_naming_the_line(setup: Any, tmp_path: Path) -> None:
    config, settings = setup
    events = tmp_path / "events.csv"
    events.write_text("symbol,type,ex_date,ratio\nAAA,split,2024-03-04,2-1\n", encoding="utf-8")
    ctx = _context(settings, D1, True, io.StringIO())
    try:
        ctx.actions = CsvActions(events)
        with pytest.raises(EventsFileError, match=r"line 2, column ratio: .*e\.g\. 2:1"):
            _sync(ctx, config, D1, {"AAA": 50.0})
        assert stored_actions(ctx.store) == []
    finally:
        ctx.close()
