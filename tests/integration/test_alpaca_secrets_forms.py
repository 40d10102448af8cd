"""A server that echoes the API keys in every error answer, in every form a careless server or
proxy shows them (``tests/alpaca_server/echo.py``: other case, cut short, base64 and URL-safe
base64 of ``key:secret``, ``Basic ...``, percent-encoded), on every error path the daemon meets:
401, 403, 404, 422, 429, 500, 502, 503 and 504, on the trading endpoints, the bars and the
corporate actions. The daemon runs against it in process and as real ``pairs-daemon``
processes (``once``, ``status``, ``check``, ``reconcile``, ``report``); then no form, and no run
of 12 characters of the key id, the secret or their base64, may be found in any output, in any
byte of any file of the state directory (the SQLite file, its WAL and shared memory: a reader
stays connected so the WAL is not deleted between runs), or in ``report.html``."""

from __future__ import annotations

import base64
import io
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from daemon.adapters.alpaca.factory import (
    build_alpaca_actions,
    build_alpaca_bars,
    build_alpaca_broker,
)
from daemon.commands.app import build_context
from daemon.config.settings import DaemonSettings
from daemon.cycle.run import RunResult, run_once
from daemon.infra.logging import make_logger
from daemon.infra.redaction import FRAGMENT_LENGTH, MASK
from daemon.store import DB_NAME, Store
from daemon.timing.clock import FixedClock
from shared.config import ProdConfig
from tests.alpaca_server.echo import credential_forms
from tests.alpaca_server.harness import Harness, running_harness
from tests.alpaca_server.state import AccountBook, Fault
from tests.integration.alpaca_cli import pairs_daemon, plain_lines, write_settings
from tests.integration.test_alpaca_timing_daemon import prepare
from tests.integration.test_daemon_on_alpaca_server import FIRST_RUN, Replay

KEY = "PKFORMS4E7R1T9Y3U5I2"
# 40 characters like Alpaca's, with the '/' and '+' of a base64-style secret so that its
# percent-encoding differs from it.
SECRET = "Fm7Qx2Lp9Wd4/Rt6Yh1Ks8+Nb3Vc5Zj0Ga7Ue2Oi"
FORMS = credential_forms(KEY, SECRET)
PAIR_B64 = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()

ACCOUNT, POSITIONS, CLOCK = "/v2/account", "/v2/positions", "/v2/clock"
BARS, ACTIONS, ORDERS = "/v2/stocks/bars", "/v1/corporate-actions", "/v2/orders"

# Failing sessions, run in process (the retry policy's sleeps are recorded, not slept): one
# error path each; the session fails and its message and alert are stored.
FAILURES: list[tuple[str, int, str]] = [
    ("GET", 401, ACCOUNT),  # the book's secret rotated: every request is refused
    ("GET", 403, ACCOUNT),
    ("GET", 404, POSITIONS),
    ("GET", 422, ACCOUNT),
    ("GET", 429, ACCOUNT),
    ("GET", 500, POSITIONS),
    ("GET", 502, ACCOUNT),
    ("GET", 503, CLOCK),
    ("GET", 504, ACCOUNT),
    ("GET", 403, BARS),
    ("GET", 429, BARS),
    ("GET", 500, BARS),
    ("GET", 502, BARS),
]
# Corporate actions that cannot be read raise an alert and the session goes on.
ACTION_FAILURES = [403, 500, 504]


def leaks(data: str | bytes) -> list[str]:
    """The forms found in ``data`` (case-insensitively), and any 12-character run of the key
    id, the secret or the base64 of ``key:secret``."""
    low = (data.encode() if isinstance(data, str) else data).lower()
    found = [name for name, form in FORMS.items() if form.lower().encode() in low]
    for name, value in (("key id", KEY), ("secret", SECRET), ("base64", PAIR_B64)):
        v = value.lower().encode()
        if any(v[i : i + FRAGMENT_LENGTH] in low for i in range(len(v) - FRAGMENT_LENGTH + 1)):
            found.append(f"a {FRAGMENT_LENGTH}-character run of the {name}")
    return found


def test_the_forms_are_what_they_claim() -> None:
    assert FORMS["percent-encoded secret"] != SECRET and "%2F" in FORMS["percent-encoded secret"]
    assert FORMS["Basic credentials"].endswith("=")
    assert leaks(f"{MASK} and {KEY[-4:]}, the last four characters a repr shows") == []
    assert all(leaks(form) for form in FORMS.values())


@pytest.fixture
def harness() -> Iterator[Harness]:
    with running_harness(AccountBook(key_id=KEY, secret_key=SECRET, echo_keys=True)) as h:
        yield h


class StateFiles:
    """Every byte the state directory has held, read after each run (a WAL is rewritten from
    its start once checkpointed). A reader stays connected so that the WAL survives the
    daemon's close."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.reader = sqlite3.connect(f"file:{state_dir / DB_NAME}?mode=ro", uri=True)
        self.reader.execute("SELECT COUNT(*) FROM runs").fetchall()
        self.seen: dict[str, list[str]] = {}

    def scan(self) -> None:
        for path in self.state_dir.rglob("*"):
            if path.is_file():
                found = leaks(path.read_bytes())
                if found:
                    self.seen.setdefault(path.name, []).extend(found)

    def names(self) -> set[str]:
        return {p.name for p in self.state_dir.iterdir()}


def client_env(harness: Harness) -> dict[str, str]:
    """The daemon's environment: its keys stay when the server's are rotated (a 401)."""
    return {**harness.env, "APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET}


def _run_in_process(
    settings: DaemonSettings, session: date, harness: Harness, logs: list[str]
) -> RunResult:
    stream = io.StringIO()
    logger = make_logger("json", stream)
    env, alpaca, retry = client_env(harness), settings.alpaca, harness.retry
    ctx = build_context(
        settings,
        env,
        clock=FixedClock(harness.book.now),
        logger=logger,
        broker=build_alpaca_broker(env, alpaca, retry=retry, logger=logger),
        bars=build_alpaca_bars(env, alpaca, retry=retry, logger=logger),
        actions=build_alpaca_actions(env, alpaca, retry=retry, logger=logger),
        durable=False,
    )
    try:
        result = run_once(ctx, session)
    finally:
        ctx.close()
    logs.append(stream.getvalue())
    return result


def test_no_form_of_the_keys_reaches_logs_outputs_the_store_or_the_report(
    tmp_path: Path,
    market: tuple[pd.DataFrame, ProdConfig],
    harness: Harness,
    local_replay: Replay,
) -> None:
    logs: list[str] = []
    closes, settings = prepare(tmp_path, market, harness)
    index = list(closes.index)
    first_cid = local_replay.intents[0][0]
    k = next(i for i, d in enumerate(index) if d.strftime("%Y%m%d") in first_cid)
    for session in index[FIRST_RUN:k]:
        harness.book.advance_session(closes.loc[session].to_dict(), session)
        assert _run_in_process(settings, session, harness, logs).status == "completed"
    files = StateFiles(settings.state_dir)
    toml = write_settings(tmp_path / "daemon.toml", settings, harness)
    runs: list[subprocess.CompletedProcess[str]] = []

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        runs.append(pairs_daemon(toml, harness, *args, env=client_env(harness)))
        files.scan()
        return runs[-1]

    def advance(i: int) -> date:
        harness.book.faults.clear()
        harness.book.advance_session(closes.loc[index[i]].to_dict(), index[i])
        return index[i]

    # 403 and 422 refusals of orders (a real process): rejections stored against the intents.
    advance(k)
    harness.server.inject(Fault("POST", ORDERS, status=403, body={"message": "no buying power"}))
    harness.server.inject(Fault("POST", ORDERS, status=422, body={"message": "not shortable"}))
    done = cli("once")
    assert done.returncode == 0 and '"order_rejected"' in done.stdout, done.stdout + done.stderr
    assert MASK in done.stdout

    # Every other error path fails a session (in process), with the echo masked in its message.
    session = advance(k + 1)
    for method, status, path in FAILURES:
        harness.book.faults.clear()
        if status == 401:
            harness.book.secret_key = "rotated-by-the-operator"
        else:
            harness.server.inject(Fault(method, path, status=status, times=99))
        result = _run_in_process(settings, session, harness, logs)
        harness.book.secret_key = SECRET
        files.scan()
        assert result.status == "failed", (status, path, result)
        assert f"HTTP {status}" in result.message and MASK in result.message, result.message
        assert leaks(result.message) == []

    # Corporate actions refused: an alert, and the session goes on.
    for offset, status in enumerate(ACTION_FAILURES, start=1):
        session = advance(k + offset)
        harness.server.inject(Fault("GET", ACTIONS, status=status, times=99))
        assert _run_in_process(settings, session, harness, logs).status == "completed"
        files.scan()
    assert f"HTTP {ACTION_FAILURES[-1]}" in logs[-1] and MASK in logs[-1]

    # Real processes: refused keys, a 503 outage, then the read-only commands and reconcile.
    advance(k + len(ACTION_FAILURES) + 1)
    harness.book.secret_key = "rotated-by-the-operator"
    done = cli("once")
    harness.book.secret_key = SECRET
    assert done.returncode != 0 and "HTTP 401" in done.stdout + done.stderr
    harness.server.inject(Fault("GET", ACCOUNT, status=503, times=99))
    done = cli("once")
    assert done.returncode == 1 and MASK in plain_lines(done.stdout)[-1]
    harness.book.faults.clear()
    shown = cli("status")
    assert "last error" in shown.stdout and MASK in shown.stdout
    cli("status", "--json")
    assert "session_failed" in cli("check").stdout
    harness.server.inject(Fault("GET", "/v2/orders:by_client_order_id", status=403, times=99))
    harness.server.inject(Fault("GET", POSITIONS, status=403, times=99))
    done = cli("reconcile")
    assert done.returncode == 2 and MASK in done.stderr
    harness.book.faults.clear()
    report_dir = tmp_path / "report"
    done = cli("report", "--out", str(report_dir))
    assert done.returncode == 0, done.stderr
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    assert MASK in html  # the alerts' messages, masked

    # Nothing anywhere: outputs, logs, every byte of every state file (WAL included), report.
    assert {DB_NAME, f"{DB_NAME}-wal"} <= files.names()
    assert files.seen == {}
    for run in runs:
        assert leaks(run.stdout + run.stderr) == [], run.args
    for text in logs:
        assert leaks(text) == []
    for written in report_dir.iterdir():
        assert leaks(written.read_bytes()) == [], written.name
    files.reader.close()
    files.scan()
    assert files.seen == {}

    # The echoes reached the store, masked: runs, intents and alerts carry the mask.
    store = Store.open(settings.state_dir, read_only=True)
    try:
        assert any(MASK in (r.message or "") for r in store.runs())
        assert any(MASK in (i.message or "") for i in store.intents())
        alerts = store.sql("SELECT code, message FROM alerts")
    finally:
        store.close()
    assert any(code == "corporate_actions_unavailable" and MASK in m for code, m in alerts)
    assert all(leaks(m) == [] for _, m in alerts)
