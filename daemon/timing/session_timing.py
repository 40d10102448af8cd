"""The cycle's timing gate and its plan for orders still queued from earlier sessions.

Both read the *broker's* clock and calendar (Alpaca's ``/v2/clock`` and ``/v2/calendar``): the
broker decides whether an order is taken and when it fills, so its clock, not the host's, is
the one that matters. A broker without them (the local paper broker fills at the next settle
whatever the time) has no gate.

* :meth:`TimingGate.check_bars_final` defers a session whose daily bar is not final yet (its
  close plus the feed's delay has not passed).
* :meth:`TimingGate.check_window` defers sending while the time in force is refused, and says
  when the orders will fill compared with the backtest (the session after the decision).
* :func:`plan_queued` turns orders of earlier sessions that are still queued at the broker (a
  late run sends ``cls`` orders that wait for a later close) into positions the strategy must
  count as held; an order that should have filled by now and did not is an error, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from daemon.core.errors import SessionDeferred
from daemon.core.ports import Broker, TimeInForce
from daemon.store import IntentRecord
from daemon.timing.order_timing import (
    SessionTimes,
    Window,
    bars_final_at,
    fill_session,
    sessions_late,
    window,
)
from shared.errors import StateError
from shared.orders import Side

# Calendar span read around a session: longer than any NYSE closure, both ways.
_SPAN = timedelta(days=14)
# An order still open this long after the close that should have filled it is stuck.
STUCK_AFTER_CLOSE = timedelta(minutes=30)


class _Stamped(Protocol):
    @property
    def timestamp(self) -> datetime: ...


@runtime_checkable
class MarketTimes(Protocol):
    """What a broker offers about time: its clock and its trading calendar."""

    def clock(self) -> _Stamped: ...

    def calendar(self, start: date, end: date) -> Sequence[SessionTimes]: ...


def market_times(broker: Broker) -> MarketTimes | None:
    return broker if isinstance(broker, MarketTimes) else None


def scheduling_clock(broker: Broker, clock: Any, calendar: Any) -> tuple[Any, Any]:
    """The clock and calendar that decide which sessions are due: the broker's when it has
    them (Alpaca), else the given ones (the daemon's clock, the exchange calendar)."""
    times = market_times(broker)
    if times is None:
        return clock, calendar
    return BrokerClock(times), BrokerCalendar(times)


class BrokerClock:
    """The broker's clock as the daemon's ``Clock`` port (for choosing the due sessions)."""

    def __init__(self, times: MarketTimes) -> None:
        self._times = times

    def now(self) -> datetime:
        return self._times.clock().timestamp


@dataclass
class TimingGate:
    times: MarketTimes | None
    tif: TimeInForce
    data_delay: timedelta = timedelta(0)
    _days: dict[tuple[date, date], list[SessionTimes]] = field(default_factory=dict, repr=False)

    def now(self) -> datetime:
        assert self.times is not None
        return self.times.clock().timestamp

    def days(self, start: date, end: date) -> list[SessionTimes]:
        assert self.times is not None
        if (start, end) not in self._days:
            self._days[(start, end)] = list(self.times.calendar(start, end))
        return self._days[(start, end)]

    def _around(self, session: date, now: datetime) -> list[SessionTimes]:
        return self.days(session - _SPAN, max(session, now.date()) + _SPAN)

    def check_bars_final(self, session: date) -> None:
        """Defer ``session`` until its daily bar is final at the broker's feed."""
        if self.times is None:
            return
        now = self.now()
        day = next((d for d in self._around(session, now) if d.session == session), None)
        if day is None:
            return  # not a session at the broker: run_once's calendar check speaks for it
        final = bars_final_at(day.close, self.data_delay)
        if now < final:
            raise SessionDeferred(
                f"session {session} closes at {day.close.isoformat()} and its daily bar is "
                f"final from {final.isoformat()} (feed delay {self.data_delay}); nothing was "
                "read or sent, run it from then on",
                resume_at=final,
                reason="bars_not_final",
            )

    def check_window(self, session: date) -> tuple[Window, int | None] | None:
        """The window for sending ``session``'s orders now, and how many sessions later than
        the backtest they fill; raises ``SessionDeferred`` while the window is closed."""
        if self.times is None:
            return None
        now = self.now()
        days = self._around(session, now)
        found = window(self.tif, now, days)
        if not found.is_open:
            assert found.opens_at is not None
            raise SessionDeferred(
                f"session {session} is decided and its orders wait: {found.describe()}",
                resume_at=found.opens_at,
                reason=f"{self.tif.value}_window_closed",
            )
        intended = next((d.session for d in sorted(days, key=_key) if d.session > session), None)
        late = None if intended is None else sessions_late(found.fill_session, intended, days)
        return found, late

    def later_session_closed(self, session: date) -> bool:
        """Whether a session after ``session`` has closed by the broker's clock: the run is a
        catch-up, and the broker's account figures are of a later close. False without a
        broker calendar (the local paper broker marks its account at the settled session)."""
        if self.times is None:
            return False
        now = self.now()
        later = sorted(d.close for d in self._around(session, now) if d.session > session)
        return bool(later) and later[0] <= now

    def expected_fill(self, sent_at: datetime, around: date) -> SessionTimes | None:
        assert self.times is not None
        days = self._around(around, self.now())
        fill = fill_session(self.tif, sent_at, days)
        return next((d for d in days if d.session == fill), None)


def _key(day: SessionTimes) -> date:
    return day.session


@dataclass(frozen=True, slots=True)
class QueuedOrder:
    client_order_id: str
    decided_on: date
    symbol: str
    remaining: int  # signed shares still to fill
    fills_on: date


@dataclass(frozen=True, slots=True)
class QueuedPlan:
    orders: tuple[QueuedOrder, ...] = ()

    def deltas(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for order in self.orders:
            out[order.symbol] = out.get(order.symbol, 0) + order.remaining
        return out

    def with_queued(self, held: dict[str, int]) -> dict[str, int]:
        """Positions once the queued orders fill: what the broker will hold."""
        merged = dict(held)
        for symbol, delta in self.deltas().items():
            merged[symbol] = merged.get(symbol, 0) + delta
        return {s: q for s, q in merged.items() if q}


def plan_queued(
    broker: Broker, gate: TimingGate, open_earlier: Sequence[IntentRecord], session: date
) -> QueuedPlan:
    """Orders of sessions before ``session`` still open at the broker: queued for a later
    auction (part of the plan) or stuck (an error naming them)."""
    if not open_earlier:
        return QueuedPlan()
    ids = ", ".join(i.client_order_id for i in open_earlier)
    if gate.times is None:
        raise StateError(
            f"orders from earlier sessions are still open at the broker: {ids}; not trading "
            "until they are filled or canceled (cancel them at the broker to proceed)"
        )
    now = gate.now()
    queued: list[QueuedOrder] = []
    stuck: list[str] = []
    for intent in open_earlier:
        order = broker.order_by_client_id(intent.client_order_id)
        if order is None or order.submitted_at is None:
            stuck.append(intent.client_order_id)
            continue
        day = gate.expected_fill(order.submitted_at, session)
        if day is None or now >= day.close + STUCK_AFTER_CLOSE:
            stuck.append(intent.client_order_id)
            continue
        remaining = Side(intent.side).sign * (order.quantity - order.filled_quantity)
        queued.append(
            QueuedOrder(
                intent.client_order_id, intent.session, intent.symbol, remaining, day.session
            )
        )
    if stuck:
        raise StateError(
            f"orders from earlier sessions are still open at the broker after the close that "
            f"should have filled them: {', '.join(stuck)}; not trading until they are filled or "
            "canceled (cancel them at the broker to proceed)"
        )
    return QueuedPlan(tuple(queued))


def describe_late(window_and_late: tuple[Window, int | None] | None) -> dict[str, Any] | None:
    """Log fields for orders that fill later than the backtest assumes, else None."""
    if window_and_late is None:
        return None
    found, late = window_and_late
    if not late:
        return None
    return {
        "fills_on": None if found.fill_session is None else found.fill_session.isoformat(),
        "sessions_late": late,
        "note": f"the backtest fills a decision at the next session's close; these "
        f"{found.tif.value} orders fill {late} session(s) later, at the prices of that day",
    }


def gate_for(
    broker: Broker, tif: TimeInForce, data_feed: str, alpaca_feed: str, sip_delay_minutes: int
) -> TimingGate:
    """The gate for a broker and the settings' feeds: the SIP delay counts only when the bars
    come from Alpaca's SIP feed."""
    delay = (
        timedelta(minutes=sip_delay_minutes)
        if (data_feed, alpaca_feed) == ("alpaca", "sip")
        else timedelta(0)
    )
    return TimingGate(market_times(broker), tif, delay)


class BrokerCalendar:
    """The broker's trading calendar as the scheduler's ``Calendar``."""

    def __init__(self, times: MarketTimes) -> None:
        self._times = times
        # Closes seen by the last sessions() call: the scheduler asks for each one right after.
        self._closes: dict[date, datetime] = {}

    def sessions(self, start: date, end: date) -> list[date]:
        days = self._times.calendar(start, end)
        self._closes = {d.session: d.close for d in days}
        return sorted(self._closes)

    def close(self, session: date) -> datetime:
        if session not in self._closes:
            self._closes.update(
                {d.session: d.close for d in self._times.calendar(session, session)}
            )
        if session not in self._closes:
            raise StateError(f"{session} is not a session in the broker's calendar")
        return self._closes[session]
