"""The service on the local Alpaca server: a fire at 17:00 ET decides the session and defers
it, the service schedules the next fire for the window's opening, and that fire completes it.
The due sessions come from the broker's clock and calendar, not the host's."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pandas as pd

from daemon.commands.service import Service
from daemon.config.settings import ScheduleSettings
from shared.config import ProdConfig
from tests.alpaca_server.harness import Harness
from tests.integration.test_alpaca_timing_daemon import at_first_order_session
from tests.integration.test_daemon_on_alpaca_server import (
    Replay,
)


def _events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


def _wait_for(check: Callable[[], bool], timeout: float = 40.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_the_service_defers_a_session_and_completes_it_when_the_window_opens(
    tmp_path: Path,
    market: tuple[pd.DataFrame, ProdConfig],
    harness: Harness,
    local_replay: Replay,
) -> None:
    _, settings, first = at_first_order_session(
        tmp_path, market, harness, local_replay, dtime(17, 0)
    )
    settings = settings.model_copy(
        update={"schedule": ScheduleSettings(run_at=dtime(16, 30), interval_s=3600)}
    )
    logs = io.StringIO()
    service = Service(settings, harness.env, stream=logs)
    runner = threading.Thread(target=service.run)
    runner.start()
    try:
        _wait_for(lambda: any(e["event"] == "session_retry_scheduled" for e in _events(logs)))
        deferred = [e for e in _events(logs) if e["event"] == "session_deferred"]
        assert [e["session"] for e in deferred] == [first.isoformat()]
        assert harness.book.count("POST", "/v2/orders") == 0
        harness.book.set_time(first, dtime(19, 5))
        _wait_for(lambda: any(e["event"] == "session_summary" for e in _events(logs)))
    finally:
        service.request_stop()
        runner.join(30)
    assert not runner.is_alive()
    names = [e["event"] for e in _events(logs)]
    assert names.count("order_submitted") == len(harness.book.orders) > 0
    assert "session_failed" not in names
