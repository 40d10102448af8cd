"""A dividend is no tracking difference: the alert judges paper minus model without the
attribution's dividends term (the broker pays cash, the model sees only the ex-date drop)."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

from daemon.config.settings import DaemonSettings, DataSettings
from daemon.infra.logging import make_logger
from daemon.monitoring.alerts import AlertCode, alerts
from daemon.monitoring.session import tracking_alert
from daemon.monitoring.tracking import TrackingRow
from daemon.store import Store


def _row(difference: float, dividends: float, residual: float = 0.0) -> TrackingRow:
    model = 100_000.0
    terms = {"slippage": 0.0, "commission": 0.0, "dividends": dividends, "unfilled": 0.0}
    return TrackingRow(
        session=date(2024, 3, 1),
        paper_equity=model + difference,
        model_equity=model,
        difference=difference,
        difference_bps=1e4 * difference / model,
        day_difference=0.0,
        day_difference_bps=0.0,
        attribution={**terms, "residual": residual},
    )


def _raised(tmp_path: Path, row: TrackingRow) -> list[str]:
    store = Store.open(tmp_path / "state")
    try:
        tracking_alert(
            store,
            DaemonSettings(data=DataSettings(feed="csv", csv_path=tmp_path / "p.csv")),
            row,
            "2024-03-01T21:00:00+00:00",
            make_logger("json", io.StringIO()),
        )
        return [a.code for a in alerts(store, open_only=True)]
    finally:
        store.close()


def test_a_special_dividend_on_a_short_leg_raises_no_tracking_alert(tmp_path: Path) -> None:
    # -1,500 paid on a short leg: 150 bps of difference, all of it the dividends term.
    row = _row(-1_500.0, dividends=-1_500.0)
    assert abs(row.difference_bps) > 100
    assert row.alerting_difference == 0.0
    assert _raised(tmp_path, row) == []


def test_a_difference_nothing_explains_still_raises(tmp_path: Path) -> None:
    row = _row(-1_600.0, dividends=-500.0, residual=-1_100.0)
    assert round(row.alerting_bps, 6) == -110.0
    assert _raised(tmp_path, row) == [AlertCode.TRACKING_DIFFERENCE]
