"""The daemon, replayed session by session, against the research backtests.

A :class:`Case` is closes plus a production config (and optionally a go-live bar). :func:`replay`
runs ``run_once`` for every session through a state directory (SQLite store, local paper broker),
each session in a fresh context, optionally in a fresh process. :func:`compare` holds what the
store recorded against an engine's backtest on the same floats: orders (session, symbol, side,
quantity), fills (price, commission, relative 1e-9) and end-of-session equity (relative 1e-9).
"""

from __future__ import annotations

import io
import json
import math
import multiprocessing
import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from daemon.commands.app import build_context
from daemon.config.settings import BrokerSettings, DaemonSettings, DataSettings, HealthSettings
from daemon.cycle.run import run_once
from daemon.infra.logging import make_logger
from daemon.store import Store
from daemon.timing.clock import FixedClock
from research.backtest.registry import get_engine
from research.data.market_data import AlignedCloses
from shared.config import ProdConfig, parse_config
from shared.health import EntryRule
from shared.simulation import simulate
from shared.strategy import Pair

REPO = Path(__file__).resolve().parents[2]
REL = 1e-9
RUN_TIME = time(21, 30, tzinfo=UTC)
ENGINES = ("reference", "backtrader", "fast")


@dataclass(frozen=True)
class Case:
    name: str
    closes: pd.DataFrame  # index: dates; columns: the config's symbols, sorted; no NaN
    config: ProdConfig
    go_live_bar: int = 0
    health: HealthSettings | None = None  # the daemon's [health]; None: the default

    @property
    def entry_rule(self) -> EntryRule | None:
        """The backtest's ``no_new_entries`` rule, when the daemon's settings turn it on."""
        if self.health is None or self.health.on_degraded != "no_new_entries":
            return None
        return EntryRule(self.health.rules, tuple(p.half_life for p in self.config.pairs))

    @property
    def engines(self) -> tuple[str, ...]:
        """The engines to hold it to: the health rule is the reference engine's only."""
        return ENGINES if self.entry_rule is None else ("reference",)


@dataclass
class Replayed:
    """What the daemon's store holds after the replay."""

    sessions: list[date]
    statuses: list[str]
    intents: list[tuple[date, str, str, int, str]]  # session, symbol, side, quantity, status
    fills: list[tuple[date, str, int, float, float]]
    equity: list[float]
    decisions: dict[date, list[Any]] = field(default_factory=dict)


@dataclass
class Expected:
    engine: str
    orders: list[tuple[date, str, str, int]] | None  # the reference engine gives its orders
    fills: list[tuple[date, str, int, float, float]]
    values: list[float]
    rejected: set[tuple[date, str]] | None  # order session and symbol of margin rejections
    blocked: set[tuple[date, int]] | None = None  # session and pair of entries the rule blocked


@dataclass
class Tally:
    cases: int = 0
    sessions: int = 0
    orders: int = 0
    fills: int = 0
    equity: int = 0
    mismatches: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.cases += other.cases
        self.sessions += other.sessions
        self.orders += other.orders
        self.fills += other.fills
        self.equity += other.equity
        self.mismatches += other.mismatches


def config_for(closes: pd.DataFrame, pairs: list[Pair], **params: Any) -> ProdConfig:
    payload: dict[str, Any] = {
        "window": 20,
        "entry_z": 1.5,
        "exit_z": 0.5,
        "stop_z": 3.0,
        "stake": 50,
        "long_only": False,
        "delta": 1e-5,
        "R": 0.001,
        "initial_cash": 100_000.0,
        "commission": 0.0005,
        **params,
        "pairs": [
            {"asset_1": p.asset_1, "asset_2": p.asset_2, "hedge_ratio": p.hedge_ratio}
            for p in pairs
        ],
        "data": {
            "first_session": closes.index[0].isoformat(),
            "last_session": closes.index[-1].isoformat(),
            "n_sessions": len(closes),
            "source": "synthetic",
        },
    }
    return parse_config(payload, source="parity-case")


def as_daily(prices: pd.DataFrame) -> pd.DataFrame:
    """Closes indexed by ``date`` with sorted columns, rows with a gap dropped (the seed's
    alignment), written and read back through CSV so both sides see the same floats."""
    frame = prices.dropna()[sorted(prices.columns)].copy()
    frame.index = [pd.Timestamp(d).date() for d in frame.index]
    frame.index.name = "date"
    buffer = io.StringIO()
    frame.to_csv(buffer)
    buffer.seek(0)
    back = pd.read_csv(buffer, index_col=0)
    back.index = [date.fromisoformat(str(d)) for d in back.index]
    back.index.name = "date"
    return back


def open_signal_bars(decisions: list[list[Any]]) -> list[int]:
    """Bars (from 1) that a backtest from the first bar enters with a signal open on some pair:
    a go-live there starts flat where the full run holds a position."""
    return [
        bar
        for bar in range(1, len(decisions))
        if any(d.state.state != 0 for d in decisions[bar - 1])
    ]


def go_live_at(where: str, fraction: float, n_bars: int, open_bars: list[int]) -> int:
    """A go-live bar: ``first`` (0), ``mid`` (any later bar) or ``open`` (inside an open signal);
    ``fraction`` in [0, 1) picks which."""
    if where == "first":
        return 0
    if where == "mid":
        return 1 + int(fraction * (n_bars - 1))
    if where == "open":
        return open_bars[int(fraction * len(open_bars))]
    raise ValueError(f"unknown go-live position {where!r}: first, mid or open")


# --- the daemon side ---------------------------------------------------------------------------
def _settings(tmp: Path, case: Case) -> tuple[DaemonSettings, Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    prices, cfg = tmp / "prices.csv", tmp / "config.json"
    case.closes.to_csv(prices)
    cfg.write_text(json.dumps(case.config.model_dump(mode="json")), encoding="utf-8")
    go_live = case.closes.index[case.go_live_bar] if case.go_live_bar else None
    settings = DaemonSettings(
        config=cfg,
        state_dir=tmp / "state",
        go_live=go_live,
        broker=BrokerSettings(kind="local"),
        data=DataSettings(feed="csv", csv_path=prices, calendar_check=False),
        health=case.health or HealthSettings(),
    )
    return settings, prices


def run_session(settings: DaemonSettings, session: date) -> str:
    """One session in a fresh context: store, local broker and clock built from the settings."""
    clock = FixedClock(datetime.combine(session, RUN_TIME))
    logger = make_logger("json", io.StringIO())
    ctx = build_context(settings, {}, clock=clock, logger=logger, durable=False)
    try:
        return run_once(ctx, session).status
    finally:
        ctx.close()


def _forked_session(settings: DaemonSettings, session: date) -> None:
    os._exit(0 if run_session(settings, session) == "completed" else 3)


def _cli_session(tmp: Path, settings: DaemonSettings, session: date) -> str:
    """``pairs-daemon once`` in a new interpreter, with a settings file."""
    toml = tmp / "daemon.toml"
    go_live = f"go_live = {settings.go_live.isoformat()}\n" if settings.go_live else ""
    toml.write_text(
        f'config = "{settings.config}"\nstate_dir = "{settings.state_dir}"\n{go_live}'
        f'\n[data]\nfeed = "csv"\ncsv_path = "{settings.data.csv_path}"\ncalendar_check = false\n'
        + "\n[health]\n"
        + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.health.model_dump().items()),
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "daemon.commands.cli", "--settings", str(toml), "once"]
    done = subprocess.run(
        [*command, "--session", session.isoformat()],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    if done.returncode != 0:
        return f"exit {done.returncode}: {done.stderr[-400:]}"
    last = done.stdout.strip().splitlines()[-1]  # after the JSON log lines: "<session>: <status>"
    return last.split(": ", 1)[-1]


def replay(tmp: Path, case: Case, process: str = "none") -> Replayed:
    """Every session from the go-live bar (or the first) to the last, in order. ``process``:
    ``none`` (a fresh context in this process), ``fork`` (a fresh forked process per session)
    or ``cli`` (``pairs-daemon once`` in a new interpreter per session)."""
    settings, _ = _settings(tmp, case)
    sessions = list(case.closes.index[case.go_live_bar :])
    statuses = []
    for session in sessions:
        if process == "fork":
            child = multiprocessing.get_context("fork").Process(
                target=_forked_session, args=(settings, session)
            )
            child.start()
            child.join()
            statuses.append("completed" if child.exitcode == 0 else f"exit {child.exitcode}")
        elif process == "cli":
            statuses.append(_cli_session(tmp, settings, session))
        else:
            statuses.append(run_session(settings, session))
    return _read_store(settings.state_dir, sessions, statuses)


def _read_store(state_dir: Path, sessions: list[date], statuses: list[str]) -> Replayed:
    store = Store.open(state_dir, read_only=True)
    try:
        return Replayed(
            sessions=sessions,
            statuses=statuses,
            intents=[(i.session, i.symbol, i.side, i.quantity, i.status) for i in store.intents()],
            fills=[
                (f.session, f.symbol, f.signed_quantity, f.price, f.commission)
                for f in store.fills()
            ],
            equity=[e.equity for e in store.equity_series()],
            decisions={d: store.decisions(d) for d in sessions},
        )
    finally:
        store.close()


# --- the backtest side -------------------------------------------------------------------------
def expected(case: Case, engine: str) -> Expected:
    closes, dates = case.closes.to_numpy(), list(case.closes.index)
    config = case.config
    if engine == "reference":
        sim = simulate(
            closes,
            list(case.closes.columns),
            config.pair_list,
            config.params,
            config.initial_cash,
            config.commission,
            trade_from_bar=case.go_live_bar,
            entry_rule=case.entry_rule,
        )
        orders = [
            (dates[bar], o.symbol, o.side.value, o.quantity)
            for bar, decisions in enumerate(sim.decisions)
            for d in decisions
            for o in d.orders
        ]
        rejected = {(dates[r.bar - 1], r.symbol) for r in sim.rejections}
        blocked = {(dates[bar], k) for bar, k, _ in sim.blocked}
        fills, values = sim.fills, sim.values
    else:
        if case.entry_rule is not None:
            raise ValueError(f"the {engine} engine does not implement the health rule")
        blocked = None
        data = AlignedCloses(tuple(case.closes.columns), pd.DatetimeIndex(dates), closes)
        (result,) = get_engine(engine).run(
            data,
            config.pair_list,
            [config.params],
            initial_cash=config.initial_cash,
            commission=config.commission,
            with_details=True,
            trade_from_bar=case.go_live_bar,
        )
        assert result.fills is not None and result.values is not None
        orders, rejected, fills, values = None, None, result.fills, result.values
    return Expected(
        engine,
        orders,
        [(dates[f.bar], f.symbol, f.signed_quantity, f.price, f.commission) for f in fills],
        [float(v) for v in np.asarray(values)[case.go_live_bar :]],
        rejected,
        blocked,
    )


# --- the comparison ----------------------------------------------------------------------------
def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)


def compare(case: Case, got: Replayed, want: Expected) -> Tally:
    """Everything that differs, as readable lines; the counts of what was compared."""
    tag = f"{case.name} vs {want.engine}"
    tally = Tally(cases=1, sessions=len(got.sessions))
    bad = tally.mismatches
    failed = [(d, s) for d, s in zip(got.sessions, got.statuses, strict=True) if s != "completed"]
    if failed:
        bad.append(f"{tag}: sessions not completed: {failed[:3]}")
    # What was sent: a blocked intent (the health rule here; no case sets a risk limit) is the
    # backtest's entry that never happened, compared apart below.
    sent = [(d, sym, side, q) for d, sym, side, q, status in got.intents if status != "blocked"]
    if want.orders is not None:
        tally.orders = max(len(sent), len(want.orders))
        if sent != want.orders:
            bad.append(f"{tag}: orders differ: daemon {sent[:4]}... backtest {want.orders[:4]}...")
    else:  # every order that filled was decided on the session before its fill
        nxt = dict(zip(got.sessions, got.sessions[1:], strict=False))
        filled = sorted(
            (nxt[d], sym, (1 if side == "buy" else -1) * q)
            for d, sym, side, q, status in got.intents
            if status == "filled" and d in nxt
        )
        implied = sorted((d, sym, q) for d, sym, q, _, _ in want.fills)
        tally.orders = len(filled)
        if filled != implied:
            bad.append(f"{tag}: filled orders differ from the fills the backtest implies")
    if want.blocked is not None:
        blocked = {
            (d, r.pair_index) for d, rows in got.decisions.items() for r in rows if r.blocked
        }
        tally.orders += len(want.blocked)
        if blocked != want.blocked:
            bad.append(f"{tag}: blocked entries differ: {sorted(blocked ^ want.blocked)[:4]}")
    if want.rejected is not None:
        rejected = {(d, sym) for d, sym, _, _, status in got.intents if status == "rejected"}
        if rejected != want.rejected:
            bad.append(f"{tag}: margin rejections differ: {rejected ^ want.rejected}")
    tally.fills = max(len(got.fills), len(want.fills))
    if len(got.fills) != len(want.fills) or any(
        g[:3] != w[:3] or not (_close(g[3], w[3]) and _close(g[4], w[4]))
        for g, w in zip(got.fills, want.fills, strict=False)
    ):
        bad.append(f"{tag}: fills differ ({len(got.fills)} daemon, {len(want.fills)} backtest)")
    tally.equity = len(want.values)
    if len(got.equity) != len(want.values) or any(
        not _close(g, w) for g, w in zip(got.equity, want.values, strict=False)
    ):
        bad.append(f"{tag}: daily equity differs beyond relative {REL}")
    return tally
