"""``pairs-daemon``: run a session, replay a CSV, show status, reconcile, or serve.

    pairs-daemon [--settings FILE] once [--session YYYY-MM-DD] [--wait]
    pairs-daemon replay --prices CSV --config JSON --start D --end D --state-dir DIR
    pairs-daemon [--settings FILE] status [--json]
    pairs-daemon [--settings FILE] reconcile
    pairs-daemon [--settings FILE] rewarm       # re-warm on the feed's corrected history
    pairs-daemon [--settings FILE] run          # the scheduled service (systemd)
    pairs-daemon [--settings FILE] check [--textfile PATH]   # Nagios exit codes
    pairs-daemon [--settings FILE] report --out DIR          # report.html, tracking.json
    pairs-daemon [--settings FILE] deploy PATH [--dry-run] [--json] [--force]
    pairs-daemon [--settings FILE] deploy --rollback [--dry-run] [--json]

Without ``--settings`` the embedded default is used (local paper broker, CSV feed, paths
relative to the working directory); ``--config``/``--state-dir``/``--prices`` override the
settings' paths. Exit codes: 0 done (or nothing to do), 1 the session failed, 2 bad usage or
state that needs an operator, 75 deferred (the broker's order window is closed; the output says
when to run again, or pass ``--wait``). Everything printed is redacted by value (API keys).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, cast

from daemon.commands.monitor import add_commands as add_monitoring_commands
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

    once = sub.add_parser(
        "once", help="run the due sessions in order (or one, with --session), then exit"
    )
    once.add_argument("--session", type=_date, help="the session to run (YYYY-MM-DD)")
    once.add_argument(
        "--wait",
        action="store_true",
        help="when a session is deferred (order window closed), sleep until it opens and go on",
    )
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

    rewarm = sub.add_parser(
        "rewarm", help="replace the stored history with the feed's corrected one (service stopped)"
    )
    _path_options(rewarm, argparse.SUPPRESS)
    rewarm.set_defaults(func=_cmd_rewarm)

    deploy = sub.add_parser(
        "deploy",
        help="move the account to a new config (gates, plan; applied at the next session)",
    )
    deploy.add_argument("candidate", nargs="?", type=Path, help="the new kalman_prod_config.json")
    deploy.add_argument("--dry-run", action="store_true", help="show the gates and plan only")
    deploy.add_argument("--json", action="store_true", help="machine-readable output")
    deploy.add_argument("--force", action="store_true", help="deploy past a failed gate")
    deploy.add_argument(
        "--rollback", action="store_true", help="return to the previous generation's config"
    )
    _path_options(deploy, argparse.SUPPRESS)
    deploy.set_defaults(func=_cmd_deploy)

    run = sub.add_parser("run", help="run as the scheduled service")
    _path_options(run, argparse.SUPPRESS)
    run.set_defaults(func=_cmd_run)
    add_monitoring_commands(sub, _path_options, _settings)
    return parser


def _say(text: str, file: Any = None) -> None:
    """Print with the API keys masked by value, whatever the text around them."""
    from daemon.infra.redaction import redact_text

    print(redact_text(text), file=file or sys.stdout)


def _settings(args: argparse.Namespace) -> Any:
    from daemon.adapters.alpaca.clients import register_env_secrets
    from daemon.commands.app import process_env
    from daemon.config.settings import load_settings
    from daemon.infra.logging import configure_structlog

    register_env_secrets(process_env())
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
    from daemon.commands.app import build_context, process_env
    from daemon.commands.once import once_exit_code, run_due, run_session_waiting
    from daemon.commands.service import session_calendar

    ctx = build_context(_settings(args), process_env())
    try:
        if args.session is not None:
            outcome = run_session_waiting(ctx, args.session, wait=args.wait)
        else:
            outcome = run_due(ctx, session_calendar(ctx), wait=args.wait)
        last = ctx.store.last_completed_session()
    finally:
        ctx.close()
    for result in outcome.results:
        _say(
            f"{result.session}: {result.status}"
            + (f" ({result.message})" if result.message else "")
        )
    report = outcome.report
    if report is not None and not outcome.results:
        detail = f": {report.message}" if report.message else ""
        _say(f"nothing run ({report.status.value}, last completed {last or 'none'}){detail}")
    return once_exit_code(outcome)


def _cmd_replay(args: argparse.Namespace) -> int:
    from daemon.commands.replay import replay, replay_settings

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
    for g in report.get("generations", []):
        since = g["from_session"] or f"the next session ({g['status']})"
        extra = " (forced)" if g["forced"] else ""
        if g["rollback_of"] is not None:
            extra += f" (rollback of generation {g['rollback_of']})"
        number = g["generation"] if g["generation"] is not None else "next"
        print(
            f"generation {number}:{'':<{7 - len(str(number))}} {g['config_id']} from {since}{extra}"
        )
    print(f"positions:          {report['expected_positions'] or 'flat'}")
    for pair in report["pairs"]:
        z = "n/a" if pair["z"] is None else f"{pair['z']:+.3f}"
        print(
            f"  {pair['pair']:<14} beta {pair['beta']:.6f}  z {z}  state {pair['state']:+d}"
            f"  {pair['action']}"
            + (f"  BLOCKED: {pair['blocked']}" if pair["blocked"] else "")
            + (f"  LEAVING ({pair['leaving']})" if pair.get("leaving") else "")
        )
        if pair.get("health"):
            print(f"  {'':<14} health: {health_line(pair['health'])}")
    for intent in report["open_intents"]:
        print(
            f"open order:         {intent['client_order_id']} {intent['side']} "
            f"{intent['quantity']} {intent['symbol']} ({intent['status']})"
        )
    if report["last_error"]:
        err = report["last_error"]
        print(f"last error:         {err['session']}: {err['message']}")
    if report.get("feed_stale"):
        stale = report["feed_stale"]
        print(f"FEED STALE:         {stale['session']}: {stale['error']}")
    for action in report.get("corporate_actions", [])[-5:]:
        when = f"applied {action['applied']}" if action["applied"] else "announced"
        print(f"corporate action:   {action['event']} ({when})")
    if report.get("revisions"):
        print(
            f"feed revisions:     {len(report['revisions'])} stored bar(s) restated or filled "
            "late (not applied; `pairs-daemon rewarm` re-warms on them)"
        )


def health_line(health: dict[str, Any]) -> str:
    """One line of a pair's health for ``status`` (docs/operations.md, "Pair health")."""
    if health["status"] == "unmeasured":
        return f"not measured yet ({health['n_obs']} of {health['window']} sessions)"
    half_life = "inf" if health["mean_reverting"] is False else _fmt(health["half_life"], 1)
    formation = _fmt(health["formation_half_life"], 1)
    days = health["days_in_trade"]
    line = (
        f"{health['status'].upper()}  p {_fmt(health['pvalue'], 4)}  half-life {half_life} "
        f"(formation {'unknown' if formation == 'n/a' else formation})  innovations "
        f"{health['innovation_share']:.1%} beyond 99%"
        + ("" if days is None else f"  {days} sessions in trade")
    )
    return line + (f"  [{', '.join(health['degraded'])}]" if health["degraded"] else "")


def _fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _cmd_status(args: argparse.Namespace) -> int:
    from daemon.cycle.summary import status_report
    from daemon.feeds.reports import feed_report
    from daemon.store import Store

    settings = _settings(args)
    store = Store.open(settings.state_dir, read_only=True)
    try:
        report = status_report(store) | feed_report(store)
    finally:
        store.close()
    from daemon.infra.redaction import redact_tree

    report = cast(dict[str, Any], redact_tree(report))  # older rows may hold a key
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_status(report)
    return 0


def _cmd_reconcile(args: argparse.Namespace) -> int:
    from daemon.commands.app import build_context, process_env
    from daemon.config.research_config import load_config
    from daemon.cycle.reconcile import reconcile
    from daemon.cycle.roster_step import our_prefixes

    ctx = build_context(_settings(args), process_env())
    try:
        config = load_config(ctx.config_path)
        session = ctx.store.last_completed_session() or config.data.first_session
        prefix = our_prefixes(ctx.store, config)
        report = reconcile(
            ctx.store, ctx.broker, session, config.symbols, ctx.clock.now().isoformat(), prefix
        )
    finally:
        ctx.close()
    _say(report.describe())
    for fill in report.fills_recorded:
        _say(f"fill recorded: {fill.client_order_id} {fill.signed_quantity:+d} {fill.symbol}")
    if report.still_open:
        _say(f"still open at the broker: {', '.join(report.still_open)}")
    return 0 if report.consistent else 2


def _cmd_rewarm(args: argparse.Namespace) -> int:
    from daemon.commands.app import build_context, process_env
    from daemon.commands.rewarm import rewarm

    ctx = build_context(_settings(args), process_env())
    try:
        report = rewarm(ctx)
    finally:
        ctx.close()
    print("\n".join(report.lines()))
    return 0


def _cmd_deploy(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from daemon.commands.deploy import deploy, rollback

    if (args.candidate is None) == (not args.rollback):
        print("pairs-daemon deploy: give a config PATH or --rollback (not both)", file=sys.stderr)
        return 2
    settings = _settings(args)
    now = datetime.now(UTC).isoformat()
    if args.rollback:
        report = rollback(settings, dry_run=args.dry_run, now=now)
    else:
        candidate = args.candidate.resolve()
        report = deploy(settings, candidate, dry_run=args.dry_run, force=args.force, now=now)
    if args.json:
        _say(json.dumps(report.to_json(), indent=2))
    else:
        _say("\n".join(report.lines()))
    refused = not report.gates_passed and not report.forced
    return 2 if refused else 0


def _cmd_run(args: argparse.Namespace) -> int:
    from daemon.commands.service import serve  # type: ignore[import-not-found,unused-ignore]

    return int(serve(_settings(args)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except PairsError as exc:
        _say(f"pairs-daemon {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the operator gave that cannot be used as asked
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            f"pairs-daemon {args.command}: error: {exc.strerror or exc}{where}; check the "
            "paths in the settings and the command line",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
