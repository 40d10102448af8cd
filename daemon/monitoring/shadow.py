"""The shadow model: the research backtest's account, kept incrementally beside the paper one.

From the go-live session on, every completed session also steps the research fill model
(:mod:`shared.fill_model`, backtrader's broker) on the same bars: the model fills the orders it
decided on the previous session at this session's real closes (creation-price cash check, then
execution in creation order), then the strategy steps on the stored closes reading the *model's*
positions, and the model's equity is marked at the real closes. That is exactly what
``pairs-research backtest --trade-from <go-live>`` computes, one bar at a time, so on the local
paper broker (the same fill model) the paper and model accounts agree to the last bit.

A split the paper broker books (Alpaca) is booked on the model's positions too, on its ex-date;
dividends are not (the paper account's dividend cash is what attribution calls ``dividends``).

Model orders carry the ``client_order_id`` the daemon gives the same (session, pair, leg), so
each paper fill is matched with the model's fill of the same order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from daemon.core.corporate_actions import ActionKind, split_position
from daemon.core.decide import client_order_id, held_symbols, rebuild_states, step_all
from daemon.core.roster import SessionRoster, carry_states
from daemon.core.statuses import IntentStatus
from daemon.store import Store, pair_state_from_json, pair_state_to_json
from daemon.store.actions import (
    real_per_stored,
    split_symbols,
    splits_not_booked,
    stored_actions,
)
from daemon.store.generations import roster_at
from shared.fill_model import Book, check_submitted, execute_order
from shared.handover import waiting as slots_waiting
from shared.orders import Leg, OrderIntent, Side
from shared.strategy import PairState

# Set by the corporate-action step: whether the paper broker books splits and dividends.
BOOKS_ACTIONS_META = "broker_books_corporate_actions"
MODEL_CASH_IN_LIEU = "model_cash_in_lieu"
# Before migration 5 a partial fill was stored as "partly_filled"; a store opened read-only (status,
# report) is not migrated, so its old rows are read under the current name.
_OLD_SPELLINGS = {"partly_filled": IntentStatus.PARTIALLY_FILLED}


@dataclass(frozen=True, slots=True)
class ModelSession:
    session: date
    cash: float
    positions: dict[str, int]
    pair_states: list[PairState]
    closes: dict[str, float]  # real closes of the session
    equity: float


@dataclass(frozen=True, slots=True)
class ModelOrder:
    client_order_id: str
    decision_session: date
    pair_index: int
    leg: str
    symbol: str
    signed_quantity: int
    creation_price: float
    status: IntentStatus  # pending | filled | partially_filled | rejected
    fill_session: date | None = None
    filled_quantity: int = 0  # signed
    fill_price: float | None = None
    commission: float = 0.0


def mark(cash: float, positions: Mapping[str, int], closes: Mapping[str, float]) -> float:
    """Equity as the local paper broker computes it (positions summed in symbol order), so the
    two accounts' figures are bit for bit comparable."""
    ordered = {s: positions[s] for s in sorted(positions)}
    return Book(cash=cash, positions=ordered).value(closes)


def last_model_session(store: Store, before: date) -> ModelSession | None:
    rows = store.sql(
        "SELECT session, cash, positions, pair_states, closes, equity FROM model_sessions "
        "WHERE session < ? ORDER BY session DESC LIMIT 1",
        (before.isoformat(),),
    )
    return _model_session(rows[0]) if rows else None


def model_sessions(store: Store) -> list[ModelSession]:
    rows = store.sql(
        "SELECT session, cash, positions, pair_states, closes, equity FROM model_sessions "
        "ORDER BY session"
    )
    return [_model_session(r) for r in rows]


def _model_session(row: Sequence[object]) -> ModelSession:
    return ModelSession(
        session=date.fromisoformat(str(row[0])),
        cash=float(row[1]),  # type: ignore[arg-type]
        positions={str(k): int(v) for k, v in json.loads(str(row[2])).items()},
        pair_states=[pair_state_from_json(json.dumps(s)) for s in json.loads(str(row[3]))],
        closes={str(k): float(v) for k, v in json.loads(str(row[4])).items()},
        equity=float(row[5]),  # type: ignore[arg-type]
    )


def model_closes(store: Store, session: date) -> dict[str, float] | None:
    """The real closes the model used on ``session`` (None if it did not model it)."""
    rows = store.sql("SELECT closes FROM model_sessions WHERE session = ?", (session.isoformat(),))
    return {str(k): float(v) for k, v in json.loads(rows[0][0]).items()} if rows else None


def first_model_session(store: Store) -> date | None:
    rows = store.sql("SELECT MIN(session) FROM model_sessions")
    return date.fromisoformat(rows[0][0]) if rows and rows[0][0] else None


def model_orders(store: Store, *, status: IntentStatus | None = None) -> list[ModelOrder]:
    sql = (
        "SELECT client_order_id, decision_session, pair_index, leg, symbol, signed_quantity, "
        "creation_price, status, fill_session, filled_quantity, fill_price, commission "
        "FROM model_orders"
    )
    params: tuple[str, ...] = ()
    if status is not None:
        sql += " WHERE status = ?"
        params = (status,)
    rows = store.sql(sql + " ORDER BY rowid", params)
    return [
        ModelOrder(
            r[0],
            date.fromisoformat(r[1]),
            int(r[2]),
            r[3],
            r[4],
            int(r[5]),
            float(r[6]),
            _OLD_SPELLINGS.get(r[7]) or IntentStatus(r[7]),
            None if r[8] is None else date.fromisoformat(r[8]),
            int(r[9]),
            r[10],
            float(r[11]),
        )
        for r in rows
    ]


def _initial(
    store: Store, config: SessionRoster, session: date, go_live: date
) -> tuple[float, dict[str, int], list[PairState]]:
    """The model's account and pair states just before ``session``: the research start at
    go-live; for a store that trades since before monitoring existed, the paper account as it
    stands and the daemon's last pair states (tracking starts from there)."""
    last = store.last_completed_session()
    traded = any(i.session < session for i in store.intents())
    if traded and last is not None and len(store.decisions(last)) == len(config.pairs):
        # This session's fills and equity are already recorded: start from the last one's.
        cash = next(e.cash for e in store.equity_series() if e.session == last)
        _adopt_sent_orders(store, last)
        store.set_meta("tracking_start_cash", repr(cash))
        positions = store.expected_positions(through=last)
        return cash, positions, [d.pair_state for d in store.decisions(last)]
    bars = store.bars(config.symbols)
    history = bars.loc[[d < session for d in bars.index]]
    states = rebuild_states(config.slots, history, go_live, lambda d: {})
    return config.initial_cash, {}, states


def _adopt_sent_orders(store: Store, last: date) -> None:
    """Starting mid-way, the model takes over the orders the paper account sent on the last
    completed session (they fill on this one), so both accounts start level."""
    for i in store.intents(last):
        if i.status in (IntentStatus.BLOCKED, IntentStatus.REJECTED):
            continue
        store.sql(
            "INSERT INTO model_orders (client_order_id, decision_session, pair_index, leg, "
            "symbol, signed_quantity, creation_price, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                i.client_order_id,
                i.session.isoformat(),
                i.pair_index,
                i.leg,
                i.symbol,
                i.quantity if i.side == "buy" else -i.quantity,
                i.reference_price,
                IntentStatus.PENDING,
            ),
        )


def _across_splits(store: Store, order: ModelOrder, session: date) -> int:
    """The order's signed quantity in the shares of ``session``: an order decided before a
    split's ex-date and filled on or after it was sized in the old shares, so it is scaled by
    the ratio (whole shares toward zero), as research on the adjusted closes would size it.
    The paper account's order is not scaled (Alpaca adjusts no queued order): the difference
    is what pair integrity (or the flat pair's residual close) repairs the next session."""
    if store.get_meta(BOOKS_ACTIONS_META) != "1":
        return order.signed_quantity
    ratio = 1.0
    unbooked = splits_not_booked(store)
    for stored in stored_actions(store):
        action = stored.action
        if (
            action.key not in unbooked
            and action.kind is ActionKind.SPLIT
            and action.symbol == order.symbol
            and order.decision_session < action.ex_date <= session
        ):
            ratio *= action.ratio
    if ratio == 1.0:
        return order.signed_quantity
    whole, _ = split_position(order.signed_quantity, ratio)
    return whole


def _model_fills(
    store: Store,
    pending: Sequence[ModelOrder],
    book: Book,
    session: date,
    closes: Mapping[str, float],
    commission: float,
) -> tuple[Book, list[tuple[ModelOrder, int, int, float | None, float]]]:
    """The model's pending orders filled at ``closes`` exactly as
    :func:`shared.fill_model.process_bar` does it, order by order: the new book and, per
    order, (order, signed quantity wanted, executed, price, commission). Reads the store,
    writes nothing."""
    wanted = [_across_splits(store, o, session) for o in pending]
    intents = [
        OrderIntent(0, Leg.A, o.symbol, Side.BUY if q > 0 else Side.SELL, abs(q), o.creation_price)
        for o, q in zip(pending, wanted, strict=True)
    ]
    accepted, _ = check_submitted(book.cash, intents, commission)
    accepted_ids = {id(i) for i in accepted}
    done: list[tuple[ModelOrder, int, int, float | None, float]] = []
    for order, quantity, intent in zip(pending, wanted, intents, strict=True):
        executed, price, fee = 0, None, 0.0
        if quantity and id(intent) in accepted_ids:
            price = float(closes[order.symbol])
            book, executed = execute_order(book, order.symbol, quantity, price, commission)
            fee = abs(executed) * price * commission
        done.append((order, quantity, executed, price, fee))
    return book, done


def _waiting(config: SessionRoster, closes: Mapping[str, float]) -> set[str]:
    """Symbols of the pairs with a leg without a close this session: their orders stay
    pending for the pair's next bar, as on the local paper broker
    (daemon/adapters/local/broker.py)."""
    no_close = [s for s, v in closes.items() if math.isnan(float(v))]
    return set(held_symbols(config.pair_list, no_close))


def _pending(store: Store, waiting: Collection[str]) -> list[ModelOrder]:
    return [o for o in model_orders(store, status=IntentStatus.PENDING) if o.symbol not in waiting]


def _fill_pending(
    store: Store,
    book: Book,
    session: date,
    closes: Mapping[str, float],
    commission: float,
    waiting: Collection[str] = frozenset(),
) -> Book:
    """The previous session's model orders filled (see :func:`_model_fills`), each recorded
    under its ``client_order_id``; orders in a ``waiting`` symbol stay pending."""
    pending = _pending(store, waiting)
    book, done = _model_fills(store, pending, book, session, closes, commission)
    for order, wanted, executed, price, fee in done:
        status = (
            IntentStatus.FILLED
            if executed == wanted
            else (IntentStatus.REJECTED if executed == 0 else IntentStatus.PARTIALLY_FILLED)
        )
        store.sql(
            "UPDATE model_orders SET status = ?, fill_session = ?, filled_quantity = ?, "
            "fill_price = ?, commission = ? WHERE client_order_id = ?",
            (
                status,
                session.isoformat(),
                executed,
                price if executed else None,
                fee,
                order.client_order_id,
            ),
        )
    return book


def positions_after_fills(
    store: Store, config: SessionRoster, session: date, real_closes: Mapping[str, float]
) -> dict[str, int] | None:
    """What the research fill model will hold once ``session``'s fills are in (its splits
    booked, its pending orders filled at the session's closes), without recording anything:
    what the decisions intended the account to hold, for the pair-integrity check. None
    before the model has a session (nothing decided yet)."""
    previous = last_model_session(store, session)
    if previous is None:
        return None
    book = Book(cash=previous.cash, positions=dict(previous.positions))
    book, _ = _book_splits(store, book, previous.session, session, real_closes)
    pending = _pending(store, _waiting(config, real_closes))
    book, _ = _model_fills(store, pending, book, session, real_closes, config.commission)
    return {s: q for s, q in book.positions.items() if q}


def _book_splits(
    store: Store, book: Book, after: date, session: date, closes: Mapping[str, float]
) -> tuple[Book, float]:
    """The splits with an ex-date in ``(after, session]`` booked on the model's positions as
    the broker books them (whole shares, the fraction as cash in lieu at the session's close),
    when the broker books corporate actions at all: the new book and the cash in lieu. Pure."""
    if store.get_meta(BOOKS_ACTIONS_META) != "1":
        return book, 0.0
    positions, cash, lieu = dict(book.positions), book.cash, 0.0
    unbooked = splits_not_booked(store)  # the paper account did not book them: nor does the model
    for stored in stored_actions(store):
        action = stored.action
        held = positions.get(action.symbol, 0)
        if action.kind is not ActionKind.SPLIT or not (after < action.ex_date <= session):
            continue
        if action.key in unbooked:
            continue
        if held:
            whole, fraction = split_position(held, action.ratio)
            positions[action.symbol] = whole
            cash += fraction * float(closes[action.symbol])
            lieu += fraction * float(closes[action.symbol])
    return Book(cash=cash, positions=positions), lieu


def _apply_splits(
    store: Store, book: Book, after: date, session: date, closes: Mapping[str, float]
) -> Book:
    """:func:`_book_splits`, keeping the model's cash in lieu (``MODEL_CASH_IN_LIEU``) so
    attribution can net it out."""
    book, lieu = _book_splits(store, book, after, session, closes)
    if store.get_meta(BOOKS_ACTIONS_META) == "1":
        total = float(store.get_meta(MODEL_CASH_IN_LIEU) or 0.0) + lieu
        store.set_meta(MODEL_CASH_IN_LIEU, repr(total))
    return book


def _follow_roster(
    store: Store, config: SessionRoster, previous: ModelSession, session: date, go_live: date
) -> list[PairState]:
    """The model's states in this session's roster order: the daemon's hand-over and the
    leaving pairs it let go apply to the model too; a pair the hand-over added starts from the
    same warmed-up state the daemon's starts from."""
    recorded = roster_at(store, previous.session)
    if recorded is None or recorded[1] == config.slots:
        return list(previous.pair_states)
    carried = carry_states(recorded[1], list(previous.pair_states), config.slots)
    new = [config.slots[k] for k, state in enumerate(carried) if state is None]
    bars = store.bars(config.symbols)
    history = bars.loc[[d < session for d in bars.index]]
    warmed = iter(rebuild_states(new, history, go_live, lambda d: {}))
    return [state if state is not None else next(warmed) for state in carried]


def step_model(
    store: Store,
    config: SessionRoster,
    session: date,
    go_live: date,
    strategy_closes: Mapping[str, float],
    real_closes: Mapping[str, float],
) -> ModelSession | None:
    """Advance the model to ``session`` (call inside the completion transaction). Before
    go-live there is nothing to model and None is returned."""
    if session < go_live:
        return None
    previous = last_model_session(store, session)
    if previous is None:
        cash, positions, states = _initial(store, config, session, go_live)
    else:
        cash, positions = previous.cash, previous.positions
        states = _follow_roster(store, config, previous, session, go_live)
    book = Book(cash=cash, positions=dict(positions))
    if previous is not None:
        book = _apply_splits(store, book, previous.session, session, real_closes)
    waiting = _waiting(config, strategy_closes)
    book = _fill_pending(store, book, session, real_closes, config.commission, waiting)
    held = {s: q for s, q in book.positions.items() if q}
    split = split_symbols(store)
    # Sized as the daemon sizes them: in real shares once the broker booked a split.
    books = store.get_meta(BOOKS_ACTIONS_META) == "1"
    ratios = real_per_stored(store) if books else {}
    decisions = step_all(
        config.slots, states, strategy_closes, held, slots_waiting(config.slots), split, ratios
    )
    for k, decision in enumerate(decisions):
        for order in decision.orders:
            store.sql(
                "INSERT INTO model_orders (client_order_id, decision_session, pair_index, leg, "
                "symbol, signed_quantity, creation_price, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    client_order_id(config.config_id, session, k, order.leg.value, 1),
                    session.isoformat(),
                    k,
                    order.leg.value,
                    order.symbol,
                    order.signed_quantity,
                    float(real_closes[order.symbol]),
                    IntentStatus.PENDING,
                ),
            )
    result = ModelSession(
        session=session,
        cash=book.cash,
        positions=held,
        pair_states=[d.state for d in decisions],
        closes={s: float(v) for s, v in real_closes.items()},
        equity=mark(book.cash, held, real_closes),
    )
    store.sql(
        "INSERT INTO model_sessions (session, cash, positions, pair_states, closes, equity) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            session.isoformat(),
            result.cash,
            json.dumps(result.positions, sort_keys=True),
            json.dumps([json.loads(pair_state_to_json(s)) for s in result.pair_states]),
            json.dumps(result.closes, sort_keys=True),
            result.equity,
        ),
    )
    return result
