"""What monitoring does at the end of a completed session (called by :mod:`daemon.cycle.run`).

``track`` steps the shadow model and stores the tracking row inside the completion
transaction; ``after_completed`` resolves the alerts a good session clears and raises again the ones
whose condition still holds (kill switch, tracking beyond its threshold).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import date

from daemon.config.settings import DaemonSettings
from daemon.core.ports import Account, EventLog
from daemon.core.roster import SessionRoster
from daemon.monitoring.alerts import AlertCode, Severity, raise_alert, resolve_alerts
from daemon.monitoring.tracking import TrackingRow, record_tracking, tracking_at
from daemon.store import Store


def track(
    store: Store,
    config: SessionRoster,
    session: date,
    strategy_closes: Mapping[str, float],
    real_closes: Mapping[str, float],
    account: Account,
) -> TrackingRow | None:
    go_live = store.get_meta("go_live")
    if go_live is None:  # nothing decided yet: no model to keep
        return None
    return record_tracking(
        store,
        config,
        session,
        date.fromisoformat(go_live),
        strategy_closes,
        real_closes,
        account,
    )


def after_completed(
    store: Store,
    settings: DaemonSettings,
    session: date,
    now: str,
    log: EventLog,
    holding: Sequence[AlertCode] = (),
) -> None:
    """Never raises: the session is already completed, monitoring must not undo that.
    ``holding``: alerts raised for this session elsewhere, kept open."""
    try:
        _after_completed(store, settings, session, now, log, holding)
    except sqlite3.Error as exc:
        log.error("monitoring_failed", error=str(exc), note="alerts not updated this session")


def _after_completed(
    store: Store,
    settings: DaemonSettings,
    session: date,
    now: str,
    log: EventLog,
    still: Sequence[AlertCode],
) -> None:
    halted = settings.kill_switch_engaged()
    row = tracking_at(store, session)
    drifting = row is not None and abs(row.alerting_bps) > settings.monitoring.tracking_warning_bps
    holding = [*still, *([AlertCode.TRADING_HALTED] if halted else [])]
    holding += [AlertCode.TRACKING_DIFFERENCE] if drifting else []
    with store.transaction():
        resolve_alerts(store, now, keep=holding)
    if halted:
        raise_alert(
            store, log, AlertCode.TRADING_HALTED, halted, session=session, now=now, reason=halted
        )
    if row is not None:
        tracking_alert(store, settings, row, now, log)


def tracking_alert(
    store: Store, settings: DaemonSettings, row: TrackingRow, now: str, log: EventLog
) -> None:
    limits = settings.monitoring
    size = abs(row.alerting_bps)
    if size <= limits.tracking_warning_bps:
        return
    critical = size > limits.tracking_critical_bps
    threshold = limits.tracking_critical_bps if critical else limits.tracking_warning_bps
    raise_alert(
        store,
        log,
        AlertCode.TRACKING_DIFFERENCE,
        f"paper equity {row.paper_equity:.2f} differs from the model's {row.model_equity:.2f} "
        f"by {row.difference:+.2f} ({row.difference_bps:+.1f} bps); without dividends "
        f"{row.alerting_difference:+.2f} ({row.alerting_bps:+.1f} bps, threshold {threshold:g} bps)",
        session=row.session,
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        now=now,
        difference=row.difference,
        difference_bps=row.difference_bps,
        attribution=row.attribution,
    )
