"""Journal priorities: each log line reaches journald (a fake one here, a datagram socket like
the notify tests use) with a priority, so ``journalctl -p warning`` lists exactly the alerts and
the failures."""

from __future__ import annotations

import io
import json
import socket
import struct
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from daemon.infra.journal import JournalWriter, encode_fields, stdout_is_journal
from daemon.infra.logging import make_logger
from daemon.monitoring.alerts import AlertCode, Severity, raise_alert


@pytest.fixture
def journald(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = tmp_path / "journal.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    yield str(path), sock
    sock.close()


def _entry(datagram: bytes) -> dict[str, str]:
    """Parse journald's native format (both the KEY=value and the length-prefixed form)."""
    fields: dict[str, str] = {}
    rest = datagram
    while rest:
        line, _, tail = rest.partition(b"\n")
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode()
            rest = tail
        else:
            (size,) = struct.unpack("<Q", tail[:8])
            fields[line.decode()] = tail[8 : 8 + size].decode()
            rest = tail[8 + size + 1 :]
    return fields


def _drain(sock: socket.socket, n: int) -> list[dict[str, str]]:
    return [_entry(sock.recv(65536)) for _ in range(n)]


def test_alerts_and_failures_are_the_only_entries_at_warning_or_above(
    journald: tuple[str, socket.socket],
) -> None:
    path, sock = journald
    log = make_logger("json", journal=JournalWriter(path), config_id="abc")
    log.info("session_summary", equity=100_000.0)
    log.warning("bars_rescaled", symbol="SPY", factor=1.01)
    log.warning("order_rejected", symbol="SPY")
    raise_alert(None, log, AlertCode.STALE_FEED, "no bar for SPY", session=date(2025, 3, 14))
    raise_alert(None, log, AlertCode.RECONCILE_MISMATCH, "positions differ")
    log.error("session_failed", error="boom")
    try:
        raise RuntimeError("bug")
    except RuntimeError:
        log.exception("session_failed", error="bug")
    log.debug("detail")
    entries = _drain(sock, 8)
    priorities = {e["PAIRS_EVENT"] + ":" + e.get("PAIRS_ALERT_CODE", ""): e for e in entries}
    assert [int(e["PRIORITY"]) for e in entries] == [6, 5, 5, 4, 2, 3, 3, 7]
    shown = [e for e in entries if int(e["PRIORITY"]) <= 4]  # journalctl -p warning
    events = [e["PAIRS_EVENT"] for e in shown]
    assert events == ["alert", "alert", "session_failed", "session_failed"]
    assert priorities["alert:stale_feed"]["SYSLOG_IDENTIFIER"] == "pairs-daemon"
    assert '"code": "reconcile_mismatch"' in priorities["alert:reconcile_mismatch"]["MESSAGE"]
    # MESSAGE stays the JSON line: `journalctl -o cat` prints what stdout would have.
    first = json.loads(entries[0]["MESSAGE"])
    assert first["event"] == "session_summary" and first["config_id"] == "abc"
    # The traceback travels inside the JSON line, never as bare multi-line text.
    assert "RuntimeError" in entries[6]["MESSAGE"]


def test_an_alert_severity_chooses_its_priority(journald: tuple[str, socket.socket]) -> None:
    path, sock = journald
    log = make_logger("json", journal=JournalWriter(path))
    raise_alert(None, log, AlertCode.TRACKING_DIFFERENCE, "far", severity=Severity.CRITICAL)
    raise_alert(None, log, AlertCode.TRACKING_DIFFERENCE, "near")
    assert [e["PRIORITY"] for e in _drain(sock, 2)] == ["2", "4"]


def test_a_value_with_a_newline_uses_the_length_prefixed_form() -> None:
    payload = encode_fields({"MESSAGE": "two\nlines", "PRIORITY": 3})
    assert payload == b"MESSAGE\n" + struct.pack("<Q", 9) + b"two\nlines\nPRIORITY=3\n"
    assert _entry(payload) == {"MESSAGE": "two\nlines", "PRIORITY": "3"}


def test_without_a_journal_socket_the_line_keeps_its_priority_as_a_prefix(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    writer = JournalWriter(str(tmp_path / "gone.sock"), fallback=out)
    log = make_logger("json", journal=writer)
    log.error("session_failed", error="boom")
    assert out.getvalue().startswith("<3>{")
    assert json.loads(out.getvalue()[3:])["event"] == "session_failed"
    assert isinstance(writer.last_error, OSError)


def test_journal_stream_counts_only_when_it_is_still_our_stdout(tmp_path: Path) -> None:
    target = tmp_path / "stdout"
    with target.open("w") as stream:
        st = target.stat()
        assert stdout_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, stream)
        assert not stdout_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, stream)
        assert not stdout_is_journal({}, stream)
        assert not stdout_is_journal({"JOURNAL_STREAM": "garbage"}, stream)


def test_plain_streams_get_plain_lines() -> None:
    out = io.StringIO()
    make_logger("json", out).warning("bars_rescaled", symbol="SPY")
    assert json.loads(out.getvalue())["event"] == "bars_rescaled"
