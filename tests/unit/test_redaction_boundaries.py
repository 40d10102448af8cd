"""Every place that writes text an error body can reach masks the keys itself, whatever its
caller did: the store (runs, intents, meta, alerts and every ``Store.sql`` statement), systemd's
``STATUS=`` line, and the report and check commands, which also read rows an older version
wrote unmasked."""

from __future__ import annotations

import io
import json
import socket
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from daemon.commands.cli import main
from daemon.core.statuses import IntentStatus, RunStatus
from daemon.infra.logging import make_logger
from daemon.infra.notify import SystemdNotifier
from daemon.infra.redaction import MASK, forget_secrets, register_secrets
from daemon.monitoring.alerts import AlertCode, raise_alert
from daemon.store import DB_NAME, Store
from daemon.store.records import IntentRecord
from tests.alpaca_server.echo import credential_forms
from tests.unit.daemon_helpers import (
    make_closes,
    make_config,
    run_sessions,
    settings_for,
    write_inputs,
)

KEY = "PKBOUNDS9A8S7D6F5G4H"
SECRET = "Bq4Wn8Ej2Tz6Ry0Uk3Io7Pa1Sd5Fg9Hj2Kl6Zx8"
LEAK = (
    f"echoed {KEY.lower()} / {SECRET[:-4]} / {credential_forms(KEY, SECRET)['Basic credentials']}"
)


@pytest.fixture(autouse=True)
def registry() -> Iterator[None]:
    forget_secrets()
    register_secrets([KEY, SECRET])
    yield
    forget_secrets()


def _leaks(data: bytes) -> bool:
    low = data.lower()
    return any(
        v.lower()[i : i + 12].encode() in low for v in (KEY, SECRET) for i in range(len(v) - 11)
    )


def test_the_store_masks_every_message_it_writes(tmp_path: Path) -> None:
    store = Store.open(tmp_path, durable=False)
    session = date(2024, 1, 2)
    intent = IntentRecord(
        "c1", session, 0, "a", "AAA", "buy", 1, 1.0, 0, IntentStatus.PENDING, LEAK
    )
    with store.transaction():
        store.start_run("r1", session, "cfg", "t0")
        store.finish_run("r1", RunStatus.FAILED, "t1", LEAK)
        store.add_intents([intent], "t0")
        store.set_intent_status("c1", IntentStatus.REJECTED, LEAK)
        store.set_meta("feed_stale", LEAK)
        store.sql("INSERT INTO meta (key, value) VALUES (?, ?)", ("other", LEAK))
        store.sql("INSERT INTO meta (key, value) VALUES (:k, :v)", {"k": "named", "v": LEAK})
    log = make_logger("json", io.StringIO())
    raise_alert(store, log, AlertCode.SESSION_FAILED, LEAK, session=session)
    stored = [store.runs()[0].message, store.intents()[0].message, store.get_meta("feed_stale")]
    stored += [store.get_meta("other"), store.get_meta("named")]
    stored += [m for (m,) in store.sql("SELECT message FROM alerts")]
    store.close()
    assert len(stored) == 6 and all(m is not None and MASK in m for m in stored)
    for path in tmp_path.iterdir():
        assert not _leaks(path.read_bytes()), path.name


def test_systemd_status_lines_are_masked(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2.0)
        assert SystemdNotifier(str(path)).status(f"failed: {LEAK}")
        datagram = sock.recv(4096)
    assert MASK.encode() in datagram and not _leaks(datagram)


def test_report_and_check_mask_rows_an_older_version_stored_unmasked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    closes = make_closes(40, seed=1)
    prices, config = write_inputs(tmp_path, closes, make_config(closes, window=10))
    settings = settings_for(tmp_path, prices, config)
    run_sessions(settings, list(closes.index[20:24]))
    # Rows as an older pairs-daemon, which masked exact values only, would have written them.
    conn = sqlite3.connect(settings.state_dir / DB_NAME)
    conn.execute(
        "INSERT INTO alerts (code, severity, session, message, raised_at) VALUES (?, ?, ?, ?, ?)",
        ("session_failed", "critical", "2024-01-02", LEAK, "2024-01-02T23:00:00+00:00"),
    )
    conn.commit()
    conn.close()
    common = ["--state-dir", str(settings.state_dir), "--config", str(config)]
    common += ["--prices", str(prices)]
    out = tmp_path / "report"
    assert main(["report", *common, "--out", str(out)]) == 0
    html = (out / "report.html").read_bytes()
    assert MASK.encode() in html and not _leaks(html)
    for path in out.iterdir():
        assert not _leaks(path.read_bytes())
    main(["check", *common])
    main(["status", *common])
    printed = capsys.readouterr()
    assert not _leaks((printed.out + printed.err).encode())


def test_a_low_variety_run_of_a_secret_masks_no_number_and_keeps_json_whole() -> None:
    """A placeholder secret such as the test server's ``test-secret-000…0`` holds a run of
    twelve zeros: as a fragment it would mask every long float in a log line. Such runs are no
    fragment (fewer than MIN_DISTINCT characters); the secret itself is still masked whole."""
    forget_secrets()
    register_secrets(["PKTEST0000000000KEY1", "test-secret-0000000000000000000000000000"])
    try:
        stream = io.StringIO()
        log = make_logger("json", stream)
        log.info("bars_revised", stored=99.00000000000001, fresh=1.0000000000000002)
        log.info("leak", body="auth test-secret-0000000000000000000000000000 failed")
        first, second = (json.loads(line) for line in stream.getvalue().splitlines())
        assert first["stored"] == 99.00000000000001 and first["fresh"] == 1.0000000000000002
        assert "0000000000000000000000000000" not in second["body"] and MASK in second["body"]
    finally:
        forget_secrets()
