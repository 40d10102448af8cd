"""Tracking attribution on the Alpaca adapters against the local Alpaca-compatible server.

The server's closing auction fills every order 5 cents away from the close (against us), one
entry order is refused, a dividend is paid on a held position, and Alpaca charges no commission
while the model pays the config's. Each attribution term must equal what was injected, and the
terms must add up to paper minus model equity.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from daemon.monitoring.alerts import alerts
from daemon.monitoring.shadow import model_orders
from daemon.monitoring.tracking import tracking_rows
from daemon.store import Store
from shared.config import ProdConfig
from tests.alpaca_server.harness import Harness
from tests.alpaca_server.state import OPEN_STATUSES, Fault
from tests.integration.test_daemon_on_alpaca_server import FIRST_RUN, N_BARS, replay_on_server
from tests.unit.daemon_helpers import make_closes, make_config

OFFSET = 0.05  # dollars per share, against the order
RATE = 0.0005  # the model's commission; Alpaca charges none
DIVIDEND = 0.25  # per share


@pytest.fixture(scope="module")
def market() -> tuple[pd.DataFrame, ProdConfig]:
    closes = make_closes(n_bars=N_BARS, seed=11)
    return closes, make_config(closes, commission=RATE, stake=40)


def test_each_attribution_term_equals_what_was_injected(
    tmp_path: Path, market: tuple[pd.DataFrame, ProdConfig], harness: Harness
) -> None:
    book = harness.book
    refused: list[str] = []
    paid: list[float] = []

    def away_from_the_close(k: int, session: date) -> None:
        for order in book.orders:
            if order.status in OPEN_STATUSES:
                book.fill_offsets[order.client_order_id] = (
                    OFFSET if order.side == "buy" else -OFFSET
                )

    def refuse_and_pay(k: int, session: date) -> None:
        held = sorted(s for s, q in book.positions.items() if q)
        if held and not paid:
            paid.append(book.pay_dividend(held[0], DIVIDEND))
        if not refused and not any(book.positions.values()) and k > 0:
            refused.append(session.isoformat())  # the next entry's first order is refused
            refusal = {"code": 40310000, "message": "insufficient buying power"}
            harness.server.inject(Fault("POST", "/v2/orders", status=403, body=refusal, times=1))

    # The refused leg stays refused (no repair): this test is about attribution's terms.
    replay = replay_on_server(
        tmp_path, market, harness, refuse_and_pay, away_from_the_close, on_unbalanced="alert"
    )
    assert all(r.status == "completed" for r in replay.results)
    store = Store.open(tmp_path / "state", read_only=True)
    try:
        rows = tracking_rows(store)
        orders = {o.client_order_id: o for o in model_orders(store)}
        fills = store.fills()
        rejected = [i.client_order_id for i in store.intents() if i.status == "rejected"]
        unbalanced = [a for a in alerts(store) if a.code == "pair_unbalanced"]
        repairs = [i for i in store.intents() if i.attempt != 1]
    finally:
        store.close()
    assert len(rows) == N_BARS - FIRST_RUN
    assert len(rejected) == 1 and paid and paid[0] != 0.0
    # The half pair is seen (critical, naming the pair) until the pair's exit closes it; under
    # "alert" no repair was sent (the refused leg's order is the only rejected intent, and no
    # intent is a repair).
    assert unbalanced and {a.severity for a in unbalanced} == {"critical"}
    assert "unbalanced: broker holds" in unbalanced[0].message
    assert not repairs
    last = rows[-1]
    terms = last.attribution

    # Slippage: every paper share filled 5 cents against us.
    shares = sum(abs(f.signed_quantity) for f in fills)
    assert terms["slippage"] == pytest.approx(-OFFSET * shares, abs=1e-3)
    # Commission: the model's rate on the shares the broker filled, at the model's price.
    model_fee = sum(
        abs(f.signed_quantity) * orders[f.client_order_id].fill_price * RATE  # type: ignore[operator]
        for f in fills
    )
    assert terms["commission"] == pytest.approx(model_fee, abs=1e-9)
    # Dividends: the cash the broker credited beyond the fills (Alpaca sends cents).
    assert terms["dividends"] == pytest.approx(paid[0], abs=0.01)
    # Unfilled: the model's round trip in the refused leg, which the paper account never had.
    entry = orders[rejected[0]]
    later = [
        o
        for o in orders.values()
        if o.symbol == entry.symbol and o.decision_session > entry.decision_session
    ]
    exit_ = later[0]
    round_trip = (
        entry.filled_quantity * (exit_.fill_price - entry.fill_price)  # type: ignore[operator]
        - entry.commission
        - exit_.commission
    )
    assert exit_.filled_quantity == -entry.filled_quantity
    assert terms["unfilled"] == pytest.approx(-round_trip, abs=1e-6)
    assert abs(terms["residual"]) < 0.02  # money in cents at the broker, nothing else
    assert sum(terms.values()) == pytest.approx(last.difference, abs=1e-9)
    assert last.difference == pytest.approx(last.paper_equity - last.model_equity, abs=1e-9)
    assert abs(last.difference) > 1.0
