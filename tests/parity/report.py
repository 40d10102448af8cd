"""``make parity``: the daemon against the backtests, and the crash matrix, in one short table.

    python -m tests.parity.report [--random N] [--seed-best-sessions N] [--no-crash]

Parity: the daemon replays every case session by session (state only through the SQLite store,
the local paper broker) and its orders, fills and daily equity are compared with the reference,
backtrader and fast engines (go-live cases: the reference engine only, the other two cannot
start trading at a later bar). The go-live case runs each session with ``pairs-daemon once`` in
a new interpreter. The degrading-pair case runs the daemon with ``[health] on_degraded =
"no_new_entries"`` against the reference engine with the same rule (the one engine that has
it): orders, blocked entries, fills and equity. Crash: a real daemon process is SIGKILLed at every step of the cycle on the
local broker and on the local Alpaca-compatible server. Exit code 1 when anything differs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tests.integration.crash_matrix import MatrixResult, alpaca_matrix, crash_market, local_matrix
from tests.parity import synthetic_pairs as sp
from tests.parity.daemon_cases import Case, Tally, as_daily, compare, config_for, expected
from tests.parity.daemon_cases import replay as replay_case
from tests.parity.daemon_scenarios import (
    degrading_pair_case,
    go_live_case,
    margin_and_size_zero_case,
    seed_best_case,
)


def random_cases(n: int, seed: int = 20240601) -> Iterator[Case]:
    """Random configs on random 1-3 pair portfolios (numpy PCG64: the same cases every run)."""
    rng = np.random.default_rng(seed)
    for k in range(n):
        n_pairs = int(rng.integers(1, 4))
        ds = sp.portfolio(int(rng.integers(0, 100_000)), n_pairs=n_pairs, n_bars=80)
        closes = as_daily(ds.prices)
        entry = float(rng.uniform(0.6, 2.2))
        params = {
            "window": int(rng.integers(4, 25)),
            "entry_z": entry,
            "exit_z": float(rng.uniform(0.0, 0.6)),
            "stop_z": entry + float(rng.uniform(0.5, 2.5)),
            "stake": int(rng.integers(1, 100)),
            "long_only": bool(rng.integers(0, 2)),
            "delta": float(rng.choice([1e-5, 1e-4, 1e-3])),
            "R": float(rng.choice([1e-3, 1e-2])),
            "commission": float(rng.choice([0.0, 0.0005, 0.002])),
        }
        yield Case(f"random_{k}", closes, config_for(closes, list(ds.pairs), **params))


def run_parity(tmp: Path, cases: list[tuple[Case, str]]) -> Tally:
    total = Tally()
    for k, (case, process) in enumerate(cases):
        started = time.perf_counter()
        got = replay_case(tmp / f"case{k}", case, process=process)
        for engine in case.engines:
            tally = compare(case, got, expected(case, engine))
            tally.cases = tally.sessions = 0  # counted once per case below
            total.add(tally)
        total.cases += 1
        total.sessions += len(got.sessions)
        elapsed = time.perf_counter() - started
        print(f"  {case.name:<28} {len(got.sessions):>4} sessions  {process:<4} {elapsed:6.1f} s")
    return total


def run_crash(tmp: Path) -> list[MatrixResult]:
    market = crash_market()
    results = []
    for name, matrix in (("local", local_matrix), ("alpaca", alpaca_matrix)):
        started = time.perf_counter()
        result = matrix(tmp / name, market)
        print(
            f"  crash matrix ({name:<6})      {result.sessions:>4} sessions  "
            f"{len(result.faults)} faults  {time.perf_counter() - started:6.1f} s"
        )
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.parity.report")
    parser.add_argument("--random", type=int, default=12, help="random configs (default 12)")
    parser.add_argument("--seed-best-sessions", type=int, default=400)
    parser.add_argument("--no-crash", action="store_true", help="skip the crash matrix")
    args = parser.parse_args(argv)
    cases = [
        (seed_best_case(args.seed_best_sessions), "none"),
        (margin_and_size_zero_case(), "none"),
        (go_live_case(), "cli"),
        (degrading_pair_case(), "none"),
        *((case, "none") for case in random_cases(args.random)),
    ]
    with tempfile.TemporaryDirectory(prefix="parity-") as tmp:
        tally = run_parity(Path(tmp), cases)
        crashes = [] if args.no_crash else run_crash(Path(tmp))
    problems = tally.mismatches + [f"crash {r.broker}: {p}" for r in crashes for p in r.problems]
    rows = [
        ("cases run", tally.cases + len(crashes)),
        ("sessions replayed", tally.sessions + sum(2 * r.sessions for r in crashes)),
        ("orders compared", tally.orders + sum(r.orders for r in crashes)),
        ("fills compared", tally.fills),
        ("equity points compared", tally.equity),
        ("faults injected", sum(len(r.faults) for r in crashes)),
        ("mismatches", len(problems)),
    ]
    print()
    for label, value in rows:
        print(f"{label:<24}{value:>8}")
    for problem in problems:
        print(f"MISMATCH {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
