"""``pairs-daemon check``: one line and a Nagios/Icinga exit code, optionally Prometheus metrics.

Three things are judged, the worst one wins:

- **Lateness**: the last completed session vs the latest session that should be done by now
  (the calendar's session whose scheduled run time, ``schedule.run_at`` plus
  ``monitoring.late_after_minutes``, has passed). One session behind is a WARNING (a retry may
  still be coming), two or more CRITICAL.
- **Open alerts**: any open critical alert is CRITICAL, any open warning a WARNING.
- **Tracking**: the last session's |paper - model| in bps of the model's equity against
  ``monitoring.tracking_warning_bps`` / ``tracking_critical_bps``.

UNKNOWN (3) when the state cannot be read at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import IntEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from daemon.config.settings import DaemonSettings
from daemon.monitoring.alerts import Alert, Severity, alerts
from daemon.monitoring.tracking import TrackingRow, last_tracking
from daemon.store import Store
from daemon.timing.calendar import Calendar, CatchUpPolicy


class CheckStatus(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True, slots=True)
class CheckResult:
    status: CheckStatus
    reasons: tuple[str, ...]
    last_completed: date | None = None
    due: date | None = None
    behind: int = 0
    open_alerts: tuple[Alert, ...] = ()
    tracking: TrackingRow | None = None
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def line(self) -> str:
        perf = " ".join(f"{k}={v:g}" for k, v in self.figures.items())
        text = "; ".join(self.reasons)
        return f"PAIRS-DAEMON {self.status.name} - {text}" + (f" | {perf}" if perf else "")


def due_session(now: datetime, calendar: Calendar, settings: DaemonSettings) -> date | None:
    """The latest session that should be completed by ``now``."""
    zone = ZoneInfo(settings.schedule.timezone)
    late = timedelta(minutes=settings.monitoring.late_after_minutes)
    policy = CatchUpPolicy(earliest_local_time=settings.schedule.run_at, zone=zone)
    today = now.astimezone(zone).date()
    for session in reversed(calendar.sessions(today - timedelta(days=14), today)):
        if policy.ready_at(session, calendar.close(session)) + late <= now:
            return session
    return None


def evaluate(
    store: Store, settings: DaemonSettings, now: datetime, calendar: Calendar
) -> CheckResult:
    last = store.last_completed_session()
    due = due_session(now, calendar, settings)
    if due is None:  # a feed calendar in the past (a replayed CSV): its last session is due
        past = calendar.sessions(date(1900, 1, 1), now.date())
        due = past[-1] if past else None
    behind = _behind(calendar, last, due)
    open_alerts = tuple(alerts(store, open_only=True))
    row = last_tracking(store)
    verdicts = [
        _lateness(last, due, behind),
        _alerts(open_alerts),
        _tracking(row, settings),
    ]
    status = max(v[0] for v in verdicts)
    figures: dict[str, float] = {
        "sessions_behind": behind,
        "open_alerts": len(open_alerts),
        "open_critical_alerts": sum(a.severity == Severity.CRITICAL for a in open_alerts),
    }
    if row is not None:
        figures |= {"tracking_bps": round(row.difference_bps, 4)}
        figures |= {"tracking_usd": round(row.difference, 2)}
    return CheckResult(
        status=status,
        reasons=tuple(v[1] for v in verdicts),
        last_completed=last,
        due=due,
        behind=behind,
        open_alerts=open_alerts,
        tracking=row,
        figures=figures,
    )


def _behind(calendar: Calendar, last: date | None, due: date | None) -> int:
    if due is None or (last is not None and last >= due):
        return 0
    if last is None:
        return 1
    return len(calendar.sessions(last + timedelta(days=1), due))


def _lateness(last: date | None, due: date | None, behind: int) -> tuple[CheckStatus, str]:
    done = "no session completed yet" if last is None else f"last session {last}"
    if behind == 0:
        return CheckStatus.OK, f"{done} (due {due})"
    status = CheckStatus.WARNING if behind == 1 else CheckStatus.CRITICAL
    return status, f"{done}, due {due} ({behind} behind)"


def _alerts(open_alerts: Sequence[Alert]) -> tuple[CheckStatus, str]:
    if not open_alerts:
        return CheckStatus.OK, "no open alerts"
    codes = sorted({a.code for a in open_alerts})
    critical = any(a.severity == Severity.CRITICAL for a in open_alerts)
    noun = "alert" if len(open_alerts) == 1 else "alerts"
    text = f"{len(open_alerts)} open {noun} ({', '.join(codes)})"
    return (CheckStatus.CRITICAL if critical else CheckStatus.WARNING), text


def _tracking(row: TrackingRow | None, settings: DaemonSettings) -> tuple[CheckStatus, str]:
    if row is None:
        return CheckStatus.OK, "no tracking yet"
    size = abs(row.alerting_bps)
    limits = settings.monitoring
    text = (
        f"tracking {row.alerting_bps:+.1f} bps ({row.alerting_difference:+.2f}) without "
        f"dividends on {row.session}"
    )
    if size > limits.tracking_critical_bps:
        return CheckStatus.CRITICAL, text + f" beyond {limits.tracking_critical_bps:g} bps"
    if size > limits.tracking_warning_bps:
        return CheckStatus.WARNING, text + f" beyond {limits.tracking_warning_bps:g} bps"
    return CheckStatus.OK, text


def write_textfile(path: Path, result: CheckResult) -> None:
    """The same figures for node-exporter's textfile collector (written atomically by
    prometheus-client: a temporary file renamed over ``path``)."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()

    def gauge(name: str, doc: str, value: float, **labels: str) -> None:
        g = Gauge(name, doc, list(labels), registry=registry)
        (g.labels(**labels) if labels else g).set(value)

    gauge("pairs_daemon_check_status", "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN", result.status)
    gauge("pairs_daemon_sessions_behind", "sessions due but not completed", result.behind)
    if result.last_completed is not None:
        stamp = datetime.combine(result.last_completed, datetime.min.time(), ZoneInfo("UTC"))
        gauge(
            "pairs_daemon_last_completed_session_timestamp_seconds",
            "the last completed session (midnight UTC of its date)",
            stamp.timestamp(),
        )
    alerts_gauge = Gauge(
        "pairs_daemon_open_alerts", "open alerts by severity", ["severity"], registry=registry
    )
    for severity in (Severity.WARNING, Severity.CRITICAL):
        count = sum(a.severity == severity for a in result.open_alerts)
        alerts_gauge.labels(severity=severity).set(count)
    row = result.tracking
    if row is not None:
        gauge("pairs_daemon_paper_equity_dollars", "paper account equity", row.paper_equity)
        gauge("pairs_daemon_model_equity_dollars", "shadow model equity", row.model_equity)
        gauge("pairs_daemon_tracking_difference_dollars", "paper - model equity", row.difference)
        gauge(
            "pairs_daemon_tracking_difference_bps",
            "paper - model equity, bps of model equity",
            row.difference_bps,
        )
        terms = Gauge(
            "pairs_daemon_tracking_attribution_dollars",
            "the tracking difference by cause",
            ["term"],
            registry=registry,
        )
        for term, value in row.attribution.items():
            terms.labels(term=term).set(value)
    write_to_textfile(str(path), registry)
