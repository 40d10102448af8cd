"""The ``check`` and ``report`` commands of ``pairs-daemon`` (registered by :mod:`daemon.commands.cli`).

pairs-daemon [--settings FILE] check [--textfile PATH]
pairs-daemon [--settings FILE] report --out DIR

What they print and write is masked by value (API keys, :mod:`daemon.infra.redaction`): alert
and run messages come from the store, whose older rows may predate the masking of a form.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daemon.infra.redaction import redact_text
from shared.errors import PairsError

SettingsLoader = Callable[[argparse.Namespace], Any]


def add_commands(
    sub: Any, path_options: Callable[[argparse.ArgumentParser, Any], None], load: SettingsLoader
) -> None:
    check = sub.add_parser(
        "check",
        help="one line and a Nagios exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)",
    )
    check.add_argument(
        "--textfile", type=Path, help="also write Prometheus metrics (node-exporter textfile)"
    )
    path_options(check, argparse.SUPPRESS)
    check.set_defaults(func=lambda args: cmd_check(args, load))

    report = sub.add_parser("report", help="write report.html and tracking.json to --out DIR")
    report.add_argument("--out", type=Path, required=True, help="directory for the report")
    path_options(report, argparse.SUPPRESS)
    report.set_defaults(func=lambda args: cmd_report(args, load))


def _now(settings: Any) -> datetime:
    fixed = settings.clock.fixed_now
    return fixed if fixed is not None else datetime.now(UTC)


def _calendar(settings: Any) -> Any:
    from daemon.adapters.csv.bars import CsvBarSource
    from daemon.timing.calendar import FeedCalendar, XnysCalendar

    if settings.data.feed == "csv" and not settings.data.check_calendar:
        return FeedCalendar(CsvBarSource(settings.data.csv_path).sessions)
    return XnysCalendar()


def cmd_check(args: argparse.Namespace, load: SettingsLoader) -> int:
    from daemon.monitoring.check import CheckStatus, evaluate, write_textfile
    from daemon.store import Store

    try:
        settings = load(args)
        store = Store.open(settings.state_dir, read_only=True)
        try:
            result = evaluate(store, settings, _now(settings), _calendar(settings))
        finally:
            store.close()
    except (PairsError, OSError, ValueError, sqlite3.Error) as exc:
        # Nagios: a check that cannot judge says UNKNOWN, never OK or CRITICAL.
        print(redact_text(f"PAIRS-DAEMON UNKNOWN - {exc}"))
        return int(CheckStatus.UNKNOWN)
    if args.textfile is not None:
        try:
            write_textfile(args.textfile, result)
        except OSError as exc:
            print(f"PAIRS-DAEMON UNKNOWN - cannot write --textfile {args.textfile}: {exc}")
            return int(CheckStatus.UNKNOWN)
    print(redact_text(result.line))
    return int(result.status)


def cmd_report(args: argparse.Namespace, load: SettingsLoader) -> int:
    from daemon.config.research_config import load_config
    from daemon.monitoring.report_data import gather, tracking_json
    from daemon.monitoring.report_html import render
    from daemon.store import Store

    settings = load(args)
    config = load_config(settings.config)
    store = Store.open(settings.state_dir, read_only=True)
    try:
        data = gather(store, config)
    finally:
        store.close()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    stamp = _now(settings).isoformat(timespec="seconds")
    (out / "report.html").write_text(redact_text(render(data, stamp)), encoding="utf-8")
    text = redact_text(json.dumps(tracking_json(data), indent=2))
    (out / "tracking.json").write_text(text + "\n", encoding="utf-8")
    last = data.tracking[-1] if data.tracking else None
    summary = (
        f"tracking difference {last.difference:+.2f} ({last.difference_bps:+.1f} bps) "
        f"on {last.session}"
        if last
        else "no tracked session yet"
    )
    print(f"report: {out / 'report.html'}, {out / 'tracking.json'} ({summary})")
    return 0
