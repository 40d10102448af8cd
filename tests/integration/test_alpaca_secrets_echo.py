"""A server (or a proxy) that echoes the key headers in its 403, 422 and 500 bodies: the key id
and the secret must appear nowhere the daemon writes. Real ``pairs-daemon`` processes (``once``,
``status``, ``reconcile``) run against it; then every output and every file in the state
directory is searched for the two values."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from daemon.adapters.alpaca.factory import build_alpaca_broker
from daemon.commands.app import build_context
from daemon.config.settings import DaemonSettings
from daemon.cycle.run import run_once
from daemon.infra.logging import make_logger
from daemon.store import Store
from daemon.timing.clock import FixedClock
from shared.config import ProdConfig
from tests.alpaca_server.harness import Harness, running_harness
from tests.alpaca_server.state import AccountBook, Fault
from tests.integration.alpaca_cli import pairs_daemon, plain_lines, write_settings
from tests.integration.test_alpaca_timing_daemon import prepare
from tests.integration.test_daemon_on_alpaca_server import (
    FIRST_RUN,
    Replay,
)

KEY = "PKECHO5T6Y7U8I9O0P1Q"
SECRET = "echoed-Secret-9f8e7d6c5b4a3210zyx"


@pytest.fixture
def harness() -> Iterator[Harness]:
    with running_harness(AccountBook(key_id=KEY, secret_key=SECRET, echo_keys=True)) as h:
        yield h


def _run_in_process(settings: DaemonSettings, session: object, harness: Harness) -> str:
    stream = io.StringIO()
    logger = make_logger("json", stream)
    broker = build_alpaca_broker(harness.env, settings.alpaca, retry=harness.retry, logger=logger)
    ctx = build_context(
        settings,
        harness.env,
        clock=FixedClock(harness.book.now),
        logger=logger,
        broker=broker,
        durable=False,
    )
    try:
        assert run_once(ctx, session).status == "completed"  # type: ignore[arg-type]
    finally:
        ctx.close()
    return stream.getvalue()


def _leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [name for name, value in (("key id", KEY), ("secret", SECRET)) if value.encode() in data]


def test_echoed_keys_never_reach_logs_cli_output_or_the_store(
    tmp_path: Path,
    market: tuple[pd.DataFrame, ProdConfig],
    harness: Harness,
    local_replay: Replay,
) -> None:
    closes, settings = prepare(tmp_path, market, harness)
    index = list(closes.index)
    first_cid = local_replay.intents[0][0]
    k = next(i for i, d in enumerate(index) if d.strftime("%Y%m%d") in first_cid)
    outputs: list[str] = []
    for session in index[FIRST_RUN:k]:
        harness.book.advance_session(closes.loc[session].to_dict(), session)
        outputs.append(_run_in_process(settings, session, harness))
    toml = write_settings(tmp_path / "daemon.toml", settings, harness)
    runs: list[subprocess.CompletedProcess[str]] = []

    # 403 and 422 refusals of orders: rejections with Alpaca's (echoing) reason, stored.
    harness.book.advance_session(closes.loc[index[k]].to_dict(), index[k])
    no_bp = {"code": 40310000, "message": "insufficient buying power"}
    harness.server.inject(Fault("POST", "/v2/orders", status=403, body=no_bp))
    invalid = {"code": 40010001, "message": "us_equity orders not allowed for account"}
    harness.server.inject(Fault("POST", "/v2/orders", status=422, body=invalid))
    runs.append(pairs_daemon(toml, harness, "once"))
    assert runs[-1].returncode == 0, runs[-1].stdout + runs[-1].stderr
    assert '"order_rejected"' in runs[-1].stdout and "[REDACTED]" in runs[-1].stdout

    # 500s until the retries run out: the session fails; its message is printed and stored.
    nxt = index[k + 1]
    harness.book.advance_session(closes.loc[nxt].to_dict(), nxt)
    harness.server.inject(Fault("GET", "/v2/account", status=500, times=99))
    runs.append(pairs_daemon(toml, harness, "once"))
    assert runs[-1].returncode == 1
    assert "[REDACTED]" in plain_lines(runs[-1].stdout)[-1]
    runs.append(pairs_daemon(toml, harness, "status"))
    assert "last error" in runs[-1].stdout and "[REDACTED]" in runs[-1].stdout
    runs.append(pairs_daemon(toml, harness, "status", "--json"))
    # reconcile against a 403 that echoes the keys: an auth error on stderr, exit 2.
    harness.book.faults.clear()
    harness.server.inject(Fault("GET", "/v2/orders:by_client_order_id", status=403, times=99))
    harness.server.inject(Fault("GET", "/v2/positions", status=403, times=99))
    runs.append(pairs_daemon(toml, harness, "reconcile"))
    assert runs[-1].returncode == 2 and "[REDACTED]" in runs[-1].stderr
    # Bars refused with a 403 that echoes them.
    harness.book.faults.clear()
    harness.server.inject(Fault("GET", "/v2/stocks/bars", status=403, times=99))
    runs.append(pairs_daemon(toml, harness, "once", "--session", nxt.isoformat()))
    assert runs[-1].returncode == 1

    # The echo really happened (the server put the keys in its bodies) ...
    assert any("[REDACTED]" in r.stdout + r.stderr for r in runs)
    # ... and nothing carries them: every output, every file in the state directory.
    for run in runs:
        assert _leaks(run.stdout + run.stderr) == [], run.args
    for text in outputs:
        assert _leaks(text) == []
    files = [p for p in settings.state_dir.rglob("*") if p.is_file()]
    assert len(files) >= 2  # the store and its WAL/lock at least
    for path in files:
        assert _leaks(path.read_bytes()) == [], path
    store = Store.open(settings.state_dir, durable=False, read_only=True)
    try:
        messages = [r.message or "" for r in store.runs()]
        messages += [i.message or "" for i in store.intents()]
    finally:
        store.close()
    assert any("[REDACTED]" in m for m in messages)
    assert not any(_leaks(m) for m in messages)


def test_a_url_with_credentials_in_the_environment_is_refused_without_echoing_them(
    tmp_path: Path, harness: Harness
) -> None:
    toml = tmp_path / "daemon.toml"
    toml.write_text(
        f'config = "{tmp_path / "config.json"}"\nstate_dir = "{tmp_path / "state"}"\n\n'
        '[broker]\nkind = "alpaca"\n\n[data]\nfeed = "alpaca"\n',
        encoding="utf-8",
    )
    host = harness.server.url.removeprefix("http://")
    env = {**harness.env, "APCA_API_BASE_URL": f"http://{KEY}:{SECRET}@{host}"}
    done = pairs_daemon(toml, harness, "once", env=env)
    assert done.returncode == 2
    assert "carries credentials" in done.stderr and "Traceback" not in done.stderr
    assert _leaks(done.stdout + done.stderr) == []
