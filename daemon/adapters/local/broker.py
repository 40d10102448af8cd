"""``LocalPaperBroker``: a paper account that needs no vendor, with the research fill model.

Orders submitted after session D's close are queued; ``settle(D+1, closes)`` checks them in
submission order against cash at their *creation* price (backtrader's submission check), then
fills the accepted ones at D+1's close with the execution-time margin check and the config's
commission: exactly :func:`shared.fill_model.process_bar`, order by order, so each fill maps back
to its ``client_order_id``. The time-in-force is recorded but not simulated: every order fills
at the next settled session's close, which is what the backtest assumes.

**No invented price.** ``closes`` holds the session's closes; a symbol without one (a halt: an
empty cell in the feed) is absent, or NaN, and no order fills at another session's price.
Research backtests a pair on its own closes (each series ``dropna``'d, the two intersected), so
a session on which either leg has no close does not exist for that pair. Measured on backtrader
1.9.78.123 over the pair's intersected dates: orders created on bar t, the session before the
gap, are checked at the pair's next bar (the next session on which *both* legs have a close)
against the cash then, at their creation price, in creation order, and the accepted ones fill
at that bar's close (the execution-time margin check applies as usual). So here an order whose
symbol, or whose pair's other leg, has no close on the settled session stays ``new`` (both legs
wait: never half a pair), neither checked nor filled; on the next settled session on which both
legs have a close it is checked and filled like any order. Other pairs' orders fill as usual. A
symbol outside ``pairs`` waits for its own close only. A held position in a symbol without a
close is marked at its last settled close (a mark, not a fill).

Shared cash: waiting orders take no part in the gap sessions' cash checks (other pairs' orders
checked meanwhile see the cash without them) and keep their place in the creation order when
they fill: checked before the orders created after them. The research multi-pair backtest has
no such case, as it intersects every ticker's dates and so drops the session for every pair;
the daemon holds only the pair with the missing leg (daemon/cycle/missing_legs.py). Per pair,
fills and prices equal the backtest on that pair's own closes
(tests/parity/test_missing_leg_parity.py). A real broker does not wait: the halted leg's order
expires there.

The book lives in its own SQLite file in the state directory, as a real broker's would live
outside the daemon's store: a crash between the two is exactly what reconciliation must handle.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from daemon.core.ports import Account, BrokerOrder, Clock, OrderRequest, OrderStatus
from shared.errors import BrokerError, StateError
from shared.fill_model import MARGIN, Book, check_submitted, execute_order
from shared.orders import Leg, OrderIntent, Side

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS account (
        id INTEGER PRIMARY KEY CHECK (id = 1), cash REAL NOT NULL, commission REAL NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, quantity INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS orders (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        client_order_id TEXT NOT NULL UNIQUE,
        symbol TEXT NOT NULL, side TEXT NOT NULL, quantity INTEGER NOT NULL,
        reference_price REAL NOT NULL, time_in_force TEXT NOT NULL,
        status TEXT NOT NULL, filled_quantity INTEGER NOT NULL DEFAULT 0,
        filled_avg_price REAL, commission REAL NOT NULL DEFAULT 0,
        submitted_at TEXT NOT NULL, filled_at TEXT, queued_after TEXT, reject_reason TEXT)""",
    "CREATE TABLE IF NOT EXISTS settled (session TEXT PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS last_closes (symbol TEXT PRIMARY KEY, close REAL NOT NULL)",
)
_ORDER_COLUMNS = (
    "seq, client_order_id, symbol, side, quantity, filled_quantity, filled_avg_price, status, "
    "submitted_at, filled_at, commission, reject_reason, reference_price"
)


class LocalPaperBroker:
    """A :class:`daemon.core.ports.Broker` whose book is an SQLite file."""

    name = "local"
    # The research fill model trades adjusted closes, which already contain splits and
    # dividends: nothing to book (daemon/cycle/apply_actions.py).
    books_corporate_actions = False

    def __init__(
        self,
        path: Path,
        *,
        initial_cash: float,
        commission: float,
        clock: Clock,
        durable: bool = True,
        pairs: Sequence[tuple[str, str]] = (),
    ) -> None:
        """``pairs``: the legs of each configured pair; an order of a pair waits while either
        leg has no close (see the module docstring)."""
        self.path = Path(path)
        self._clock = clock
        self._legs = _legs_of(pairs)
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
            with self._txn():
                for statement in _SCHEMA:
                    self._conn.execute(statement)
                self._conn.execute(
                    "INSERT OR IGNORE INTO account (id, cash, commission) VALUES (1, ?, ?)",
                    (float(initial_cash), float(commission)),
                )
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"local broker book {self.path} is corrupted ({exc}); nothing was changed; "
                "restore it from a backup or start a fresh state directory"
            ) from None
        self.commission = float(self._q("SELECT commission FROM account")[0][0])

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _txn(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _q(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self._conn.execute(sql, params).fetchall()

    def _now(self) -> str:
        return self._clock.now().isoformat()

    def _book(self) -> Book:
        cash = float(self._q("SELECT cash FROM account")[0][0])
        rows = self._q("SELECT symbol, quantity FROM positions ORDER BY symbol")
        return Book(cash=cash, positions={r[0]: int(r[1]) for r in rows})

    def _save_book(self, book: Book) -> None:
        self._conn.execute("UPDATE account SET cash = ?", (book.cash,))
        for symbol, quantity in book.positions.items():
            self._conn.execute(
                "INSERT OR REPLACE INTO positions (symbol, quantity) VALUES (?, ?)",
                (symbol, quantity),
            )

    @staticmethod
    def _to_order(row: Any) -> BrokerOrder:
        return BrokerOrder(
            client_order_id=row[1],
            broker_order_id=f"local-{row[0]}",
            symbol=row[2],
            side=Side(row[3]),
            quantity=int(row[4]),
            filled_quantity=int(row[5]),
            filled_avg_price=row[6],
            status=OrderStatus(row[7]),
            submitted_at=None,
            filled_at=None,
            commission=float(row[10]),
            reject_reason=row[11],
        )

    # --- the Broker port --------------------------------------------------------------------
    def account(self) -> Account:
        book = self._book()
        closes = dict(self._q("SELECT symbol, close FROM last_closes"))
        missing = [s for s, q in book.positions.items() if q and s not in closes]
        if missing:
            raise StateError(f"local broker has no close for held {missing}; settle a session")
        equity = book.value(closes)
        return Account(cash=book.cash, equity=equity, buying_power=book.cash)

    def positions(self) -> dict[str, int]:
        return {s: q for s, q in self._book().positions.items() if q != 0}

    def submit(self, request: OrderRequest) -> BrokerOrder:
        if request.quantity <= 0:
            raise BrokerError(f"order {request.client_order_id}: quantity must be positive")
        with self._txn():
            existing = self.order_by_client_id(request.client_order_id)
            if existing is not None:
                return existing
            last = self._q("SELECT MAX(session) FROM settled")[0][0]
            self._conn.execute(
                "INSERT INTO orders (client_order_id, symbol, side, quantity, reference_price, "
                "time_in_force, status, submitted_at, queued_after) "
                "VALUES (?, ?, ?, ?, ?, ?, 'new', ?, ?)",
                (
                    request.client_order_id,
                    request.symbol,
                    request.side.value,
                    request.quantity,
                    request.reference_price,
                    request.time_in_force.value,
                    self._now(),
                    last,
                ),
            )
        order = self.order_by_client_id(request.client_order_id)
        assert order is not None
        return order

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        rows = self._q(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = ?", (client_order_id,)
        )
        return self._to_order(rows[0]) if rows else None

    def open_orders(self) -> list[BrokerOrder]:
        rows = self._q(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE status = 'new' ORDER BY seq")
        return [self._to_order(r) for r in rows]

    def cancel(self, broker_order_id: str) -> None:
        seq = int(broker_order_id.removeprefix("local-"))
        with self._txn():
            self._conn.execute(
                "UPDATE orders SET status = 'canceled' WHERE seq = ? AND status = 'new'", (seq,)
            )

    def settle(
        self,
        session: date,
        closes: Mapping[str, float],
        pairs: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        """Fill the orders queued before ``session`` at its closes; idempotent per session.
        A symbol absent from ``closes`` (or NaN) has no close: its pair's orders wait.
        ``pairs``: the pairs that ordered (after a hand-over, not the ones it was built with)."""
        if pairs is not None:
            self._legs = _legs_of(pairs)
        key = session.isoformat()
        closes = {s: float(c) for s, c in closes.items() if math.isfinite(float(c))}
        with self._txn():
            if self._q("SELECT 1 FROM settled WHERE session = ?", (key,)):
                return
            last = self._q("SELECT MAX(session) FROM settled")[0][0]
            if last is not None and last > key:
                raise BrokerError(
                    f"local broker already settled {last}; cannot settle the earlier {key}"
                )
            self._fill_queued(key, closes)
            for symbol, close in closes.items():
                self._conn.execute(
                    "INSERT OR REPLACE INTO last_closes (symbol, close) VALUES (?, ?)",
                    (symbol, float(close)),
                )
            self._conn.execute("INSERT INTO settled (session) VALUES (?)", (key,))

    def _tradable(self, symbol: str, closes: Mapping[str, float]) -> bool:
        """Whether ``symbol``'s pair has a close for every leg (the pair has a bar)."""
        return all(leg in closes for leg in self._legs.get(symbol, (symbol,)))

    def _fill_queued(self, key: str, closes: Mapping[str, float]) -> None:
        rows = self._q(
            "SELECT seq, symbol, side, quantity, reference_price FROM orders "
            "WHERE status = 'new' AND (queued_after IS NULL OR queued_after < ?) ORDER BY seq",
            (key,),
        )
        rows = [r for r in rows if self._tradable(r[1], closes)]  # the others wait
        intents = {
            r[0]: OrderIntent(0, Leg.A, r[1], Side(r[2]), int(r[3]), float(r[4])) for r in rows
        }
        book = self._book()
        accepted, rejected = check_submitted(book.cash, list(intents.values()), self.commission)
        seq_of = {id(intent): seq for seq, intent in intents.items()}
        for intent in rejected:
            self._conn.execute(
                "UPDATE orders SET status = 'rejected', reject_reason = ? WHERE seq = ?",
                (f"{MARGIN}: not enough cash at the creation price", seq_of[id(intent)]),
            )
        for intent in accepted:
            price = closes[intent.symbol]
            book, executed = execute_order(
                book, intent.symbol, intent.signed_quantity, price, self.commission
            )
            self._record_execution(seq_of[id(intent)], intent, executed, price)
        self._save_book(book)

    def _record_execution(self, seq: int, intent: OrderIntent, executed: int, price: float) -> None:
        if executed == intent.signed_quantity:
            status, reason = OrderStatus.FILLED, None
        elif executed == 0:
            status, reason = OrderStatus.REJECTED, f"{MARGIN}: not enough cash at the fill price"
        else:  # the opening part was nullified; the closing part filled
            status, reason = OrderStatus.CANCELED, f"{MARGIN}: opening part not filled"
        commission = abs(executed) * price * self.commission
        self._conn.execute(
            "UPDATE orders SET status = ?, filled_quantity = ?, filled_avg_price = ?, "
            "commission = ?, filled_at = ?, reject_reason = ? WHERE seq = ?",
            (
                status,
                abs(executed),
                price if executed else None,
                commission,
                self._now(),
                reason,
                seq,
            ),
        )


def _legs_of(pairs: Sequence[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """Each symbol's pair (its legs wait for each other's close)."""
    return {symbol: tuple(pair) for pair in pairs for symbol in pair}
