"""Shared fixtures for the daemon's tests: synthetic cointegrated closes, configs, contexts."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from daemon.commands.app import build_context
from daemon.config.settings import BrokerSettings, DaemonSettings, DataSettings, RiskSettings
from daemon.cycle.context import DaemonContext
from daemon.infra.logging import make_logger
from daemon.timing.clock import FixedClock
from shared.config import ProdConfig, parse_config

SYMBOLS_2 = ("AAA", "BBB", "CCC", "DDD")


def make_closes(n_bars: int = 160, seed: int = 7, start: str = "2023-01-02") -> pd.DataFrame:
    """Two cointegrated pairs (AAA~BBB, CCC~DDD) on business days, mean-reverting enough to
    enter, exit and stop within a few hundred bars."""
    rng = np.random.default_rng(seed)
    dates = [d.date() for d in pd.bdate_range(start, periods=n_bars)]
    out = {}
    for a, b, beta, level in (("AAA", "BBB", 1.5, 40.0), ("CCC", "DDD", 0.8, 90.0)):
        pb = level + np.cumsum(rng.normal(0, 0.8, n_bars))
        noise = np.zeros(n_bars)
        for t in range(1, n_bars):
            noise[t] = 0.8 * noise[t - 1] + rng.normal(0, 1.2)
        out[b] = np.maximum(pb, 5.0)
        out[a] = np.maximum(beta * out[b] + noise, 5.0)
    frame = pd.DataFrame(out, index=dates)[sorted(out)]
    frame.index.name = "date"
    return frame


def make_config(closes: pd.DataFrame, **overrides: Any) -> ProdConfig:
    payload: dict[str, Any] = {
        "window": 20,
        "entry_z": 1.5,
        "exit_z": 0.3,
        "stop_z": 2.8,
        "stake": 50,
        "long_only": False,
        "delta": 1e-4,
        "R": 0.001,
        "initial_cash": 100_000.0,
        "commission": 0.0005,
        "pairs": [
            {"asset_1": "AAA", "asset_2": "BBB", "hedge_ratio": 1.4},
            {"asset_1": "CCC", "asset_2": "DDD", "hedge_ratio": 0.9},
        ],
        "data": {
            "first_session": closes.index[0].isoformat(),
            "last_session": closes.index[-1].isoformat(),
            "n_sessions": len(closes),
            "source": "synthetic",
        },
    }
    payload.update(overrides)
    return parse_config(payload, source="test-config")


def write_inputs(tmp: Path, closes: pd.DataFrame, config: ProdConfig) -> tuple[Path, Path]:
    prices = tmp / "prices.csv"
    closes.to_csv(prices)
    cfg = tmp / "config.json"
    cfg.write_text(json.dumps(config.model_dump(mode="json")), encoding="utf-8")
    return prices, cfg


def settings_for(
    tmp: Path, prices: Path, config: Path, *, risk: RiskSettings | None = None, **kw: Any
) -> DaemonSettings:
    return DaemonSettings(
        config=config,
        state_dir=tmp / "state",
        broker=BrokerSettings(kind="local"),
        data=DataSettings(feed="csv", csv_path=prices, calendar_check=False),
        risk=risk or RiskSettings(),
        **kw,
    )


def open_context(
    settings: DaemonSettings,
    session: date,
    *,
    checkpoint: Callable[[str], None] | None = None,
    logs: io.StringIO | None = None,
) -> DaemonContext:
    clock = FixedClock(datetime.combine(session, time(21, 30, tzinfo=UTC)))
    logger = make_logger("json", logs if logs is not None else io.StringIO())
    ctx = build_context(settings, {}, clock=clock, logger=logger, durable=False)
    if checkpoint is not None:
        ctx.checkpoint = checkpoint
    return ctx


def log_events(logs: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in logs.getvalue().splitlines() if line.strip()]


def run_sessions(
    settings: DaemonSettings, sessions: list[date], logs: io.StringIO | None = None
) -> list[Any]:
    """``run_once`` for each session with a fresh context each time (state only via the store)."""
    from daemon.cycle.run import run_once

    results = []
    for session in sessions:
        ctx = open_context(settings, session, logs=logs)
        try:
            results.append(run_once(ctx, session))
        finally:
            ctx.close()
    return results


def read_closes(prices: Path) -> pd.DataFrame:
    """The CSV as the daemon reads it (the parity reference must use the same floats)."""
    frame = pd.read_csv(prices, index_col=0)
    frame.index = [pd.Timestamp(v).date() for v in frame.index]
    return frame
