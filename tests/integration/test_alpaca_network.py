"""Against Alpaca's real paper API: runs only with ``--run-network`` and paper keys in the
environment (APCA_API_KEY_ID, APCA_API_SECRET_KEY). Reads only; it places no order."""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest

from daemon.adapters.alpaca.broker import AlpacaBroker
from daemon.adapters.alpaca.factory import build_alpaca_bars, build_alpaca_broker
from daemon.config.settings import AlpacaSettings

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(
        not (os.environ.get("APCA_API_KEY_ID") and os.environ.get("APCA_API_SECRET_KEY")),
        reason="needs Alpaca paper keys in APCA_API_KEY_ID / APCA_API_SECRET_KEY",
    ),
]


def test_paper_account_clock_asset_and_orders_read_through_the_adapter() -> None:
    broker = build_alpaca_broker(os.environ, AlpacaSettings())
    assert isinstance(broker, AlpacaBroker)
    account = broker.account()
    assert account.equity > 0 and account.currency == "USD"
    assert all(isinstance(q, int) and q != 0 for q in broker.positions().values())
    clock = broker.clock()
    assert clock.next_open.tzinfo is not None
    assert broker.asset("SPY").tradable
    assert broker.order_by_client_id("kalman-pairs-network-test-never-sent") is None
    broker.open_orders()


def test_iex_daily_bars_for_two_etfs_come_back_as_one_frame() -> None:
    bars = build_alpaca_bars(os.environ, AlpacaSettings())
    end = date.today() - timedelta(days=1)
    frame = bars.daily_closes(["SPY", "QQQ"], end - timedelta(days=30), end)
    assert list(frame.columns) == ["SPY", "QQQ"]
    assert len(frame) >= 15 and frame.notna().all().all()
    assert (frame > 0).all().all()
