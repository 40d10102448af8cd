"""``pairs-daemon``: run a session, replay a CSV, show status, reconcile, or serve.

    pairs-daemon [--settings FILE] once [--session YYYY-MM-DD]
    pairs-daemon replay --prices CSV --config JSON --start D --end D --state-dir DIR
    pairs-daemon [--settings FILE] status [--json]
    pairs-daemon [--settings FILE] reconcile
    pairs-daemon [--settings FILE] run          # the scheduled service (systemd)
    pairs-daemon [--settings FILE] check [--textfile PATH]   # Nagios exit codes
    pairs-daemon [--settings FILE] report --out DIR          # report.html, tracking.json

Without ``--settings`` the embedded default is used (local paper broker, CSV feed, paths
relative to the working directory); ``--config``/``--state-dir``/``--prices`` override the
settings' paths. Exit codes: 0 done (or nothing to do), 1 the session failed, 2 bad usage or
state that needs an operator.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from daemon.monitoring.commands import add_commands as add_monitoring_commands
from shared.errors import PairsError


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _path_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """Accepted before or after the command; a subcommand's SUPPRESS default keeps a value
    given before the command."""
    parser.add_argument("--settings", type=Path, default=default, help="settings TOML")
    parser.add_argument("--config", type=Path, default=default, help="override the config path")
    parser.add_argument("--state-dir", type=Path, default=default, help="override state_dir")
    parser.add_argument("--prices", type=Path, default=default, help="override data.csv_path")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pairs-daemon", description="Paper-trade the Kalman pairs strategy on daily bars."
    )
    _path_options(parser, None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    once = sub.add_parser("once", help="run one session (default: the latest closed one)")
    once.add_argument("--session", type=_date, help="the session to run (YYYY-MM-DD)")
    _path_options(once, argparse.SUPPRESS)
    once.set_defaults(func=_cmd_once)

    replay = sub.add_parser("replay", help="run every session of a CSV, one by one")
    replay.add_argument("--start", type=_date, required=True)
    replay.add_argument("--end", type=_date, required=True)
    replay.add_argument("--output", type=Path, help="write the JSON summary here too")
    replay.add_argument(
        "--no-fsync",
        action="store_true",
        help="skip fsyncs (synchronous=OFF): faster, for a throwaway state directory only",
    )
    _path_options(replay, argparse.SUPPRESS)
    replay.set_defaults(func=_cmd_replay)

    status = sub.add_parser("status", help="last run, equity, positions, pairs, open orders")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    _path_options(status, argparse.SUPPRESS)
    status.set_defaults(func=_cmd_status)

    reconcile = sub.add_parser("reconcile", help="record broker fills; compare positions")
    _path_options(reconcile, argparse.SUPPRESS)
    reconcile.set_defaults(func=_cmd_reconcile)

    run = sub.add_parser("run", help="run as the scheduled service")
    _path_options(run, argparse.SUPPRESS)
    run.set_defaults(func=_cmd_run)
    add_monitoring_commands(sub, _path_options, _settings)
    return parser


def _settings(args: argparse.Namespace) -> Any:
    from daemon.logging import configure_structlog
    from daemon.settings import load_settings

    settings = load_settings(args.settings)
    configure_structlog(settings.log_format)
    update: dict[str, Any] = {}
    if args.config is not None:
        update["config"] = args.config.resolve()
    if args.state_dir is not None:
        update["state_dir"] = args.state_dir.resolve()
    if args.prices is not None:
        update["data"] = settings.data.model_copy(
            update={"feed": "csv", "csv_path": args.prices.resolve()}
        )
    return settings.model_copy(update=update) if update else settings


def _cmd_once(args: argparse.Namespace) -> int:
    from daemon.app import build_context, latest_session, process_env
    from daemon.cycle import run_once

    ctx = build_context(_settings(args), process_env())
    try:
        session = args.session or latest_session(ctx)
        result = run_once(ctx, session)
    finally:
        ctx.close()
    print(f"{result.session}: {result.status}" + (f" ({result.message})" if result.message else ""))
    return 1 if result.status == "failed" else 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from daemon.replay import replay, replay_settings

    missing = [f"--{n}" for n in ("prices", "config", "state_dir") if getattr(args, n) is None]
    if missing:
        print(f"pairs-daemon replay: needs {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.end < args.start:
        print("pairs-daemon replay: --end is before --start", file=sys.stderr)
        return 2
    settings = replay_settings(args.prices.resolve(), args.config.resolve(), args.state_dir)
    report = replay(settings, args.start, args.end, durable=not args.no_fsync)
    text = json.dumps(report, indent=2)
    if args.output is not None:
        args.output.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 1 if report["failed"] else 0


def _print_status(report: dict[str, Any]) -> None:
    print(f"config_id:          {report['config_id']}")
    print(f"last completed:     {report['last_completed_session']}")
    run = report["last_run"]
    if run:
        print(f"last run:           {run['session']} {run['status']} {run['message'] or ''}")
    equity = report.get("equity")
    if equity:
        print(
            f"equity:             {equity['equity']:.2f} on {equity['session']} "
            f"(cash {equity['cash']:.2f}, drawdown {equity.get('drawdown_pct', 0.0):.2f}%)"
        )
    print(f"positions:          {report['expected_positions'] or 'flat'}")
    for pair in report["pairs"]:
        z = "n/a" if pair["z"] is None else f"{pair['z']:+.3f}"
        print(
            f"  {pair['pair']:<14} beta {pair['beta']:.6f}  z {z}  state {pair['state']:+d}"
            f"  {pair['action']}" + (f"  BLOCKED: {pair['blocked']}" if pair["blocked"] else "")
        )
    for intent in report["open_intents"]:
        print(
            f"open order:         {intent['client_order_id']} {intent['side']} "
            f"{intent['quantity']} {intent['symbol']} ({intent['status']})"
        )
    if report["last_error"]:
        err = report["last_error"]
        print(f"last error:         {err['session']}: {err['message']}")


def _cmd_status(args: argparse.Namespace) -> int:
    from daemon.store import Store
    from daemon.summary import status_report

    settings = _settings(args)
    store = Store.open(settings.state_dir, read_only=True)
    try:
        report = status_report(store)
    finally:
        store.close()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_status(report)
    return 0


def _cmd_reconcile(args: argparse.Namespace) -> int:
    from daemon.app import build_context, process_env
    from daemon.config_file import load_config
    from daemon.decide import CLIENT_ID_PREFIX
    from daemon.reconcile import reconcile

    ctx = build_context(_settings(args), process_env())
    try:
        config = load_config(ctx.config_path)
        session = ctx.store.last_completed_session() or config.data.first_session
        prefix = f"{CLIENT_ID_PREFIX}-{config.config_id}-"
        report = reconcile(
            ctx.store, ctx.broker, session, config.symbols, ctx.clock.now().isoformat(), prefix
        )
    finally:
        ctx.close()
    print(report.describe())
    for fill in report.fills_recorded:
        print(f"fill recorded: {fill.client_order_id} {fill.signed_quantity:+d} {fill.symbol}")
    if report.still_open:
        print(f"still open at the broker: {', '.join(report.still_open)}")
    return 0 if report.consistent else 2


def _cmd_run(args: argparse.Namespace) -> int:
    from daemon.service import serve  # type: ignore[import-not-found,unused-ignore]

    return int(serve(_settings(args)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except PairsError as exc:
        print(f"pairs-daemon {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
