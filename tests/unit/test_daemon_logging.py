"""Structured logs: JSON lines with bound context, secrets redacted, no locals in tracebacks."""

from __future__ import annotations

import io
import json

from daemon.infra.logging import REDACTED, make_logger


def _events(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_events_are_json_lines_with_the_bound_context() -> None:
    stream = io.StringIO()
    log = make_logger("json", stream, config_id="abc").bind(run_id="r1", session="2024-01-02")
    log.info("decision", pair="AAA/BBB")
    (event,) = _events(stream)
    assert event["event"] == "decision"
    assert event["run_id"] == "r1" and event["config_id"] == "abc"
    assert event["level"] == "info" and str(event["timestamp"]).endswith("Z")


def test_secret_looking_keys_and_values_are_redacted() -> None:
    stream = io.StringIO()
    log = make_logger("json", stream)
    log.error(
        "boom",
        api_key="AKXXXX",
        headers={"APCA-API-SECRET-KEY": "s3cr3t", "Accept": "json"},
        error="request failed: secret=s3cr3t token: abc123",
    )
    text = stream.getvalue()
    assert "AKXXXX" not in text and "s3cr3t" not in text and "abc123" not in text
    (event,) = _events(stream)
    assert event["api_key"] == REDACTED
    assert event["headers"] == {"APCA-API-SECRET-KEY": REDACTED, "Accept": "json"}


def test_tracebacks_carry_no_local_variables() -> None:
    stream = io.StringIO()
    log = make_logger("json", stream)
    secret_local = "do-not-log-me"
    try:
        raise RuntimeError("failed")
    except RuntimeError:
        log.exception("session_failed")
    assert secret_local not in stream.getvalue()
    (event,) = _events(stream)
    assert "RuntimeError: failed" in str(event["exception"])


def test_console_renderer_is_human_readable() -> None:
    stream = io.StringIO()
    make_logger("console", stream).info("session_summary", equity=1.5)
    assert "session_summary" in stream.getvalue() and "equity=1.5" in stream.getvalue()
    assert not stream.getvalue().lstrip().startswith("{")
