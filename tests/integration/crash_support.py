"""Driving daemon processes that get SIGKILLed, and reading what they left behind.

:func:`drive` feeds sessions to ``tests.integration.crash_driver`` processes; each process is
started with the next planned fault in ``PAIRS_DAEMON_TEST_KILL_AT`` and, once killed, replaced
by one armed with the following fault, which resumes from the state directory.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO

from daemon.cycle.fault_injection import KILL_ENV
from daemon.store import Store
from daemon.store.files import BROKER_DB_NAME
from tests.integration.crash_driver import ANSWER

REPO = Path(__file__).resolve().parents[2]

# (step, what the session needs for the step to be reached): every checkpoint of the cycle,
# every send, and the three multi-statement transactions killed half-way through.
FAULT_STEPS: tuple[tuple[str, str], ...] = (
    ("started", "any"),
    ("bars_stored", "any"),  # after reading (and storing) the bars
    ("actions_applied", "any"),  # after storing and applying corporate actions
    ("settled", "fills"),  # before recording fills
    ("sql:INSERT OR REPLACE INTO fills", "fills"),  # mid-transaction: recording fills
    ("reconciled", "fills"),  # after recording fills
    ("sql:INSERT INTO decisions", "orders"),  # mid-transaction: intents written, not committed
    ("decided", "orders"),  # after writing intents
    ("sent#1", "orders"),  # the order is at the broker, the store does not know it yet
    ("sent#2", "orders"),
    ("submitted", "orders"),
    ("sql:UPDATE runs SET status", "any"),  # mid-transaction: equity written, run not finished
    ("completed", "any"),
)


@dataclass(frozen=True)
class Fault:
    session: date
    step: str

    @property
    def spec(self) -> str:
        return f"{self.session.isoformat()}@{self.step}"


@dataclass
class DriveReport:
    statuses: dict[date, list[str]] = field(default_factory=dict)
    killed: list[Fault] = field(default_factory=list)
    process_starts: int = 0


@dataclass(frozen=True)
class StoreView:
    intents: list[tuple[str, str, str, str, int, str]]  # id, session, symbol, side, qty, status
    fills: list[tuple[str, str, str, int, float, float]]
    equity: list[tuple[str, float, float, dict[str, int]]]
    expected_positions: dict[str, int]
    completed_runs: list[str]
    unfinished: list[tuple[str, str]]


def settings_toml(
    path: Path, config: Path, state_dir: Path, extra: str = "", prices: Path | None = None
) -> Path:
    data = (
        f'[data]\nfeed = "csv"\ncsv_path = "{prices}"\ncalendar_check = false\n'
        if prices is not None
        else '[data]\nfeed = "alpaca"\ncalendar_check = false\n'
    )
    path.write_text(
        f'config = "{config}"\nstate_dir = "{state_dir}"\n\n{data}\n{extra}', encoding="utf-8"
    )
    return path


def plan_faults(sessions: Sequence[date], view: StoreView) -> list[Fault]:
    """Each fault step on the earliest session after the previous fault that reaches it, as
    an uninterrupted run (``view``) shows: orders to send, or fills to record."""
    order_counts = Counter(date.fromisoformat(i[1]) for i in view.intents)
    fill_sessions = {date.fromisoformat(f[1]) for f in view.fills}
    needs: dict[str, Callable[[date], bool]] = {
        "any": lambda d: True,
        "fills": lambda d: d in fill_sessions,
        "orders": lambda d: order_counts.get(d, 0) >= 2,
    }
    faults: list[Fault] = []
    k = 1  # the first session of a fresh store also rebuilds the warm-up: leave it alone
    for step, need in FAULT_STEPS:
        while k < len(sessions) and not needs[need](sessions[k]):
            k += 1
        if k >= len(sessions):
            raise AssertionError(f"no session left that reaches {step}; use a longer series")
        faults.append(Fault(sessions[k], step))
        k += 1
    return faults


def _start(settings: Path, env: Mapping[str, str], fault: Fault | None) -> subprocess.Popen[str]:
    child_env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    child_env.update(env)
    child_env["PYTHONPATH"] = str(REPO)
    if fault is not None:
        child_env[KILL_ENV] = fault.spec
    with (settings.parent / "driver.stderr").open("a", encoding="utf-8") as errors:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.integration.crash_driver", str(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,  # the adapters' own log lines; kept next to the state for debugging
            text=True,
            env=child_env,
            cwd=REPO,
        )


def _ask(proc: subprocess.Popen[str], session: date) -> str:
    stdin: IO[str] | None = proc.stdin
    assert stdin is not None and proc.stdout is not None
    try:
        stdin.write(f"{session.isoformat()}\n")
        stdin.flush()
    except BrokenPipeError:
        return ""
    for line in proc.stdout:
        if line.startswith(ANSWER):
            return line.removeprefix(ANSWER).strip()
    return ""  # end of output: the process died


def drive(
    settings: Path,
    sessions: Sequence[date],
    faults: Sequence[Fault] = (),
    *,
    env: Mapping[str, str] | None = None,
    before_session: Callable[[date], None] | None = None,
    timeout_s: float = 120.0,
) -> DriveReport:
    """Run ``sessions`` in order through daemon processes, one fault per process start."""
    env = env or {}
    pending = list(faults)
    report = DriveReport()
    proc = _start(settings, env, pending[0] if pending else None)
    report.process_starts += 1
    try:
        for session in sessions:
            if before_session is not None:
                before_session(session)
            while True:
                line = _ask(proc, session)
                if line:
                    report.statuses.setdefault(session, []).append(line.split()[1])
                    break
                code = proc.wait(timeout=timeout_s)
                assert code == -signal.SIGKILL, f"daemon exited with {code} on {session}"
                assert pending and pending[0].session == session, (
                    f"killed on {session}, planned {pending[:1]}; so far {report.statuses}"
                )
                report.killed.append(pending.pop(0))
                report.statuses.setdefault(session, []).append("killed")
                proc = _start(settings, env, pending[0] if pending else None)
                report.process_starts += 1
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=timeout_s)
    assert not pending, f"faults never reached: {pending}"
    return report


def store_view(state_dir: Path, price_digits: int | None = None) -> StoreView:
    def price(p: float) -> float:
        return p if price_digits is None else round(p, price_digits)

    store = Store.open(state_dir, read_only=True)
    try:
        runs = store.runs()
        return StoreView(
            intents=[
                (i.client_order_id, i.session.isoformat(), i.symbol, i.side, i.quantity, i.status)
                for i in store.intents()
            ],
            fills=[
                (
                    f.client_order_id,
                    f.session.isoformat(),
                    f.symbol,
                    f.signed_quantity,
                    price(f.price),
                    f.commission,
                )
                for f in store.fills()
            ],
            equity=[
                (e.session.isoformat(), price(e.cash), price(e.equity), dict(e.positions))
                for e in store.equity_series()
            ],
            expected_positions={s: q for s, q in store.expected_positions().items() if q},
            completed_runs=[r.session.isoformat() for r in runs if r.status == "completed"],
            unfinished=[(i.client_order_id, i.status) for i in store.intents(unfinished=True)],
        )
    finally:
        store.close()


def local_book(state_dir: Path) -> tuple[list[str], dict[str, int]]:
    """The local paper broker's order ids (in submission order) and its positions."""
    book = sqlite3.connect(f"file:{state_dir / BROKER_DB_NAME}?mode=ro", uri=True)
    try:
        ids = [r[0] for r in book.execute("SELECT client_order_id FROM orders ORDER BY seq")]
        held = {s: q for s, q in book.execute("SELECT symbol, quantity FROM positions") if q}
    finally:
        book.close()
    return ids, held
